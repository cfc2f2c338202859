"""CEL optional values (``optionalOldSelf`` transition rules and the format library use
them): optional.of, optional.none, optional.ofNonZeroValue, hasValue, value, orValue, or."""

from __future__ import annotations

from typing import Any

from ..overloads import Overload
from ..values import CelError, Optional, no_overload


def _optional_of(value: Any) -> Optional:
    return Optional(True, value)


def _optional_none() -> Optional:
    return Optional(False)


def _optional_of_non_zero(value: Any) -> Optional:
    zero_able = (bool, int, float, str, bytes, list, dict)
    zero = value is None or (type(value) in zero_able and not value)
    return Optional(False) if zero else Optional(True, value)


def _optional_value(value: Any, operation: str) -> Optional:
    if type(value) is Optional:
        return value
    raise no_overload(operation, value)


def _optional_get(value: Any) -> Any:
    optional = _optional_value(value, "value")
    if not optional.present:
        raise CelError("optional.none() dereference")
    return optional.value


FUNCTIONS: dict[str, Overload] = {
    "optional.of": Overload(_optional_of, 1, 1),
    "optional.none": Overload(_optional_none, 0, 0),
    "optional.ofNonZeroValue": Overload(_optional_of_non_zero, 1, 1),
}

METHODS: dict[str, Overload] = {
    "hasValue": Overload(lambda opt: _optional_value(opt, "hasValue").present, 0, 0),
    "value": Overload(_optional_get, 0, 0),
    "orValue": Overload(
        lambda opt, other: opt.value if _optional_value(opt, "orValue").present else other, 1, 1
    ),
    "or": Overload(
        lambda opt, other: opt if _optional_value(opt, "or").present else other, 1, 1
    ),
}
