"""cel-go's sets extension: sets.contains, sets.equivalent, sets.intersects over lists."""

from __future__ import annotations

from typing import Any

from ..operators import contained_in
from ..overloads import Overload
from ..values import list_arg


def _sets_contains(items: Any, other: Any) -> bool:
    items = list_arg(items, "sets.contains")
    return all(contained_in(element, items) for element in list_arg(other, "sets.contains"))


def _sets_equivalent(items: Any, other: Any) -> bool:
    return _sets_contains(items, other) and _sets_contains(other, items)


def _sets_intersects(items: Any, other: Any) -> bool:
    items = list_arg(items, "sets.intersects")
    return any(contained_in(element, items) for element in list_arg(other, "sets.intersects"))


FUNCTIONS: dict[str, Overload] = {
    "sets.contains": Overload(_sets_contains, 2, 2),
    "sets.equivalent": Overload(_sets_equivalent, 2, 2),
    "sets.intersects": Overload(_sets_intersects, 2, 2),
}
