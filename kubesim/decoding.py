"""Request bodies as the API server decodes them: JSON or YAML, with duplicate fields found.

YAML follows sigs.k8s.io/yaml: YAML 1.1 scalars, but timestamps stay strings and keys become
strings, since the server converts YAML to JSON before decoding.
"""

from __future__ import annotations

import json
from typing import Any

import yaml


class DecodeError(ValueError):
    """The body is not valid JSON or YAML."""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse_json(body: bytes) -> tuple[Any, list[str]]:
    """The decoded body and the duplicate fields in it, as ``duplicate field "a.b"``."""
    duplicates: dict[int, list[str]] = {}

    def collect(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        repeated = []
        for key, value in pairs:
            if key in result:
                repeated.append(key)
            result[key] = value
        if repeated:
            duplicates[id(result)] = repeated
        return result

    try:
        value = json.loads(body or b"null", object_pairs_hook=collect)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(str(exc)) from exc
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key in duplicates.get(id(node), ()):
                found.append(f'duplicate field "{_join(path, key)}"')
            for key, child in node.items():
                walk(child, _join(path, key))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{path}[{index}]")

    if duplicates:
        walk(value, "")
    return value, found


class _Loader(yaml.SafeLoader):
    """YAML 1.1 without timestamp conversion, recording repeated keys."""

    duplicates: list[str]


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        key = key if isinstance(key, str) else json.dumps(key) if key is not None else "null"
        if key in result:
            loader.duplicates.append(
                f'line {key_node.start_mark.line + 1}: key "{key}" already set in map'
            )
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(body: bytes) -> tuple[Any, list[str]]:
    """The decoded body and its repeated keys, as ``line N: key "k" already set in map``."""
    text = body.decode("utf-8", errors="replace")
    loader = _Loader(text)
    loader.duplicates = []
    try:
        value = loader.get_single_data()
    except yaml.YAMLError as exc:
        # JSON is YAML, except for what PyYAML rejects (tabs as separators, for one).
        if text.lstrip().startswith(("{", "[")):
            return parse_json(body)
        raise DecodeError(str(exc)) from exc
    finally:
        loader.dispose()
    return value, loader.duplicates


def parse_apply_body(body: bytes) -> tuple[Any, list[str]]:
    """An apply patch (``application/apply-patch+yaml``): YAML, which clients mostly send as
    JSON. JSON is parsed as JSON, many times faster than the YAML loader and with the same
    result; only a body that is not JSON, or that repeats a key (whose YAML-style message
    the server reports), goes through YAML."""
    if body.lstrip()[:1] == b"{":
        try:
            value, duplicates = parse_json(body)
        except DecodeError:
            pass
        else:
            if not duplicates:
                return value, []
    return parse_yaml(body)
