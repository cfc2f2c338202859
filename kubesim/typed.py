"""Typed values as structured-merge-diff walks them: field sets, merge, compare and removal.

These follow sigs.k8s.io/structured-merge-diff/v4 ``typed`` closely (including its list item
ordering and its treatment of empty maps and lists as leaves), because managedFields and
conflicts must come out the way a real API server computes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .fieldpath import FieldSet, Path, PathElement, key_element, path_string, value_element
from .jsonvalue import json_equal
from .mergeschema import DEDUCED, DEDUCED_TYPE, LIST, MAP, MISSING, TypeNode

_LEAF = "leaf"
_DEDUCED_MAP = TypeNode(MAP, element=DEDUCED_TYPE)
_DEDUCED_LIST = TypeNode(LIST, element=DEDUCED_TYPE, atomic=True)


class TypedValueError(Exception):
    """The value does not fit its schema the way structured-merge-diff requires."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        if len(errors) == 1:
            text = errors[0]
        else:
            text = "errors:\n" + "\n".join("  " + e for e in errors)
        super().__init__(text)


def _shape(node: TypeNode, value: Any) -> tuple[str, TypeNode]:
    """Which walk applies to ``value``: a map, a list or a leaf, and the type to walk with."""
    if node.kind == DEDUCED:
        if isinstance(value, dict):
            return MAP, _DEDUCED_MAP
        if isinstance(value, list):
            return LIST, _DEDUCED_LIST
        return _LEAF, node
    if node.kind == MAP and (value is None or value is MISSING or isinstance(value, dict)):
        return MAP, node
    if node.kind == LIST and (value is None or value is MISSING or isinstance(value, list)):
        return LIST, node
    return _LEAF, node


def item_element(node: TypeNode, item: Any, *, strict: bool = False) -> PathElement:
    """The path element of one item of a granular (``set`` or ``map``) list."""
    if not node.keys:
        if strict and isinstance(item, dict | list):
            raise ValueError("sets may only contain primitive values")
        return value_element(item)
    if not isinstance(item, dict):
        if item is None:
            raise ValueError("associative list with keys may not have a null element")
        raise ValueError("associative list with keys may not have non-map elements")
    key: dict[str, Any] = {}
    for name in node.keys:
        if name in item:
            key[name] = item[name]
            continue
        default = node.key_default(name)
        if default is not MISSING:
            key[name] = default
        elif strict:
            raise ValueError(
                f"associative list with keys has an element that omits key field {name!r} "
                "(and doesn't have default value)".replace("'", '"')
            )
    return key_element(key)


def _index_items(node: TypeNode, items: list[Any]) -> tuple[list[PathElement], dict]:
    order: list[PathElement] = []
    observed: dict[PathElement, Any] = {}
    for item in items:
        try:
            pe = item_element(node, item)
        except ValueError:
            continue
        if pe in observed:
            continue
        observed[pe] = item
        order.append(pe)
    return order, observed


# field sets ------------------------------------------------------------------------------
def to_field_set(value: Any, node: TypeNode) -> FieldSet:
    """The fields a value sets (``TypedValue.ToFieldSet``): what an applier comes to own."""
    result = FieldSet()
    _collect(value, node, (), result)
    return result


def _collect(value: Any, node: TypeNode, path: Path, out: FieldSet) -> None:
    shape, node = _shape(node, value)
    if shape == _LEAF:
        out.insert(path)
    elif shape == LIST:
        if node.atomic:
            out.insert(path)
            return
        for item in value or ():
            try:
                pe = item_element(node, item)
            except ValueError:
                continue
            _collect(item, node.element or DEDUCED_TYPE, (*path, pe), out)
            out.insert((*path, pe))
    else:
        if node.atomic:
            out.insert(path)
            return
        for key, sub in (value or {}).items():
            child_type = node.field_type(key) or DEDUCED_TYPE
            _collect(sub, child_type, (*path, ("f", key)), out)
            if key not in node.fields:
                out.insert((*path, ("f", key)))


