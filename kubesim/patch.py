"""The three non-apply patch types: JSON merge patch, JSON patch and strategic merge patch.

Strategic merge patch is served for built-in kinds only (the API server answers 415 for
custom resources); its merge keys and strategies come from the built-in kinds' schemas.
"""

from __future__ import annotations

from typing import Any

from .coretypes import OBJECT_META
from .jsonvalue import copy_json, json_equal

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"


class PatchError(ValueError):
    """The patch cannot be applied; ``status`` is the HTTP status the API server uses."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


# JSON merge patch (RFC 7386) -----------------------------------------------------------------
def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy_json(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# JSON patch (RFC 6902) -----------------------------------------------------------------------
def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer {path!r}", 400)
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc: Any, parts: list[str], path: str) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"doc is missing path: \"{path}\": missing value")
    return node, parts[-1]


def _list_index(node: list[Any], key: str, path: str, *, insert: bool) -> int:
    if key == "-" and insert:
        return len(node)
    if not key.isdigit() and not (key.startswith("-") and key[1:].isdigit()):
        raise PatchError(f"Unable to access invalid index: {key}: invalid index referenced")
    index = int(key)
    limit = len(node) + (1 if insert else 0)
    if index < 0 or index >= limit:
        raise PatchError(
            f"Unable to access invalid index: {index}: invalid index referenced"
        )
    return index


def _get(doc: Any, path: str) -> Any:
    node = doc
    for part in _pointer(path):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"doc is missing path: \"{path}\": missing value")
    return node


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy_json(value)
    node, key = _container(doc, parts, path)
    if isinstance(node, dict):
        node[key] = copy_json(value)
    elif isinstance(node, list):
        node.insert(_list_index(node, key, path, insert=True), copy_json(value))
    else:
        raise PatchError(f"doc is missing path: \"{path}\": missing value")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    node, key = _container(doc, parts, path)
    if isinstance(node, dict):
        if key not in node:
            raise PatchError(f"Unable to remove nonexistent key: {key}: missing value")
        del node[key]
    elif isinstance(node, list):
        del node[_list_index(node, key, path, insert=False)]
    else:
        raise PatchError(f"doc is missing path: \"{path}\": missing value")
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400
        )
    doc = copy_json(doc)
    for operation in operations:
        if not isinstance(operation, dict):
            raise PatchError("invalid JSON patch operation", 400)
        op, path = operation.get("op"), operation.get("path")
        if op == "add":
            doc = _add(doc, path, operation.get("value"))
        elif op == "remove":
            doc = _remove(doc, path)
        elif op == "replace":
            _get(doc, path)
            doc = _remove(doc, path) if _pointer(path) else doc
            doc = _add(doc, path, operation.get("value"))
        elif op == "move":
            value = copy_json(_get(doc, operation.get("from")))
            doc = _remove(doc, operation.get("from"))
            doc = _add(doc, path, value)
        elif op == "copy":
            doc = _add(doc, path, copy_json(_get(doc, operation.get("from"))))
        elif op == "test":
            if not json_equal(_get(doc, path), operation.get("value")):
                raise PatchError(f"testing value {path} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {op}")
    return doc


# strategic merge patch -----------------------------------------------------------------------
_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_SET_ORDER = "$setElementOrder/"

Schema = dict[str, Any]


def strategic_merge_patch(original: Any, patch: Any, schema: Schema) -> Any:
    """Apply a strategic merge patch to a built-in object whose OpenAPI ``schema`` carries
    ``x-kubernetes-patch-strategy``/``x-kubernetes-patch-merge-key`` where the Go type has
    ``patchStrategy``/``patchMergeKey`` tags."""
    if not isinstance(patch, dict):
        raise PatchError("unable to find api field in struct Unstructured for the json field",
                         400)
    root = {**schema, "properties": {**(schema.get("properties") or {}),
                                     "metadata": OBJECT_META}}
    merged = _smp_map(copy_json(original) if isinstance(original, dict) else {}, patch,
                      root)
    return {} if merged is None else merged


def _child(schema: Schema, key: str) -> Schema:
    properties = schema.get("properties") or {}
    if key in properties:
        return properties[key]
    additional = schema.get("additionalProperties")
    return additional if isinstance(additional, dict) else {}


def _strategy(schema: Schema) -> tuple[str, str]:
    return (schema.get("x-kubernetes-patch-strategy", ""),
            schema.get("x-kubernetes-patch-merge-key", ""))


def _smp_map(original: dict[str, Any], patch: dict[str, Any],
             schema: Schema) -> dict[str, Any] | None:
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: v for k, v in copy_json(patch).items() if k != _DIRECTIVE}
    if directive not in (None, "merge"):
        raise PatchError(f"Unknown patch type: {directive} in map: {patch}", 400)
    result = original
    retain = patch.get(_RETAIN_KEYS)
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN_KEYS):
            continue
        if key.startswith(_SET_ORDER):
            orders[key[len(_SET_ORDER):]] = value or []
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            name = key[len(_DELETE_PRIMITIVE):]
            drop = value or []
            if isinstance(result.get(name), list):
                result[name] = [v for v in result[name] if v not in drop]
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        child = _child(schema, key)
        if isinstance(value, dict):
            merged = _smp_map(current if isinstance(current, dict) else {}, value, child)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(current if isinstance(current, list) else [], value, child)
        else:
            result[key] = copy_json(value)
    for name, order in orders.items():
        if isinstance(result.get(name), list):
            result[name] = _ordered(result[name], order, _strategy(_child(schema, name))[1])
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(original: list[Any], patch: list[Any], schema: Schema) -> list[Any]:
    strategy, key = _strategy(schema)
    if any(isinstance(i, dict) and i.get(_DIRECTIVE) == "replace" for i in patch):
        return [i for i in copy_json(patch)
                if not (isinstance(i, dict) and _DIRECTIVE in i)]
    if "merge" not in strategy:
        return copy_json(patch)
    if not key:
        result = list(original)
        for item in patch:
            if item not in result:
                result.append(copy_json(item))
        return result
    items = schema.get("items") or {}
    result = [copy_json(i) for i in original]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}", 400)
        index = next((n for n, o in enumerate(result)
                      if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get(_DIRECTIVE) == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append({k: v for k, v in copy_json(item).items() if k != _DIRECTIVE})
        else:
            merged = _smp_map(result[index], item, items)
            result[index] = merged if merged is not None else result[index]
    return result


def _ordered(items: list[Any], order: list[Any], key: str) -> list[Any]:
    def identity(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [o.get(key) if key and isinstance(o, dict) else o for o in order]
    ranked = [i for w in wanted for i in items if identity(i) == w]
    return ranked + [i for i in items if identity(i) not in wanted]
