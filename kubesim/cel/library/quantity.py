"""The Kubernetes quantity library (apiserver pkg/cel/library/quantity.go): quantity(),
isQuantity() and the kubernetes.Quantity arithmetic and comparisons, exact as fractions."""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..overloads import Overload
from ..values import INT64_MAX, INT64_MIN, CelError, Quantity, no_overload, string_arg

_QUANTITY = re.compile(
    r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?"
)


_QUANTITY_SUFFIX = {
    None: Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}


def parse_quantity(text: str) -> Fraction:
    """resource.ParseQuantity's accepted forms, as an exact value; raises ValueError."""
    match = _QUANTITY.fullmatch(text)
    if not match:
        raise ValueError(f"quantities must match the regular expression {_QUANTITY.pattern!r}")
    number = Fraction(Decimal(match.group(1)))
    suffix = match.group(2)
    if suffix and suffix[0] in "eE" and len(suffix) > 1:
        exponent = int(suffix[1:])
        if abs(exponent) > 1000:
            raise ValueError("quantity exponent out of range")
        return number * Fraction(10) ** exponent
    return number * _QUANTITY_SUFFIX[suffix]


def _to_quantity(text: Any) -> Quantity:
    try:
        return Quantity(parse_quantity(string_arg(text, "quantity")))
    except ValueError as exc:
        raise CelError(str(exc)) from None


def _is_quantity(text: Any) -> bool:
    try:
        parse_quantity(string_arg(text, "isQuantity"))
    except ValueError:
        return False
    return True


def _quantity_value(value: Any, operation: str) -> Fraction:
    if type(value) is Quantity:
        return value.value
    raise no_overload(operation, value)


def _quantity_operand(value: Any, operation: str) -> Fraction:
    if type(value) is int:
        return Fraction(value)
    return _quantity_value(value, operation)


def _quantity_as_integer(value: Any) -> int:
    number = _quantity_value(value, "asInteger")
    if number.denominator != 1 or not INT64_MIN <= number <= INT64_MAX:
        raise CelError("cannot convert value to integer")
    return int(number)


def _quantity_compare(value: Any, other: Any) -> int:
    left = _quantity_value(value, "compareTo")
    right = _quantity_value(other, "compareTo")
    return (left > right) - (left < right)


FUNCTIONS: dict[str, Overload] = {
    "quantity": Overload(_to_quantity, 1, 1),
    "isQuantity": Overload(_is_quantity, 1, 1),
}

METHODS: dict[str, Overload] = {
    "isInteger": Overload(lambda q: _quantity_value(q, "isInteger").denominator == 1, 0, 0),
    "asInteger": Overload(_quantity_as_integer, 0, 0),
    "asApproximateFloat": Overload(
        lambda q: float(_quantity_value(q, "asApproximateFloat")), 0, 0
    ),
    "sign": Overload(
        lambda q: (_quantity_value(q, "sign") > 0) - (_quantity_value(q, "sign") < 0), 0, 0
    ),
    "add": Overload(
        lambda q, other: Quantity(_quantity_value(q, "add") + _quantity_operand(other, "add")),
        1,
        1,
    ),
    "sub": Overload(
        lambda q, other: Quantity(_quantity_value(q, "sub") - _quantity_operand(other, "sub")),
        1,
        1,
    ),
    "compareTo": Overload(_quantity_compare, 1, 1),
    "isGreaterThan": Overload(lambda q, other: _quantity_compare(q, other) > 0, 1, 1),
    "isLessThan": Overload(lambda q, other: _quantity_compare(q, other) < 0, 1, 1),
}
