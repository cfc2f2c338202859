"""Standard CEL's functions: size, the type conversions (int, uint, double, string, bool,
bytes, dyn, type, duration, timestamp), the duration and timestamp accessors, and the string
tests contains, startsWith and endsWith (cel-spec's standard definitions)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...formats import parse_go_duration, parse_rfc3339
from ..operators import truncated_divide
from ..overloads import Overload
from ..values import (
    CIDR,
    INT64_MIN,
    CelError,
    CelType,
    CelUint,
    Duration,
    IPAddress,
    cel_type_name,
    check_int,
    check_uint,
    no_overload,
    string_arg,
)


def size(value: Any) -> int:
    kind = type(value)
    if kind in (str, bytes, list, tuple, dict):
        return len(value)
    raise no_overload("size", value)


def to_int(value: Any) -> int:
    kind = type(value)
    if kind is int:
        return value
    if kind is CelUint or kind is Duration:
        return check_int(int(value))
    if kind is float:
        if math.isnan(value) or math.isinf(value) or not INT64_MIN <= value < 2.0**63:
            raise CelError("integer overflow")
        return int(value)
    if kind is str:
        try:
            return check_int(int(value, 10))
        except ValueError:
            raise CelError(f"cannot convert string {value!r} to int") from None
    if kind is datetime:
        return int(value.timestamp())
    raise no_overload("int", value)


def to_uint(value: Any) -> CelUint:
    kind = type(value)
    if kind is CelUint:
        return value
    if kind is int:
        return check_uint(value)
    if kind is float:
        if math.isnan(value) or not 0 <= value < 2.0**64:
            raise CelError("unsigned integer overflow")
        return CelUint(int(value))
    if kind is str:
        try:
            return check_uint(int(value, 10))
        except ValueError:
            raise CelError(f"cannot convert string {value!r} to uint") from None
    raise no_overload("uint", value)


def to_double(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value
    if kind is int or kind is CelUint:
        return float(value)
    if kind is str:
        try:
            return float(value)
        except ValueError:
            raise CelError(f"cannot convert string {value!r} to double") from None
    raise no_overload("double", value)


def go_format_float(number: float) -> str:
    """A float as Go's `%g` / FormatFloat(f, 'g', -1, 64) prints it (CEL's string(double))."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(number)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    # The decimal point sits after `point` digits; for the shortest form Go switches to %e
    # when the exponent is below -4 or at least 6 (strconv's formatDigits).
    point = len(digit_tuple) + int(exponent)
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _duration_string(nanos: int) -> str:
    seconds = Decimal(nanos) / Decimal(10**9)
    text = format(seconds.normalize(), "f")
    return f"{text}s"


