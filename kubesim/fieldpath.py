"""Field paths and field sets as structured-merge-diff defines them, with the FieldsV1 encoding.

A set is a tree: each node has *members* (path elements owned as a whole) and *children*
(path elements with owned fields below them). Path elements are plain tuples so that they hash
and sort cheaply: ``("f", name)`` for a field, ``("k", json)`` for an item of an associative
list (the JSON object of its key fields, keys sorted), ``("v", json)`` for an item of a set list
and ``("i", index)`` for a positional item.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

PathElement = tuple[str, Any]
Path = tuple[PathElement, ...]

_ORDER = {"f": 0, "k": 1, "v": 2, "i": 3}


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the form key and value path elements use."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def field(name: str) -> PathElement:
    return ("f", name)


def key_element(fields: dict[str, Any]) -> PathElement:
    return ("k", canonical_json(dict(sorted(fields.items()))))


def value_element(value: Any) -> PathElement:
    return ("v", canonical_json(value))


def _sort_key(pe: PathElement) -> tuple[int, Any]:
    return (_ORDER[pe[0]], pe[1])


def _go_value_string(value: Any) -> str:
    """How structured-merge-diff prints a value inside a path (value.ToString)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return str(value)
    return canonical_json(value)


def element_string(pe: PathElement) -> str:
    """One element as the API server prints it in conflict messages: ``.name``, ``[k="v"]``."""
    kind, payload = pe
    if kind == "f":
        return "." + payload
    if kind == "k":
        fields = json.loads(payload)
        return "[" + ",".join(f"{k}={_go_value_string(v)}" for k, v in fields.items()) + "]"
    if kind == "v":
        return f"[={_go_value_string(json.loads(payload))}]"
    return f"[{payload}]"


def path_string(path: Path) -> str:
    return "".join(element_string(pe) for pe in path)


class FieldSet:
    """A set of field paths (structured-merge-diff ``fieldpath.Set``)."""

    __slots__ = ("members", "children")

    def __init__(self) -> None:
        self.members: set[PathElement] = set()
        self.children: dict[PathElement, FieldSet] = {}

    # construction -----------------------------------------------------------------------
    @classmethod
    def of(cls, *paths: Path) -> FieldSet:
        result = cls()
        for path in paths:
            result.insert(path)
        return result

    def insert(self, path: Path) -> None:
        if not path:
            return
        node = self
        for pe in path[:-1]:
            node = node.children.setdefault(pe, FieldSet())
        node.members.add(path[-1])

    def copy(self) -> FieldSet:
        result = FieldSet()
        result.members = set(self.members)
        result.children = {pe: child.copy() for pe, child in self.children.items()}
        return result

    # queries ----------------------------------------------------------------------------
    def empty(self) -> bool:
        if self.members:
            return False
        return all(child.empty() for child in self.children.values())

    def has(self, path: Path) -> bool:
        if not path:
            return False
        node = self
        for pe in path[:-1]:
            child = node.children.get(pe)
            if child is None:
                return False
            node = child
        return path[-1] in node.members

    def with_prefix(self, pe: PathElement) -> FieldSet:
        return self.children.get(pe) or FieldSet()

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Every member path, parents before children, in the server's sort order."""
        for pe in sorted(self.members | set(self.children), key=_sort_key):
            if pe in self.members:
                yield (*prefix, pe)
            child = self.children.get(pe)
            if child is not None:
                yield from child.paths((*prefix, pe))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return self.to_fields_v1() == other.to_fields_v1()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FieldSet({[path_string(p) for p in self.paths()]})"

    # algebra ----------------------------------------------------------------------------
    def union(self, other: FieldSet) -> FieldSet:
        result = FieldSet()
        result.members = self.members | other.members
        for pe in set(self.children) | set(other.children):
            mine, theirs = self.children.get(pe), other.children.get(pe)
            if mine is not None and theirs is not None:
                result.children[pe] = mine.union(theirs)
            else:
                result.children[pe] = (mine or theirs).copy()  # type: ignore[union-attr]
        return result

    def intersection(self, other: FieldSet) -> FieldSet:
        result = FieldSet()
        result.members = self.members & other.members
        for pe, mine in self.children.items():
            theirs = other.children.get(pe)
            if theirs is not None:
                both = mine.intersection(theirs)
                if not both.empty():
                    result.children[pe] = both
        return result

    def difference(self, other: FieldSet) -> FieldSet:
        """Remove other's members from self; a removed member keeps its children."""
        result = FieldSet()
        result.members = self.members - other.members
        for pe, mine in self.children.items():
            theirs = other.children.get(pe)
            rest = mine.difference(theirs) if theirs is not None else mine.copy()
            if not rest.empty():
                result.children[pe] = rest
        return result

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Remove other's members and everything below them."""
        result = FieldSet()
        result.members = self.members - other.members
        for pe, mine in self.children.items():
            if pe in other.members:
                continue
            theirs = other.children.get(pe)
            rest = mine.recursive_difference(theirs) if theirs is not None else mine.copy()
            if not rest.empty():
                result.children[pe] = rest
        return result

    # FieldsV1 ---------------------------------------------------------------------------
    def to_fields_v1(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for pe in sorted(self.members | set(self.children), key=_sort_key):
            child = self.children.get(pe)
            if child is not None and not child.empty():
                encoded = child.to_fields_v1()
                if pe in self.members:
                    encoded = {".": {}, **encoded}
                out[_encode_element(pe)] = encoded
            elif pe in self.members:
                out[_encode_element(pe)] = {}
        return out

    @classmethod
    def from_fields_v1(cls, data: dict[str, Any]) -> FieldSet:
        result = cls()
        for key, sub in data.items():
            if key == ".":
                continue
            pe = _decode_element(key)
            sub = sub or {}
            if "." in sub or not sub:
                result.members.add(pe)
            nested = {k: v for k, v in sub.items() if k != "."}
            if nested:
                result.children[pe] = cls.from_fields_v1(nested)
        return result


def _encode_element(pe: PathElement) -> str:
    kind, payload = pe
    return f"{kind}:{payload}"


def _decode_element(text: str) -> PathElement:
    kind, _, payload = text.partition(":")
    if kind == "f":
        return ("f", payload)
    if kind == "k":
        return ("k", canonical_json(json.loads(payload)))
    if kind == "v":
        return ("v", canonical_json(json.loads(payload)))
    if kind == "i":
        return ("i", int(payload))
    raise ValueError(f"unknown path element {text!r}")
