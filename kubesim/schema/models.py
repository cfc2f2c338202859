"""Schemas of Kubernetes' own kinds, derived from the `kubernetes` client's model classes
(`openapi_types` and `attribute_map`), and `CoreKind`, one built-in kind's discovery facts,
schema and semantic hooks."""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes.client

from .. import names
from .fielderrors import FieldError

_SCALARS = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytes": {"type": "string", "format": "byte"},
}


def _model_class(name: str) -> type:
    return getattr(kubernetes.client, name)


def _annotation_types(annotation: Any) -> set[type]:
    """The plain types inside a pydantic annotation (Optional, Union, Annotated unwrapped)."""
    args = typing.get_args(annotation)
    if not args:
        return {annotation} if isinstance(annotation, type) else set()
    found: set[type] = set()
    origin = typing.get_origin(annotation)
    for arg in args[:1] if origin is typing.Annotated else args:
        found |= _annotation_types(arg)
    return found


def _is_required(model: type, attribute: str) -> bool:
    fields = getattr(model, "model_fields", None)
    if fields is not None:
        # Pydantic models (some pod-level kinds) name fields in Python or by their alias.
        wire_name = model.attribute_map.get(attribute, attribute)
        for name, field in fields.items():
            if name == attribute or field.alias == wire_name:
                return field.is_required()
        return False
    # Classic generated models: with client-side validation on, a required field's setter
    # rejects None.
    instance = model.__new__(model)
    instance.local_vars_configuration = kubernetes.client.Configuration()
    try:
        setattr(instance, attribute, None)
    except ValueError:
        return True
    return False


def _is_int_or_string(model: type, attribute: str) -> bool:
    fields = getattr(model, "model_fields", None)
    if fields is None or attribute not in fields:
        return False
    return {int, str} <= _annotation_types(fields[attribute].annotation)


def _type_schema(type_text: str, model: type, attribute: str, building: frozenset[str]) -> dict:
    text = type_text.strip()
    if text in _SCALARS:
        return dict(_SCALARS[text])
    if text == "object":
        if _is_int_or_string(model, attribute):
            return {"x-kubernetes-int-or-string": True}
        return {"x-kubernetes-preserve-unknown-fields": True}
    for prefix in ("List[", "list["):
        if text.startswith(prefix) and text.endswith("]"):
            inner = text[len(prefix) : -1]
            return {"type": "array", "items": _type_schema(inner, model, attribute, building)}
    for prefix in ("Dict[str, ", "dict(str, "):
        if text.startswith(prefix):
            inner = text[len(prefix) : -1]
            return {
                "type": "object",
                "additionalProperties": _type_schema(inner, model, attribute, building),
            }
    return model_schema(_model_class(text), building)


def model_schema(model: type, building: frozenset[str] = frozenset()) -> dict:
    """An OpenAPI v3 schema for a `kubernetes.client` model, from `openapi_types` and
    `attribute_map`, recursively; required fields are the ones the model requires."""
    if model.__name__ in building:
        # A recursive model: stop at the cycle and accept anything there.
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    inside = building | {model.__name__}
    properties = {}
    required = []
    for attribute, type_text in model.openapi_types.items():
        name = model.attribute_map[attribute]
        properties[name] = _type_schema(type_text, model, attribute, inside)
        if _is_required(model, attribute):
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


@functools.cache
def object_meta_schema() -> dict:
    return model_schema(kubernetes.client.V1ObjectMeta)


def patch_schema(schema: dict, path: str, **keywords: Any) -> None:
    """Add keywords at a dotted path of a generated schema ("spec.ports[].protocol")."""
    node = schema
    for part in path.split("."):
        if part.endswith("[]"):
            node = node["properties"][part[:-2]]["items"]
        else:
            node = node["properties"][part]
    node.update(keywords)


@dataclass(frozen=True)
class CoreKind:
    """One built-in kind: discovery facts, its schema, and the server's semantic hooks."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    subresources: dict
    printer_columns: tuple[dict, ...]
    model: str
    name_check: names.NameCheck
    enums_and_defaults: tuple[tuple[str, dict], ...] = ()
    check: Callable[[dict, dict | None], list[FieldError]] | None = None
    default: Callable[[dict], None] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def schema(self) -> dict:
        schema = model_schema(_model_class(self.model))
        status = schema["properties"].get("status")
        if isinstance(status, dict):
            # The model marks every field without `omitempty` required, but the server's
            # validation requires nothing of a status a controller or kubelet reports.
            _drop_required(status)
        for path, keywords in self.enums_and_defaults:
            patch_schema(schema, path, **keywords)
        return schema


def _drop_required(schema: dict) -> None:
    schema.pop("required", None)
    for child in (schema.get("properties") or {}).values():
        if isinstance(child, dict):
            _drop_required(child)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _drop_required(schema[key])
