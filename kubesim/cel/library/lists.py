"""The Kubernetes lists library (apiserver pkg/cel/library/lists.go): isSorted, sum, min,
max, indexOf and lastIndexOf on lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..operators import add, cel_equal, compare
from ..overloads import Overload
from ..values import CelError, CelUint, Duration, list_arg, no_overload


def _index_of(items: Any, needle: Any) -> int:
    for position, item in enumerate(list_arg(items, "indexOf")):
        if cel_equal(item, needle):
            return position
    return -1


def _last_index_of(items: Any, needle: Any) -> int:
    items = list_arg(items, "lastIndexOf")
    for position in range(len(items) - 1, -1, -1):
        if cel_equal(items[position], needle):
            return position
    return -1


def _is_sorted(items: Any) -> bool:
    items = list_arg(items, "isSorted")
    return all(compare("isSorted", a, b) <= 0 for a, b in zip(items, items[1:], strict=False))


def _sum(items: Any) -> Any:
    items = list_arg(items, "sum")
    if not items:
        return 0
    total = items[0]
    for item in items[1:]:
        total = add(total, item)
    if type(total) not in (int, float, CelUint, Duration):
        raise no_overload("sum", items)
    return total


def _extreme(operation: str, want: int) -> Callable[[Any], Any]:
    def pick(items: Any) -> Any:
        items = list_arg(items, operation)
        if not items:
            raise CelError(f"{operation} called on empty list")
        best = items[0]
        for item in items[1:]:
            if compare(operation, item, best) == want:
                best = item
        return best

    return pick


METHODS: dict[str, Overload] = {
    "isSorted": Overload(_is_sorted, 0, 0),
    "sum": Overload(_sum, 0, 0),
    "min": Overload(_extreme("min", -1), 0, 0),
    "max": Overload(_extreme("max", 1), 0, 0),
    "indexOf": Overload(_index_of, 1, 1, (list, tuple)),
    "lastIndexOf": Overload(_last_index_of, 1, 1, (list, tuple)),
}
