"""Type information that server-side apply needs, read from OpenAPI v3 (structural) schemas.

Mirrors how the API server turns a CRD schema into structured-merge-diff types: objects with
properties are structs, ``additionalProperties`` and ``x-kubernetes-preserve-unknown-fields``
allow undeclared keys, lists are atomic unless ``x-kubernetes-list-type`` says ``set`` or
``map`` (with ``x-kubernetes-list-map-keys``), and the top-level ``metadata`` is ObjectMeta.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

from .coretypes import OBJECT_META

SCALAR = "scalar"
MAP = "map"
LIST = "list"
DEDUCED = "deduced"

MISSING: Any = object()


@dataclass(eq=False)
class TypeNode:
    """One node of a structured-merge-diff schema."""

    kind: str
    # MAP: declared fields (a struct); element types the undeclared keys (None: not allowed).
    fields: dict[str, TypeNode] = field(default_factory=dict)
    element: TypeNode | None = None
    atomic: bool = False
    # LIST with ``atomic`` False: the key fields of a ``map`` list, or () for a ``set`` list.
    keys: tuple[str, ...] = ()
    # The schema default; used for key fields an item of a map list omits.
    default: Any = MISSING

    def field_type(self, name: str) -> TypeNode | None:
        """The type of key ``name`` in a map, or None when the schema does not declare it."""
        declared = self.fields.get(name)
        if declared is not None:
            return declared
        return self.element

    def key_default(self, name: str) -> Any:
        if self.element is None:
            return MISSING
        declared = self.element.fields.get(name)
        return MISSING if declared is None else declared.default


DEDUCED_TYPE = TypeNode(DEDUCED)
SCALAR_TYPE = TypeNode(SCALAR)


def build_type(schema: dict[str, Any] | None) -> TypeNode:
    """The structured-merge-diff type of an OpenAPI v3 schema node."""
    if not isinstance(schema, dict):
        return DEDUCED_TYPE
    default = copy.deepcopy(schema["default"]) if "default" in schema else MISSING
    if schema.get("x-kubernetes-int-or-string"):
        return TypeNode(SCALAR, default=default)
    kind = schema.get("type")
    properties = schema.get("properties")
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    if kind == "object" or properties or additional not in (None, False):
        fields = {name: build_type(sub) for name, sub in (properties or {}).items()}
        element: TypeNode | None = None
        if isinstance(additional, dict):
            element = build_type(additional)
        elif additional is True or preserve:
            element = DEDUCED_TYPE
        if schema.get("x-kubernetes-embedded-resource"):
            fields.setdefault("apiVersion", SCALAR_TYPE)
            fields.setdefault("kind", SCALAR_TYPE)
            fields["metadata"] = object_meta_type()
        return TypeNode(
            MAP,
            fields=fields,
            element=element,
            atomic=schema.get("x-kubernetes-map-type") == "atomic",
            default=default,
        )
    if kind == "array":
        item = build_type(schema.get("items"))
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "map":
            keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
            return TypeNode(LIST, element=item, keys=keys, default=default)
        if list_type == "set":
            return TypeNode(LIST, element=item, default=default)
        return TypeNode(LIST, element=item, atomic=True, default=default)
    if kind in ("string", "integer", "number", "boolean"):
        return TypeNode(SCALAR, default=default)
    return TypeNode(DEDUCED, default=default)


@functools.cache
def object_meta_type() -> TypeNode:
    return build_type(OBJECT_META)


def build_object_type(schema: dict[str, Any] | None) -> TypeNode:
    """The type of a whole object: the schema's fields plus apiVersion, kind and ObjectMeta."""
    root = build_type(schema or {"type": "object"})
    if root.kind != MAP:
        root = TypeNode(MAP, element=DEDUCED_TYPE)
    root.fields = dict(root.fields)
    root.fields["apiVersion"] = SCALAR_TYPE
    root.fields["kind"] = SCALAR_TYPE
    root.fields["metadata"] = object_meta_type()
    return root
