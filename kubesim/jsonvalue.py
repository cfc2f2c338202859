"""Decoded JSON values (dict, list, str, int, float, bool, None): copy and compare them fast."""

from __future__ import annotations

from typing import Any


def copy_json(value: Any) -> Any:
    """A deep copy of decoded JSON (several times faster than copy.deepcopy)."""
    kind = type(value)
    if kind is dict:
        return {name: copy_json(item) for name, item in value.items()}
    if kind is list or kind is tuple:
        return [copy_json(item) for item in value]
    return value


def json_equal(a: Any, b: Any) -> bool:
    """Equality of decoded JSON values that, unlike ``==``, tells ``true`` from ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b