# merge and compare -----------------------------------------------------------------------
LeafRule = Callable[[Path, Any, Any], Any]
NodeHook = Callable[[Path, Any, Any], None]


def _walk(lhs: Any, rhs: Any, node: TypeNode, path: Path, leaf: LeafRule, hook: NodeHook) -> Any:
    """Walk two values together (structured-merge-diff's mergingWalker)."""
    lshape = _shape(node, lhs)[0] if lhs is not MISSING else None
    rshape, resolved = _shape(node, rhs) if rhs is not MISSING else _shape(node, lhs)
    if lshape is not None and lshape != rshape:
        return leaf(path, lhs, rhs)
    if rshape == _LEAF:
        return leaf(path, lhs, rhs)
    if rshape == LIST:
        left = lhs if isinstance(lhs, list) else []
        right = rhs if isinstance(rhs, list) else []
        if resolved.atomic or (not left and not right):
            return leaf(path, lhs, rhs)
        merged = _walk_list(left, right, resolved, path, leaf, hook)
        result: Any = merged if merged else MISSING
    else:
        left = lhs if isinstance(lhs, dict) else {}
        right = rhs if isinstance(rhs, dict) else {}
        if resolved.atomic or (not left and not right):
            return leaf(path, lhs, rhs)
        out: dict[str, Any] = {}
        for key in [*left, *(k for k in right if k not in left)]:
            child_type = resolved.field_type(key) or DEDUCED_TYPE
            sub = _walk(
                left.get(key, MISSING), right.get(key, MISSING), child_type,
                (*path, ("f", key)), leaf, hook,
            )
            if sub is not MISSING:
                out[key] = sub
        result = out if out else MISSING
    hook(path, lhs, rhs)
    return result


def _walk_list(
    lhs: list[Any], rhs: list[Any], node: TypeNode, path: Path, leaf: LeafRule, hook: NodeHook
) -> list[Any]:
    """Merge granular lists keeping structured-merge-diff's order: live order, with the
    applied items placed where the applied list puts them relative to shared items."""
    element = node.element or DEDUCED_TYPE
    rorder, robserved = _index_items(node, rhs)
    lorder, lobserved = _index_items(node, lhs)
    shared = [pe for pe in rorder if pe in lobserved]
    shared_index = 0
    next_shared = shared[0] if shared else None
    out: list[Any] = []

    def item(pe: PathElement, left: Any, right: Any) -> None:
        merged = _walk(left, right, element, (*path, pe), leaf, hook)
        if merged is not MISSING:
            out.append(merged)

    def advance() -> PathElement | None:
        nonlocal shared_index
        shared_index += 1
        return shared[shared_index] if shared_index < len(shared) else None

    li = ri = 0
    while li < len(lorder) or ri < len(rorder):
        if li < len(lorder) and ri < len(rorder):
            pe = lorder[li]
            if pe == rorder[ri]:
                item(pe, lobserved[pe], robserved[pe])
                li += 1
                ri += 1
                next_shared = advance()
                continue
            if pe in robserved and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lorder):
            pe = lorder[li]
            if pe not in robserved:
                item(pe, lobserved[pe], MISSING)
                li += 1
                continue
        if ri < len(rorder):
            pe = rorder[ri]
            item(pe, lobserved.get(pe, MISSING), robserved[pe])
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = advance()
    return out


def merge(live: Any, config: Any, node: TypeNode) -> Any:
    """``live.Merge(config)``: the applied configuration wins on every field it sets."""

    def keep_rhs(_path: Path, lhs: Any, rhs: Any) -> Any:
        return rhs if rhs is not MISSING else lhs

    result = _walk(live, config, node, (), keep_rhs, lambda *_: None)
    return {} if result is MISSING else result


@dataclass
class Comparison:
    """Fields added, modified and removed between two versions of an object."""

    added: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)

    def exclude(self, fields: FieldSet) -> Comparison:
        return Comparison(
            self.added.recursive_difference(fields),
            self.modified.recursive_difference(fields),
            self.removed.recursive_difference(fields),
        )

    def changed(self) -> FieldSet:
        return self.modified.union(self.added)


