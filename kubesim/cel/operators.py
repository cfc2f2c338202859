"""CEL's operators over runtime values: heterogeneous equality, checked arithmetic on
int/uint/double/duration/timestamp, ordering, ``in``, field selection and indexing."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from .values import (
    NUMERIC,
    ORDERED,
    CelError,
    CelUint,
    Duration,
    check_duration,
    check_int,
    check_uint,
    no_overload,
)


def cel_equal(left: Any, right: Any) -> bool:
    """CEL heterogeneous equality: values of different types are unequal, numbers compare by
    value across int/uint/double, lists and maps compare element-wise."""
    kind = type(left)
    if kind is type(right):
        if kind is list or kind is tuple:
            return len(left) == len(right) and all(map(cel_equal, left, right))
        if kind is dict:
            if len(left) != len(right):
                return False
            for key, value in left.items():
                if key not in right or not cel_equal(value, right[key]):
                    return False
            return True
        return left == right
    if kind in NUMERIC and type(right) in NUMERIC:
        return left == right
    if kind in (list, tuple) and type(right) in (list, tuple):
        return len(left) == len(right) and all(map(cel_equal, left, right))
    return False


def add(left: Any, right: Any) -> Any:
    kind = type(left)
    if kind is type(right):
        if kind is int:
            return check_int(left + right)
        if kind is float or kind is str or kind is bytes:
            return left + right
        if kind is list or kind is tuple:
            return [*left, *right]
        if kind is CelUint:
            return check_uint(left + right)
        if kind is Duration:
            return check_duration(left + right)
    if kind in (list, tuple) and type(right) in (list, tuple):
        return [*left, *right]
    try:
        if kind is datetime and type(right) is Duration:
            return left + timedelta(microseconds=right // 1000)
        if kind is Duration and type(right) is datetime:
            return right + timedelta(microseconds=left // 1000)
    except OverflowError:
        raise CelError("timestamp out of range") from None
    raise no_overload("_+_", left, right)


def subtract(left: Any, right: Any) -> Any:
    kind = type(left)
    if kind is type(right):
        if kind is int:
            return check_int(left - right)
        if kind is float:
            return left - right
        if kind is CelUint:
            return check_uint(left - right)
        if kind is Duration:
            return check_duration(left - right)
        if kind is datetime:
            delta = left - right
            return check_duration(
                (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
            )
    if kind is datetime and type(right) is Duration:
        try:
            return left - timedelta(microseconds=right // 1000)
        except OverflowError:
            raise CelError("timestamp out of range") from None
    raise no_overload("_-_", left, right)


def multiply(left: Any, right: Any) -> Any:
    kind = type(left)
    if kind is type(right):
        if kind is int:
            return check_int(left * right)
        if kind is float:
            return left * right
        if kind is CelUint:
            return check_uint(left * right)
    raise no_overload("_*_", left, right)


def truncated_divide(left: int, right: int) -> int:
    # Go and CEL truncate toward zero; Python's // floors.
    quotient = abs(left) // abs(right)
    return quotient if (left >= 0) == (right >= 0) else -quotient


def divide(left: Any, right: Any) -> Any:
    kind = type(left)
    if kind is type(right):
        if kind is int or kind is CelUint:
            if right == 0:
                raise CelError("division by zero")
            result = truncated_divide(left, right)
            return check_int(result) if kind is int else check_uint(result)
        if kind is float:
            if right == 0.0:
                if left == 0.0 or math.isnan(left):
                    return math.nan
                return math.copysign(math.inf, left) * math.copysign(1.0, right)
            return left / right
    raise no_overload("_/_", left, right)


def modulo(left: Any, right: Any) -> Any:
    kind = type(left)
    if kind is type(right) and (kind is int or kind is CelUint):
        if right == 0:
            raise CelError("modulus by zero")
        result = left - right * truncated_divide(left, right)
        return result if kind is int else CelUint(result)
    raise no_overload("_%_", left, right)


def compare(operation: str, left: Any, right: Any) -> int:
    kind = type(left)
    if (kind is type(right) and kind in ORDERED) or (
        kind in NUMERIC and type(right) in NUMERIC
    ):
        if left < right:
            return -1
        if left > right:
            return 1
        if left == right:
            return 0
        return 2  # NaN: every ordering comparison is false
    raise no_overload(operation, left, right)


def less(left: Any, right: Any) -> bool:
    return compare("_<_", left, right) == -1


def less_equal(left: Any, right: Any) -> bool:
    return compare("_<=_", left, right) in (-1, 0)


def greater(left: Any, right: Any) -> bool:
    return compare("_>_", left, right) == 1


def greater_equal(left: Any, right: Any) -> bool:
    return compare("_>=_", left, right) in (0, 1)


def not_equal(left: Any, right: Any) -> bool:
    return not cel_equal(left, right)


def contained_in(element: Any, collection: Any) -> bool:
    kind = type(collection)
    if kind is list or kind is tuple:
        return any(cel_equal(element, item) for item in collection)
    if kind is dict:
        if type(element) is bool:
            return any(type(key) is bool and key == element for key in collection)
        try:
            return element in collection
        except TypeError:
            return False
    raise no_overload("@in", element, collection)


BINARY = {
    "relation_lt": less,
    "relation_le": less_equal,
    "relation_gt": greater,
    "relation_ge": greater_equal,
    "relation_eq": cel_equal,
    "relation_ne": not_equal,
    "relation_in": contained_in,
    "addition_add": add,
    "addition_sub": subtract,
    "multiplication_mul": multiply,
    "multiplication_div": divide,
    "multiplication_mod": modulo,
}


def select(value: Any, name: str) -> Any:
    if type(value) is dict:
        try:
            return value[name]
        except KeyError:
            raise CelError(f"no such key: {name}") from None
    raise no_overload(f"select .{name}", value)


def index(value: Any, key: Any) -> Any:
    kind = type(value)
    if kind is list or kind is tuple:
        key_kind = type(key)
        if key_kind is float and key.is_integer():
            key = int(key)
        elif key_kind is not int and key_kind is not CelUint:
            raise no_overload("_[_]", value, key)
        if 0 <= key < len(value):
            return value[key]
        raise CelError(f"index out of bounds: {key}")
    if kind is dict:
        try:
            return value[key]
        except (KeyError, TypeError):
            raise CelError(f"no such key: {key}") from None
    raise no_overload("_[_]", value, key)


def comprehension_range(value: Any) -> Iterable[Any]:
    kind = type(value)
    if kind is list or kind is tuple:
        return value
    if kind is dict:
        return list(value)
    raise no_overload("comprehension", value)