def _timestamp_string(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def to_string(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is CelUint:
        return str(int(value))
    if kind is float:
        return go_format_float(value)
    if kind is bytes:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise CelError("invalid UTF-8 in bytes, cannot convert to string") from None
    if kind is Duration:
        return _duration_string(value)
    if kind is datetime:
        return _timestamp_string(value)
    if kind is IPAddress or kind is CIDR:
        return str(value)
    raise no_overload("string", value)


def to_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str:
        # strconv.ParseBool's spellings.
        if value in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if value in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise CelError(f"type conversion error from 'string' to 'bool': {value!r}")
    raise no_overload("bool", value)


def to_bytes(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode("utf-8")
    raise no_overload("bytes", value)


def cel_type_of(value: Any) -> CelType:
    return CelType(cel_type_name(value))


def to_duration(value: Any) -> Duration:
    if type(value) is Duration:
        return value
    if type(value) is str:
        try:
            return Duration(parse_go_duration(value))
        except ValueError:
            raise CelError(f"type conversion error from 'string' to 'duration': {value}") from None
    if type(value) is int:
        return Duration(value)
    raise no_overload("duration", value)


def to_timestamp(value: Any) -> datetime:
    if type(value) is datetime:
        return value
    if type(value) is str:
        try:
            return parse_rfc3339(value)
        except ValueError:
            raise CelError(f"type conversion error from 'string' to 'timestamp': {value}") from None
    if type(value) is int:
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise CelError("timestamp out of range") from None
    raise no_overload("timestamp", value)


def _in_zone(moment: Any, zone: Any, operation: str) -> datetime:
    if type(moment) is not datetime:
        raise no_overload(operation, moment)
    if zone is None:
        return moment.astimezone(UTC)
    zone = string_arg(zone, operation)
    offset = re.fullmatch(r"([+-])?(\d{1,2}):(\d{2})", zone)
    if offset:
        delta = timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
        return moment.astimezone(timezone(-delta if offset.group(1) == "-" else delta))
    try:
        return moment.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise CelError(f"unknown time zone {zone!r}") from None


def _duration_or_timestamp_part(
    name: str, duration_unit: int, timestamp_part: Callable[[datetime], int]
) -> Callable[..., int]:
    def part(value: Any, zone: Any = None) -> int:
        if type(value) is Duration and zone is None:
            return truncated_divide(int(value), duration_unit)
        return timestamp_part(_in_zone(value, zone, name))

    return part


def _timestamp_part(name: str, extract: Callable[[datetime], int]) -> Callable[..., int]:
    def part(value: Any, zone: Any = None) -> int:
        return extract(_in_zone(value, zone, name))

    return part


def _contains(text: Any, part: Any) -> bool:
    return string_arg(part, "contains") in string_arg(text, "contains")


def _starts_with(text: Any, prefix: Any) -> bool:
    return string_arg(text, "startsWith").startswith(string_arg(prefix, "startsWith"))


def _ends_with(text: Any, suffix: Any) -> bool:
    return string_arg(text, "endsWith").endswith(string_arg(suffix, "endsWith"))


FUNCTIONS: dict[str, Overload] = {
    "size": Overload(size, 1, 1),
    "int": Overload(to_int, 1, 1),
    "uint": Overload(to_uint, 1, 1),
    "double": Overload(to_double, 1, 1),
    "string": Overload(to_string, 1, 1),
    "bool": Overload(to_bool, 1, 1),
    "bytes": Overload(to_bytes, 1, 1),
    "dyn": Overload(lambda value: value, 1, 1),
    "type": Overload(cel_type_of, 1, 1),
    "duration": Overload(to_duration, 1, 1),
    "timestamp": Overload(to_timestamp, 1, 1),
}

METHODS: dict[str, Overload] = {
    "size": Overload(size, 0, 0),
    "contains": Overload(_contains, 1, 1),
    "startsWith": Overload(_starts_with, 1, 1),
    "endsWith": Overload(_ends_with, 1, 1),
    "getHours": Overload(
        _duration_or_timestamp_part("getHours", 3_600_000_000_000, lambda t: t.hour), 0, 1
    ),
    "getMinutes": Overload(
        _duration_or_timestamp_part("getMinutes", 60_000_000_000, lambda t: t.minute), 0, 1
    ),
    "getSeconds": Overload(
        _duration_or_timestamp_part("getSeconds", 1_000_000_000, lambda t: t.second), 0, 1
    ),
    "getMilliseconds": Overload(
        _duration_or_timestamp_part(
            "getMilliseconds", 1_000_000, lambda t: t.microsecond // 1000
        ),
        0,
        1,
    ),
    "getFullYear": Overload(_timestamp_part("getFullYear", lambda t: t.year), 0, 1),
    "getMonth": Overload(_timestamp_part("getMonth", lambda t: t.month - 1), 0, 1),
    "getDate": Overload(_timestamp_part("getDate", lambda t: t.day), 0, 1),
    "getDayOfMonth": Overload(_timestamp_part("getDayOfMonth", lambda t: t.day - 1), 0, 1),
    "getDayOfWeek": Overload(
        _timestamp_part("getDayOfWeek", lambda t: (t.weekday() + 1) % 7), 0, 1
    ),
    "getDayOfYear": Overload(
        _timestamp_part("getDayOfYear", lambda t: t.timetuple().tm_yday - 1), 0, 1
    ),
}