def compare(old: Any, new: Any, node: TypeNode) -> Comparison:
    result = Comparison()

    def on_leaf(path: Path, lhs: Any, rhs: Any) -> Any:
        if lhs is MISSING:
            result.added.insert(path)
        elif rhs is MISSING:
            result.removed.insert(path)
        elif not json_equal(lhs, rhs):
            result.modified.insert(path)
        return rhs if rhs is not MISSING else lhs

    def on_node(path: Path, lhs: Any, rhs: Any) -> None:
        if lhs is MISSING:
            result.added.insert(path)
        elif rhs is MISSING:
            result.removed.insert(path)

    _walk(old, new, node, (), on_leaf, on_node)
    return result


# removal ---------------------------------------------------------------------------------
def remove_items(value: Any, remove: FieldSet, node: TypeNode) -> Any:
    """``TypedValue.RemoveItems``: drop the fields in ``remove``; emptied containers go null."""
    shape, node = _shape(node, value)
    if shape == _LEAF:
        return value
    if not value:
        return None
    if node.atomic:
        return None
    if shape == LIST:
        items = []
        for item in value:
            try:
                pe = item_element(node, item)
            except ValueError:
                items.append(item)
                continue
            if remove.has((pe,)):
                continue
            below = remove.with_prefix(pe)
            if not below.empty():
                item = remove_items(item, below, node.element or DEDUCED_TYPE)
            items.append(item)
        return items or None
    out: dict[str, Any] = {}
    for key, sub in value.items():
        pe = ("f", key)
        if remove.has((pe,)):
            continue
        below = remove.with_prefix(pe)
        if not below.empty():
            sub = remove_items(sub, below, node.field_type(key) or DEDUCED_TYPE)
        out[key] = sub
    return out or None


def ensure_named_fields_are_members(fields: FieldSet, node: TypeNode) -> FieldSet:
    """Also own the declared struct fields that have owned fields below them."""
    result = FieldSet()
    result.members = set(fields.members)
    for pe, child in fields.children.items():
        child_type: TypeNode = DEDUCED_TYPE
        if pe[0] == "f" and node.kind == MAP:
            if pe[1] in node.fields:
                result.members.add(pe)
            child_type = node.field_type(pe[1]) or DEDUCED_TYPE
        elif pe[0] == "k" and node.kind == LIST:
            child_type = node.element or DEDUCED_TYPE
        result.children[pe] = ensure_named_fields_are_members(child, child_type)
    return result


# validation of applied configurations ----------------------------------------------------
def check_applied(value: Any, node: TypeNode) -> None:
    """Raise what the API server's typed conversion rejects in an applied configuration:
    undeclared fields and malformed or duplicate items of granular lists."""
    errors: list[str] = []
    _check(value, node, (), errors)
    if errors:
        raise TypedValueError(errors)


def _check(value: Any, node: TypeNode, path: Path, errors: list[str]) -> None:
    shape, node = _shape(node, value)
    if shape == _LEAF or value is None or value is MISSING:
        return
    if shape == LIST:
        element = node.element or DEDUCED_TYPE
        seen: set[PathElement] = set()
        for index, item in enumerate(value):
            if node.atomic:
                pe: PathElement = ("i", index)
            else:
                try:
                    pe = item_element(node, item, strict=True)
                except ValueError as exc:
                    errors.append(f"{path_string(path)}: element {index}: {exc}")
                    return
                if pe in seen:
                    errors.append(
                        f"{path_string(path)}: duplicate entries for key {path_string((pe,))}"
                    )
                seen.add(pe)
            _check(item, element, (*path, pe), errors)
        return
    for key, sub in value.items():
        child_type = node.field_type(key)
        if child_type is None:
            errors.append(f"{path_string((*path, ('f', key)))}: field not declared in schema")
            continue
        _check(sub, child_type, (*path, ("f", key)), errors)
