"""Pruning, null handling and defaulting: the API server's decode-time stages over a
compiled schema (apiextensions-apiserver pkg/apiserver/schema/pruning and defaulting)."""

from __future__ import annotations

from typing import Any

from ..jsonvalue import copy_json
from . import fielderrors
from .fielderrors import FieldError
from .nodes import Path, SchemaNode, child, index, key, render_path
from .openapivalidation import type_error


class Normalizer:
    """The server's decode-time stages in one copying pass: drop fields the schema does not
    know (reported when strict), drop nulls of non-nullable fields, apply defaults."""

    def __init__(self, *, prune: bool, defaults: bool, strict: bool) -> None:
        self.prune = prune
        self.defaults = defaults
        self.strict = strict
        self.errors: list[FieldError] = []
        self.result: Any = None

    def run(self, node: SchemaNode | None, value: Any, path: Path) -> Any:
        if node is None:
            return copy_json(value)
        kind = type(value)
        if kind is dict:
            return self._object(node, value, path)
        if kind is list or kind is tuple:
            items = node.items
            if items is None:
                return copy_json(value)
            return [self.run(items, item, index(path, i)) for i, item in enumerate(value)]
        return value

    def _object(self, node: SchemaNode, value: dict, path: Path) -> dict:
        properties = node.properties
        additional = node.additional
        if properties is None and additional is None:
            # Free-form (preserve-unknown-fields or untyped) or a scalar slot holding an
            # object: nothing below to prune or default.
            if node.preserve_unknown or node.type is None or node.additional_allowed:
                return copy_json(value)
            if node.type == "object" and self.prune:
                for name in value:
                    self._unknown(child(path, name))
                return {}
            return copy_json(value)
        out: dict[str, Any] = {}
        for name, item in value.items():
            sub = properties.get(name) if properties is not None else None
            if sub is not None:
                item_path = child(path, name)
            elif additional is not None:
                sub = additional
                item_path = key(path, name)
            elif node.preserve_unknown or node.additional_allowed or not self.prune:
                out[name] = copy_json(item)
                continue
            else:
                self._unknown(child(path, name))
                continue
            if item is None and not sub.nullable and self.defaults:
                if sub.has_default:
                    out[name] = self.run(sub, copy_json(sub.default), item_path)
                elif self.strict and not _under_metadata(item_path):
                    # ObjectMeta nulls ("creationTimestamp: null" from kubectl) are normal.
                    self.errors.append(type_error(sub, None, item_path))
                continue
            out[name] = self.run(sub, item, item_path)
        if self.defaults:
            for name, sub in node.defaulted:
                if name not in out:
                    out[name] = self.run(sub, copy_json(sub.default), child(path, name))
        return out

    def _unknown(self, path: Path) -> None:
        if self.strict:
            self.errors.append(fielderrors.unknown_field(render_path(path)))


def _under_metadata(path: Path) -> bool:
    top = None
    while path is not None:
        path, _, top = path
    return top == "metadata"
