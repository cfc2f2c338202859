"""CEL as the Kubernetes API server runs it for `x-kubernetes-validations`.

Expressions are parsed with celpy's grammar and compiled once into Python closures that work
on plain decoded JSON (dict, list, str, int, float, bool, None): celpy's own evaluators cost
0.1-1.5 ms a rule, far too slow for validating thousands of manifests. On top of standard CEL
this implements the libraries the API server adds: strings ext, regex, lists, url, ip/cidr,
quantity, optional values and `format`.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import lark
import re2
from celpy.celparser import CELParseError, CELParser
from celpy.evaluation import celbytes, celstr

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

Function = Callable[[dict[str, Any]], Any]


class CelError(Exception):
    """A runtime error of a CEL expression (no such key, no such overload, overflow, ...)."""


class CelCompileError(Exception):
    """An expression this implementation cannot compile (syntax, unknown function, ...)."""


def _no_overload(operation: str, *values: Any) -> CelError:
    kinds = ", ".join(cel_type_name(value) for value in values)
    return CelError(f"no such overload: {operation}({kinds})")


# ---------------------------------------------------------------------------------------------
# Values beyond plain JSON


class CelUint(int):
    """CEL `uint`; a distinct type so that `1u + 1` is an overload error as in CEL."""

    __slots__ = ()


class Duration(int):
    """CEL `google.protobuf.Duration`, held as nanoseconds."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class CelType:
    """The value of a type name (`int`, `string`, ...) or of `type(x)`."""

    name: str


@dataclass(frozen=True, slots=True)
class Optional:
    """CEL `optional_type` (used by `optionalOldSelf` transition rules)."""

    present: bool
    value: Any = None


@dataclass(frozen=True, slots=True)
class IPAddress:
    """Kubernetes CEL `net.IP`."""

    address: ipaddress.IPv4Address | ipaddress.IPv6Address

    def __str__(self) -> str:
        return str(self.address)


@dataclass(frozen=True, slots=True)
class CIDR:
    """Kubernetes CEL `net.CIDR`; keeps the host bits as written (`ip()` returns them)."""

    interface: ipaddress.IPv4Interface | ipaddress.IPv6Interface

    def __str__(self) -> str:
        return str(self.interface)


@dataclass(frozen=True, slots=True)
class URL:
    """Kubernetes CEL `kubernetes.URL`."""

    scheme: str
    host: str
    hostname: str
    port: str
    escaped_path: str
    query: str


@dataclass(frozen=True, slots=True)
class Quantity:
    """Kubernetes CEL `kubernetes.Quantity`, held exactly as a fraction."""

    value: Fraction


_NUMERIC = (int, float, CelUint)
_ORDERED = (int, float, CelUint, str, bytes, bool, Duration, datetime)


def cel_type_name(value: Any) -> str:
    """The CEL type name of a runtime value (used in `type()` and in error messages)."""
    kind = type(value)
    if kind is bool:
        return "bool"
    if kind is int:
        return "int"
    if kind is CelUint:
        return "uint"
    if kind is float:
        return "double"
    if kind is str:
        return "string"
    if kind is bytes:
        return "bytes"
    if kind is list or kind is tuple:
        return "list"
    if kind is dict:
        return "map"
    if value is None:
        return "null_type"
    if kind is Duration:
        return "google.protobuf.Duration"
    if kind is datetime:
        return "google.protobuf.Timestamp"
    names = {
        CelType: "type",
        Optional: "optional_type",
        IPAddress: "net.IP",
        CIDR: "net.CIDR",
        URL: "kubernetes.URL",
        Quantity: "kubernetes.Quantity",
    }
    return names.get(kind, kind.__name__)


# ---------------------------------------------------------------------------------------------
# Operators


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
    if kind in _NUMERIC and type(right) in _NUMERIC:
        return left == right
    if kind in (list, tuple) and type(right) in (list, tuple):
        return len(left) == len(right) and all(map(cel_equal, left, right))
    return False


def _check_int(value: int) -> int:
    if value < INT64_MIN or value > INT64_MAX:
        raise CelError("integer overflow")
    return value


def _check_uint(value: int) -> CelUint:
    if value < 0 or value > UINT64_MAX:
        raise CelError("unsigned integer overflow")
    return CelUint(value)


def _check_duration(nanos: int) -> Duration:
    if nanos < INT64_MIN or nanos > INT64_MAX:
        raise CelError("duration out of range")
    return Duration(nanos)


def _add(left: Any, right: Any) -> Any:
    kind = type(left)
    if kind is type(right):
        if kind is int:
            return _check_int(left + right)
        if kind is float or kind is str or kind is bytes:
            return left + right
        if kind is list or kind is tuple:
            return [*left, *right]
        if kind is CelUint:
            return _check_uint(left + right)
        if kind is Duration:
            return _check_duration(left + right)
    if kind in (list, tuple) and type(right) in (list, tuple):
        return [*left, *right]
    try:
        if kind is datetime and type(right) is Duration:
            return left + timedelta(microseconds=right // 1000)
        if kind is Duration and type(right) is datetime:
            return right + timedelta(microseconds=left // 1000)
    except OverflowError:
        raise CelError("timestamp out of range") from None
    raise _no_overload("_+_", left, right)


def _subtract(left: Any, right: Any) -> Any:
    kind = type(left)
    if kind is type(right):
        if kind is int:
            return _check_int(left - right)
        if kind is float:
            return left - right
        if kind is CelUint:
            return _check_uint(left - right)
        if kind is Duration:
            return _check_duration(left - right)
        if kind is datetime:
            delta = left - right
            return _check_duration(
                (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
            )
    if kind is datetime and type(right) is Duration:
        try:
            return left - timedelta(microseconds=right // 1000)
        except OverflowError:
            raise CelError("timestamp out of range") from None
    raise _no_overload("_-_", left, right)


def _multiply(left: Any, right: Any) -> Any:
    kind = type(left)
    if kind is type(right):
        if kind is int:
            return _check_int(left * right)
        if kind is float:
            return left * right
        if kind is CelUint:
            return _check_uint(left * right)
    raise _no_overload("_*_", left, right)


def _truncated_divide(left: int, right: int) -> int:
    # Go and CEL truncate toward zero; Python's // floors.
    quotient = abs(left) // abs(right)
    return quotient if (left >= 0) == (right >= 0) else -quotient


def _divide(left: Any, right: Any) -> Any:
    kind = type(left)
    if kind is type(right):
        if kind is int or kind is CelUint:
            if right == 0:
                raise CelError("division by zero")
            result = _truncated_divide(left, right)
            return _check_int(result) if kind is int else _check_uint(result)
        if kind is float:
            if right == 0.0:
                if left == 0.0 or math.isnan(left):
                    return math.nan
                return math.copysign(math.inf, left) * math.copysign(1.0, right)
            return left / right
    raise _no_overload("_/_", left, right)


def _modulo(left: Any, right: Any) -> Any:
    kind = type(left)
    if kind is type(right) and (kind is int or kind is CelUint):
        if right == 0:
            raise CelError("modulus by zero")
        result = left - right * _truncated_divide(left, right)
        return result if kind is int else CelUint(result)
    raise _no_overload("_%_", left, right)


def _compare(operation: str, left: Any, right: Any) -> int:
    kind = type(left)
    if (kind is type(right) and kind in _ORDERED) or (
        kind in _NUMERIC and type(right) in _NUMERIC
    ):
        if left < right:
            return -1
        if left > right:
            return 1
        if left == right:
            return 0
        return 2  # NaN: every ordering comparison is false
    raise _no_overload(operation, left, right)


def _less(left: Any, right: Any) -> bool:
    return _compare("_<_", left, right) == -1


def _less_equal(left: Any, right: Any) -> bool:
    return _compare("_<=_", left, right) in (-1, 0)


def _greater(left: Any, right: Any) -> bool:
    return _compare("_>_", left, right) == 1


def _greater_equal(left: Any, right: Any) -> bool:
    return _compare("_>=_", left, right) in (0, 1)


def _not_equal(left: Any, right: Any) -> bool:
    return not cel_equal(left, right)


def _contained_in(element: Any, collection: Any) -> bool:
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
    raise _no_overload("@in", element, collection)


_BINARY = {
    "relation_lt": _less,
    "relation_le": _less_equal,
    "relation_gt": _greater,
    "relation_ge": _greater_equal,
    "relation_eq": cel_equal,
    "relation_ne": _not_equal,
    "relation_in": _contained_in,
    "addition_add": _add,
    "addition_sub": _subtract,
    "multiplication_mul": _multiply,
    "multiplication_div": _divide,
    "multiplication_mod": _modulo,
}


def _select(value: Any, name: str) -> Any:
    if type(value) is dict:
        try:
            return value[name]
        except KeyError:
            raise CelError(f"no such key: {name}") from None
    raise _no_overload(f"select .{name}", value)


def _index(value: Any, key: Any) -> Any:
    kind = type(value)
    if kind is list or kind is tuple:
        key_kind = type(key)
        if key_kind is float and key.is_integer():
            key = int(key)
        elif key_kind is not int and key_kind is not CelUint:
            raise _no_overload("_[_]", value, key)
        if 0 <= key < len(value):
            return value[key]
        raise CelError(f"index out of bounds: {key}")
    if kind is dict:
        try:
            return value[key]
        except (KeyError, TypeError):
            raise CelError(f"no such key: {key}") from None
    raise _no_overload("_[_]", value, key)


def _comprehension_range(value: Any) -> Iterable[Any]:
    kind = type(value)
    if kind is list or kind is tuple:
        return value
    if kind is dict:
        return list(value)
    raise _no_overload("comprehension", value)


# ---------------------------------------------------------------------------------------------
# Library: conversions, strings, regex, lists, time, url, ip/cidr, quantity, optional


@functools.lru_cache(maxsize=4096)
def compile_regex(pattern: str) -> Any:
    """An RE2 regex (Go's syntax and semantics), compiled once per pattern."""
    try:
        return re2.compile(pattern)
    except re2.error as exc:
        raise CelError(f"invalid regex {pattern!r}: {exc}") from None


def _string_arg(value: Any, operation: str) -> str:
    if type(value) is not str:
        raise _no_overload(operation, value)
    return value


def _int_arg(value: Any, operation: str) -> int:
    if type(value) is not int:
        raise _no_overload(operation, value)
    return value


def size(value: Any) -> int:
    kind = type(value)
    if kind in (str, bytes, list, tuple, dict):
        return len(value)
    raise _no_overload("size", value)


def to_int(value: Any) -> int:
    kind = type(value)
    if kind is int:
        return value
    if kind is CelUint or kind is Duration:
        return _check_int(int(value))
    if kind is float:
        if math.isnan(value) or math.isinf(value) or not INT64_MIN <= value < 2.0**63:
            raise CelError("integer overflow")
        return int(value)
    if kind is str:
        try:
            return _check_int(int(value, 10))
        except ValueError:
            raise CelError(f"cannot convert string {value!r} to int") from None
    if kind is datetime:
        return int(value.timestamp())
    raise _no_overload("int", value)


def to_uint(value: Any) -> CelUint:
    kind = type(value)
    if kind is CelUint:
        return value
    if kind is int:
        return _check_uint(value)
    if kind is float:
        if math.isnan(value) or not 0 <= value < 2.0**64:
            raise CelError("unsigned integer overflow")
        return CelUint(int(value))
    if kind is str:
        try:
            return _check_uint(int(value, 10))
        except ValueError:
            raise CelError(f"cannot convert string {value!r} to uint") from None
    raise _no_overload("uint", value)


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
    raise _no_overload("double", value)


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
    raise _no_overload("string", value)


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
    raise _no_overload("bool", value)


def to_bytes(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode("utf-8")
    raise _no_overload("bytes", value)


def cel_type_of(value: Any) -> CelType:
    return CelType(cel_type_name(value))


_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds; raises ValueError on bad input."""
    body = text
    negative = False
    if body[:1] in ("-", "+"):
        negative = body[0] == "-"
        body = body[1:]
    if body == "0":
        return 0
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    total = Fraction(0)
    position = 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != position:
            raise ValueError(f"invalid duration {text!r}")
        total += Fraction(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(body) or position == 0:
        raise ValueError(f"invalid duration {text!r}")
    nanos = int(total)
    if nanos > INT64_MAX + (1 if negative else 0):
        raise ValueError(f"invalid duration {text!r}")
    return -nanos if negative else nanos


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
    raise _no_overload("duration", value)


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware datetime; raises ValueError on bad input."""
    if not _RFC3339.fullmatch(text):
        raise ValueError(f"invalid RFC 3339 timestamp {text!r}")
    normalized = text.upper().replace("Z", "+00:00")
    head, dot, rest = normalized.partition(".")
    if dot:
        # Python parses at most microseconds; CEL keeps nanoseconds, which do not matter here.
        fraction = re.match(r"\d+", rest).group(0)  # type: ignore[union-attr]
        normalized = f"{head}.{fraction[:6].ljust(6, '0')}{rest[len(fraction):]}"
    return datetime.fromisoformat(normalized)


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
    raise _no_overload("timestamp", value)


def _in_zone(moment: Any, zone: Any, operation: str) -> datetime:
    if type(moment) is not datetime:
        raise _no_overload(operation, moment)
    if zone is None:
        return moment.astimezone(UTC)
    zone = _string_arg(zone, operation)
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
            return _truncated_divide(int(value), duration_unit)
        return timestamp_part(_in_zone(value, zone, name))

    return part


def _timestamp_part(name: str, extract: Callable[[datetime], int]) -> Callable[..., int]:
    def part(value: Any, zone: Any = None) -> int:
        return extract(_in_zone(value, zone, name))

    return part


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _contains(text: Any, part: Any) -> bool:
    return _string_arg(part, "contains") in _string_arg(text, "contains")


def _starts_with(text: Any, prefix: Any) -> bool:
    return _string_arg(text, "startsWith").startswith(_string_arg(prefix, "startsWith"))


def _ends_with(text: Any, suffix: Any) -> bool:
    return _string_arg(text, "endsWith").endswith(_string_arg(suffix, "endsWith"))


def _matches(text: Any, pattern: Any) -> bool:
    text = _string_arg(text, "matches")
    return compile_regex(_string_arg(pattern, "matches")).search(text) is not None


def _find(text: Any, pattern: Any) -> str:
    match = compile_regex(_string_arg(pattern, "find")).search(_string_arg(text, "find"))
    return match.group(0) if match else ""


def _find_all(text: Any, pattern: Any, limit: Any = -1) -> list[str]:
    regex = compile_regex(_string_arg(pattern, "findAll"))
    limit = _int_arg(limit, "findAll")
    if limit == 0:
        return []
    found = [match.group(0) for match in regex.finditer(_string_arg(text, "findAll"))]
    return found if limit < 0 else found[:limit]


def _lower_ascii(text: Any) -> str:
    return _string_arg(text, "lowerAscii").translate(_ASCII_LOWER)


def _upper_ascii(text: Any) -> str:
    return _string_arg(text, "upperAscii").translate(_ASCII_UPPER)


def _trim(text: Any) -> str:
    return _string_arg(text, "trim").strip()


def _split(text: Any, separator: Any, limit: Any = -1) -> list[str]:
    text = _string_arg(text, "split")
    separator = _string_arg(separator, "split")
    limit = _int_arg(limit, "split")
    if limit == 0:
        return []
    if separator == "":
        parts = list(text)
        if 0 < limit < len(parts):
            parts = [*parts[: limit - 1], "".join(parts[limit - 1 :])]
        return parts
    return text.split(separator, limit - 1 if limit > 0 else -1)


def _join(items: Any, separator: Any = "") -> str:
    if type(items) not in (list, tuple) or any(type(item) is not str for item in items):
        raise _no_overload("join", items)
    return _string_arg(separator, "join").join(items)


def _replace(text: Any, old: Any, new: Any, limit: Any = -1) -> str:
    text = _string_arg(text, "replace")
    limit = _int_arg(limit, "replace")
    return text.replace(_string_arg(old, "replace"), _string_arg(new, "replace"), limit)


def _index_of(target: Any, needle: Any, offset: Any = 0) -> int:
    if type(target) in (list, tuple):
        for position, item in enumerate(target):
            if cel_equal(item, needle):
                return position
        return -1
    text = _string_arg(target, "indexOf")
    needle = _string_arg(needle, "indexOf")
    offset = _int_arg(offset, "indexOf")
    if offset < 0 or offset > len(text):
        raise CelError(f"index out of range: {offset}")
    return text.find(needle, offset)


def _last_index_of(target: Any, needle: Any, offset: Any = None) -> int:
    if type(target) in (list, tuple):
        for position in range(len(target) - 1, -1, -1):
            if cel_equal(target[position], needle):
                return position
        return -1
    text = _string_arg(target, "lastIndexOf")
    needle = _string_arg(needle, "lastIndexOf")
    if offset is None:
        return text.rfind(needle)
    offset = _int_arg(offset, "lastIndexOf")
    if offset < 0 or (text and offset >= len(text)):
        raise CelError(f"index out of range: {offset}")
    return text.rfind(needle, 0, offset + len(needle))


def _substring(text: Any, start: Any, end: Any = None) -> str:
    text = _string_arg(text, "substring")
    start = _int_arg(start, "substring")
    stop = len(text) if end is None else _int_arg(end, "substring")
    if start < 0 or start > len(text):
        raise CelError(f"index out of range: {start}")
    if stop < start or stop > len(text):
        raise CelError(f"index out of range: {stop}")
    return text[start:stop]


def _char_at(text: Any, position: Any) -> str:
    text = _string_arg(text, "charAt")
    position = _int_arg(position, "charAt")
    if position < 0 or position > len(text):
        raise CelError(f"index out of range: {position}")
    return text[position : position + 1]


def _reverse(text: Any) -> str:
    return _string_arg(text, "reverse")[::-1]


def _quote(text: Any) -> str:
    text = _string_arg(text, "strings.quote")
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    escapes |= {"\v": "\\v", "\\": "\\\\", '"': '\\"'}
    return '"' + "".join(escapes.get(char, char) for char in text) + '"'


def _format_value(value: Any) -> str:
    """`%s` rendering in the strings extension's `format`."""
    kind = type(value)
    if kind is list or kind is tuple:
        return "[" + ", ".join(_format_value(item) for item in value) + "]"
    if kind is dict:
        items = sorted((_format_value(key), _format_value(item)) for key, item in value.items())
        return "{" + ", ".join(f"{key}: {item}" for key, item in items) + "}"
    if value is None:
        return "null"
    if kind is CelType:
        return value.name
    return to_string(value)


_FORMAT_VERB = re.compile(r"%(?:\.(\d+))?([sdfeEbBoxX%])")


def _format(template: Any, arguments: Any) -> str:
    template = _string_arg(template, "format")
    if type(arguments) not in (list, tuple):
        raise _no_overload("format", template, arguments)
    remaining = list(arguments)

    def render(match: re.Match[str]) -> str:
        verb = match.group(2)
        if verb == "%":
            return "%"
        if not remaining:
            raise CelError("index 0 out of range")
        value = remaining.pop(0)
        precision = int(match.group(1)) if match.group(1) else None
        kind = type(value)
        if verb == "s":
            return _format_value(value)
        if verb == "d":
            if kind not in (int, CelUint):
                raise CelError(f"error during formatting: decimal clause can only be used on "
                               f"integers, was given {cel_type_name(value)}")
            return str(int(value))
        if verb in "feE":
            if kind not in (int, CelUint, float):
                raise CelError("error during formatting: fixed-point clause can only be used on "
                               f"doubles, was given {cel_type_name(value)}")
            number = float(value)
            if math.isnan(number):
                return "NaN"
            if math.isinf(number):
                return "Infinity" if number > 0 else "-Infinity"
            return f"{number:.{6 if precision is None else precision}{verb}}"
        if verb in "bB" and kind in (int, CelUint, bool):
            return format(int(value), "b")
        if verb == "o" and kind in (int, CelUint):
            return format(int(value), "o")
        if verb in "xX":
            if kind in (int, CelUint):
                text = format(int(value), "x")
            elif kind in (str, bytes):
                text = (value.encode() if kind is str else value).hex()
            else:
                raise CelError(f"error during formatting: only integers, byte buffers, and "
                               f"strings can be formatted as hex, was given {cel_type_name(value)}")
            return text.upper() if verb == "X" else text
        raise CelError(f"error during formatting: unsupported clause %{verb} "
                       f"for {cel_type_name(value)}")

    return _FORMAT_VERB.sub(render, template)


def _list_arg(value: Any, operation: str) -> list[Any] | tuple[Any, ...]:
    if type(value) not in (list, tuple):
        raise _no_overload(operation, value)
    return value


def _is_sorted(items: Any) -> bool:
    items = _list_arg(items, "isSorted")
    return all(_compare("isSorted", a, b) <= 0 for a, b in zip(items, items[1:], strict=False))


def _sum(items: Any) -> Any:
    items = _list_arg(items, "sum")
    if not items:
        return 0
    total = items[0]
    for item in items[1:]:
        total = _add(total, item)
    if type(total) not in (int, float, CelUint, Duration):
        raise _no_overload("sum", items)
    return total


def _extreme(operation: str, want: int) -> Callable[[Any], Any]:
    def pick(items: Any) -> Any:
        items = _list_arg(items, operation)
        if not items:
            raise CelError(f"{operation} called on empty list")
        best = items[0]
        for item in items[1:]:
            if _compare(operation, item, best) == want:
                best = item
        return best

    return pick


def _parse_ip(text: Any, operation: str) -> IPAddress:
    text = _string_arg(text, operation)
    if "%" in text:
        raise CelError("IP Address with zone value is not allowed")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise CelError(f"IP Address {text!r} parse error during conversion from string") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise CelError("IPv4-mapped IPv6 address is not allowed")
    return IPAddress(address)


def _is_ip(text: Any) -> bool:
    try:
        _parse_ip(text, "isIP")
    except CelError:
        if type(text) is not str:
            raise
        return False
    return True


def _ip_is_canonical(text: Any) -> bool:
    return str(_parse_ip(text, "ip.isCanonical")) == text


def _parse_cidr(text: Any, operation: str) -> CIDR:
    text = _string_arg(text, operation)
    if "%" in text:
        raise CelError("CIDR with zone value is not allowed")
    address, slash, length = text.partition("/")
    if not slash or not length.isdigit() or (len(length) > 1 and length[0] == "0"):
        raise CelError(f"network address parse error during conversion from string: {text!r}")
    try:
        interface = ipaddress.ip_interface(text)
        ipaddress.ip_address(address)
    except ValueError:
        raise CelError(
            f"network address parse error during conversion from string: {text!r}"
        ) from None
    if isinstance(interface, ipaddress.IPv6Interface) and interface.ip.ipv4_mapped is not None:
        raise CelError("IPv4-mapped IPv6 address is not allowed")
    return CIDR(interface)


def _is_cidr(text: Any) -> bool:
    try:
        _parse_cidr(text, "isCIDR")
    except CelError:
        if type(text) is not str:
            raise
        return False
    return True


def _ip_value(value: Any, operation: str) -> IPAddress:
    if type(value) is IPAddress:
        return value
    raise _no_overload(operation, value)


def _ip_family(value: Any) -> int:
    return _ip_value(value, "family").address.version


def _ip_is_unspecified(value: Any) -> bool:
    return _ip_value(value, "isUnspecified").address.is_unspecified


def _ip_is_loopback(value: Any) -> bool:
    return _ip_value(value, "isLoopback").address.is_loopback


def _ip_is_link_local_multicast(value: Any) -> bool:
    address = _ip_value(value, "isLinkLocalMulticast").address
    if address.version == 4:
        return address in ipaddress.ip_network("224.0.0.0/24")
    packed = address.packed
    return packed[0] == 0xFF and packed[1] & 0x0F == 0x02


def _ip_is_link_local_unicast(value: Any) -> bool:
    address = _ip_value(value, "isLinkLocalUnicast").address
    if address.version == 4:
        return address in ipaddress.ip_network("169.254.0.0/16")
    return address in ipaddress.ip_network("fe80::/10")


def _ip_is_global_unicast(value: Any) -> bool:
    # Go's net.IP.IsGlobalUnicast: private ranges count as global unicast there.
    address = _ip_value(value, "isGlobalUnicast").address
    if address.version == 4 and address == ipaddress.IPv4Address("255.255.255.255"):
        return False
    return not (
        address.is_unspecified
        or address.is_loopback
        or address.is_multicast
        or _ip_is_link_local_unicast(value)
    )


def _cidr_value(value: Any, operation: str) -> CIDR:
    if type(value) is CIDR:
        return value
    raise _no_overload(operation, value)


def _cidr_contains_ip(value: Any, other: Any) -> bool:
    network = _cidr_value(value, "containsIP").interface.network
    address = other if type(other) is IPAddress else _parse_ip(other, "containsIP")
    return address.address.version == network.version and address.address in network


def _cidr_contains_cidr(value: Any, other: Any) -> bool:
    network = _cidr_value(value, "containsCIDR").interface.network
    inner = other if type(other) is CIDR else _parse_cidr(other, "containsCIDR")
    candidate = inner.interface.network
    return candidate.version == network.version and candidate.subnet_of(network)  # type: ignore[arg-type]


def _cidr_or_url_ip(value: Any) -> IPAddress:
    return IPAddress(_cidr_value(value, "ip").interface.ip)


def _cidr_masked(value: Any) -> CIDR:
    network = _cidr_value(value, "masked").interface.network
    return CIDR(ipaddress.ip_interface(str(network)))


def _cidr_prefix_length(value: Any) -> int:
    return _cidr_value(value, "prefixLength").interface.network.prefixlen


_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")


def _parse_url(text: Any, operation: str) -> URL:
    # Go's url.ParseRequestURI: an absolute URI or an absolute path, no fragment parsing.
    text = _string_arg(text, operation)
    bad = CelError(f"URL parse error during conversion from string: {text!r}")
    if not text or any(ord(char) < 0x20 or ord(char) == 0x7F or char == " " for char in text):
        raise bad
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise bad
    if text.startswith("/"):
        path, _, query = text.partition("?")
        return URL("", "", "", "", path, query)
    scheme, colon, rest = text.partition(":")
    if not colon or not _URL_SCHEME.fullmatch(scheme):
        raise bad
    if not rest.startswith("//"):
        if not rest.startswith("/"):
            raise bad
        path, _, query = rest.partition("?")
        return URL(scheme.lower(), "", "", "", path, query)
    authority_and_path = rest[2:]
    split_at = min(
        [i for i in (authority_and_path.find("/"), authority_and_path.find("?")) if i >= 0],
        default=len(authority_and_path),
    )
    authority = authority_and_path[:split_at]
    remainder = authority_and_path[split_at:]
    path, _, query = remainder.partition("?")
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        closing = host.find("]")
        if closing < 0:
            raise bad
        hostname = host[1:closing]
        port_part = host[closing + 1 :]
        if port_part and not port_part.startswith(":"):
            raise bad
        port = port_part[1:]
    else:
        hostname, _, port = host.partition(":")
    if port and not port.isdigit():
        raise bad
    return URL(scheme.lower(), host, hostname, port, path, query)


def _is_url(text: Any) -> bool:
    try:
        _parse_url(text, "isURL")
    except CelError:
        if type(text) is not str:
            raise
        return False
    return True


def _url_value(value: Any, operation: str) -> URL:
    if type(value) is URL:
        return value
    raise _no_overload(operation, value)


def _url_query(value: Any) -> dict[str, list[str]]:
    query = _url_value(value, "getQuery").query
    return urllib.parse.parse_qs(query, keep_blank_values=True)


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
        return Quantity(parse_quantity(_string_arg(text, "quantity")))
    except ValueError as exc:
        raise CelError(str(exc)) from None


def _is_quantity(text: Any) -> bool:
    try:
        parse_quantity(_string_arg(text, "isQuantity"))
    except ValueError:
        return False
    return True


def _quantity_value(value: Any, operation: str) -> Fraction:
    if type(value) is Quantity:
        return value.value
    raise _no_overload(operation, value)


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
    raise _no_overload(operation, value)


def _optional_get(value: Any) -> Any:
    optional = _optional_value(value, "value")
    if not optional.present:
        raise CelError("optional.none() dereference")
    return optional.value


def _sets_contains(items: Any, other: Any) -> bool:
    items = _list_arg(items, "sets.contains")
    return all(_contained_in(element, items) for element in _list_arg(other, "sets.contains"))


def _sets_equivalent(items: Any, other: Any) -> bool:
    return _sets_contains(items, other) and _sets_contains(other, items)


def _sets_intersects(items: Any, other: Any) -> bool:
    items = _list_arg(items, "sets.intersects")
    return any(_contained_in(element, items) for element in _list_arg(other, "sets.intersects"))


def _base64_encode(value: Any) -> str:
    if type(value) is not bytes:
        raise _no_overload("base64.encode", value)
    return base64.b64encode(value).decode("ascii")


def _base64_decode(value: Any) -> bytes:
    text = _string_arg(value, "base64.decode")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise CelError(f"illegal base64 data in {text!r}") from None


@dataclass(frozen=True)
class _Overload:
    implementation: Callable[..., Any]
    min_args: int
    max_args: int


# Global functions, by name: (implementation, fewest arguments, most arguments).
FUNCTIONS: dict[str, _Overload] = {
    "size": _Overload(size, 1, 1),
    "int": _Overload(to_int, 1, 1),
    "uint": _Overload(to_uint, 1, 1),
    "double": _Overload(to_double, 1, 1),
    "string": _Overload(to_string, 1, 1),
    "bool": _Overload(to_bool, 1, 1),
    "bytes": _Overload(to_bytes, 1, 1),
    "dyn": _Overload(lambda value: value, 1, 1),
    "type": _Overload(cel_type_of, 1, 1),
    "duration": _Overload(to_duration, 1, 1),
    "timestamp": _Overload(to_timestamp, 1, 1),
    "matches": _Overload(_matches, 2, 2),
    "isIP": _Overload(_is_ip, 1, 1),
    "ip": _Overload(lambda text: _parse_ip(text, "ip"), 1, 1),
    "ip.isCanonical": _Overload(_ip_is_canonical, 1, 1),
    "isCIDR": _Overload(_is_cidr, 1, 1),
    "cidr": _Overload(lambda text: _parse_cidr(text, "cidr"), 1, 1),
    "url": _Overload(lambda text: _parse_url(text, "url"), 1, 1),
    "isURL": _Overload(_is_url, 1, 1),
    "quantity": _Overload(_to_quantity, 1, 1),
    "isQuantity": _Overload(_is_quantity, 1, 1),
    "optional.of": _Overload(_optional_of, 1, 1),
    "optional.none": _Overload(_optional_none, 0, 0),
    "optional.ofNonZeroValue": _Overload(_optional_of_non_zero, 1, 1),
    "strings.quote": _Overload(_quote, 1, 1),
    "sets.contains": _Overload(_sets_contains, 2, 2),
    "sets.equivalent": _Overload(_sets_equivalent, 2, 2),
    "sets.intersects": _Overload(_sets_intersects, 2, 2),
    "base64.encode": _Overload(_base64_encode, 1, 1),
    "base64.decode": _Overload(_base64_decode, 1, 1),
}

# Receiver-style functions: implementation(receiver, *arguments).
METHODS: dict[str, _Overload] = {
    "size": _Overload(size, 0, 0),
    "contains": _Overload(_contains, 1, 1),
    "startsWith": _Overload(_starts_with, 1, 1),
    "endsWith": _Overload(_ends_with, 1, 1),
    "matches": _Overload(_matches, 1, 1),
    "find": _Overload(_find, 1, 1),
    "findAll": _Overload(_find_all, 1, 2),
    "lowerAscii": _Overload(_lower_ascii, 0, 0),
    "upperAscii": _Overload(_upper_ascii, 0, 0),
    "trim": _Overload(_trim, 0, 0),
    "split": _Overload(_split, 1, 2),
    "join": _Overload(_join, 0, 1),
    "replace": _Overload(_replace, 2, 3),
    "indexOf": _Overload(_index_of, 1, 2),
    "lastIndexOf": _Overload(_last_index_of, 1, 2),
    "substring": _Overload(_substring, 1, 2),
    "charAt": _Overload(_char_at, 1, 1),
    "reverse": _Overload(_reverse, 0, 0),
    "format": _Overload(_format, 1, 1),
    "isSorted": _Overload(_is_sorted, 0, 0),
    "sum": _Overload(_sum, 0, 0),
    "min": _Overload(_extreme("min", -1), 0, 0),
    "max": _Overload(_extreme("max", 1), 0, 0),
    "getHours": _Overload(
        _duration_or_timestamp_part("getHours", 3_600_000_000_000, lambda t: t.hour), 0, 1
    ),
    "getMinutes": _Overload(
        _duration_or_timestamp_part("getMinutes", 60_000_000_000, lambda t: t.minute), 0, 1
    ),
    "getSeconds": _Overload(
        _duration_or_timestamp_part("getSeconds", 1_000_000_000, lambda t: t.second), 0, 1
    ),
    "getMilliseconds": _Overload(
        _duration_or_timestamp_part(
            "getMilliseconds", 1_000_000, lambda t: t.microsecond // 1000
        ),
        0,
        1,
    ),
    "getFullYear": _Overload(_timestamp_part("getFullYear", lambda t: t.year), 0, 1),
    "getMonth": _Overload(_timestamp_part("getMonth", lambda t: t.month - 1), 0, 1),
    "getDate": _Overload(_timestamp_part("getDate", lambda t: t.day), 0, 1),
    "getDayOfMonth": _Overload(_timestamp_part("getDayOfMonth", lambda t: t.day - 1), 0, 1),
    "getDayOfWeek": _Overload(
        _timestamp_part("getDayOfWeek", lambda t: (t.weekday() + 1) % 7), 0, 1
    ),
    "getDayOfYear": _Overload(
        _timestamp_part("getDayOfYear", lambda t: t.timetuple().tm_yday - 1), 0, 1
    ),
    "getScheme": _Overload(lambda url: _url_value(url, "getScheme").scheme, 0, 0),
    "getHost": _Overload(lambda url: _url_value(url, "getHost").host, 0, 0),
    "getHostname": _Overload(lambda url: _url_value(url, "getHostname").hostname, 0, 0),
    "getPort": _Overload(lambda url: _url_value(url, "getPort").port, 0, 0),
    "getEscapedPath": _Overload(lambda url: _url_value(url, "getEscapedPath").escaped_path, 0, 0),
    "getQuery": _Overload(_url_query, 0, 0),
    "family": _Overload(_ip_family, 0, 0),
    "isUnspecified": _Overload(_ip_is_unspecified, 0, 0),
    "isLoopback": _Overload(_ip_is_loopback, 0, 0),
    "isLinkLocalMulticast": _Overload(_ip_is_link_local_multicast, 0, 0),
    "isLinkLocalUnicast": _Overload(_ip_is_link_local_unicast, 0, 0),
    "isGlobalUnicast": _Overload(_ip_is_global_unicast, 0, 0),
    "containsIP": _Overload(_cidr_contains_ip, 1, 1),
    "containsCIDR": _Overload(_cidr_contains_cidr, 1, 1),
    "ip": _Overload(_cidr_or_url_ip, 0, 0),
    "masked": _Overload(_cidr_masked, 0, 0),
    "prefixLength": _Overload(_cidr_prefix_length, 0, 0),
    "isInteger": _Overload(
        lambda q: _quantity_value(q, "isInteger").denominator == 1, 0, 0
    ),
    "asInteger": _Overload(_quantity_as_integer, 0, 0),
    "asApproximateFloat": _Overload(
        lambda q: float(_quantity_value(q, "asApproximateFloat")), 0, 0
    ),
    "sign": _Overload(
        lambda q: (_quantity_value(q, "sign") > 0) - (_quantity_value(q, "sign") < 0), 0, 0
    ),
    "add": _Overload(
        lambda q, other: Quantity(_quantity_value(q, "add") + _quantity_operand(other, "add")),
        1,
        1,
    ),
    "sub": _Overload(
        lambda q, other: Quantity(_quantity_value(q, "sub") - _quantity_operand(other, "sub")),
        1,
        1,
    ),
    "compareTo": _Overload(_quantity_compare, 1, 1),
    "isGreaterThan": _Overload(lambda q, other: _quantity_compare(q, other) > 0, 1, 1),
    "isLessThan": _Overload(lambda q, other: _quantity_compare(q, other) < 0, 1, 1),
    "hasValue": _Overload(lambda opt: _optional_value(opt, "hasValue").present, 0, 0),
    "value": _Overload(_optional_get, 0, 0),
    "orValue": _Overload(
        lambda opt, other: opt.value if _optional_value(opt, "orValue").present else other, 1, 1
    ),
    "or": _Overload(
        lambda opt, other: opt if _optional_value(opt, "or").present else other, 1, 1
    ),
}

_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)
# Property names that are CEL keywords are escaped as __name__ (apiserver/pkg/cel/escaping.go).
_RESERVED = frozenset(
    {
        "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
        "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
        "void", "while",
    }
)


def unescape_property(name: str) -> str:
    """The property name a CEL field selection refers to (Kubernetes' escaping, reversed)."""
    if name.startswith("__") and name.endswith("__") and name[2:-2] in _RESERVED:
        return name[2:-2]
    if "__" not in name:
        return name
    replacements = {"__underscores__": "__", "__dot__": ".", "__dash__": "-", "__slash__": "/"}
    return re.sub(
        r"__underscores__|__dot__|__dash__|__slash__", lambda m: replacements[m.group(0)], name
    )


# ---------------------------------------------------------------------------------------------
# Compiler: celpy's lark tree -> closures taking the variable environment


@dataclass(frozen=True)
class Program:
    """A compiled expression. `evaluate` raises CelError for CEL runtime errors."""

    source: str
    uses_old_self: bool
    function: Function

    def evaluate(self, variables: dict[str, Any]) -> Any:
        environment = dict(variables)
        try:
            return self.function(environment)
        except CelError:
            raise
        except RecursionError:
            raise CelError("max recursion depth exceeded") from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
            raise CelError(f"no such overload: {exc}") from None


@functools.cache
def _parser() -> CELParser:
    # Building the lark parser takes a while; one per process is enough.
    return CELParser()


RULE_VARIABLES = frozenset({"self", "oldSelf"})


@functools.cache
def compile_program(source: str, variables: frozenset[str] = RULE_VARIABLES) -> Program:
    """Compile one CEL expression once; the same text always yields the same Program."""
    try:
        tree = _parser().parse(source)
    except CELParseError as exc:
        raise CelCompileError(f"syntax error: {exc.args[0] if exc.args else exc}") from None
    except (lark.exceptions.LarkError, RecursionError) as exc:
        raise CelCompileError(f"syntax error: {exc}") from None
    compiler = _Compiler(variables)
    function = compiler.expression(tree)
    return Program(source, compiler.uses_old_self, function)


def _children(tree: lark.Tree) -> list[Any]:
    return tree.children


def _sole(tree: Any, *names: str) -> Any:
    """Follow single-child nodes down to one of `names` (None if the chain branches)."""
    node = tree
    while isinstance(node, lark.Tree):
        if node.data in names:
            return node
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return None


class _Compiler:
    def __init__(self, variables: frozenset[str]) -> None:
        self.variables = variables
        self.scopes: list[str] = []
        self.uses_old_self = False

    def expression(self, tree: lark.Tree) -> Function:
        method = getattr(self, f"_{tree.data}", None)
        if method is None:
            raise CelCompileError(f"unsupported syntax: {tree.data}")
        return method(tree)

    # Operators -------------------------------------------------------------------------------

    def _expr(self, tree: lark.Tree) -> Function:
        parts = _children(tree)
        if len(parts) == 1:
            return self.expression(parts[0])
        condition, when_true, when_false = (self.expression(part) for part in parts)

        def conditional(env: dict[str, Any]) -> Any:
            chosen = condition(env)
            if chosen is True:
                return when_true(env)
            if chosen is False:
                return when_false(env)
            raise _no_overload("_?_:_", chosen)

        return conditional

    def _conditionalor(self, tree: lark.Tree) -> Function:
        parts = _children(tree)
        if len(parts) == 1:
            return self.expression(parts[0])
        left, right = self.expression(parts[0]), self.expression(parts[1])

        def logical_or(env: dict[str, Any]) -> bool:
            # CEL's || is commutative over errors: a true on either side wins.
            try:
                first = left(env)
            except Exception as exc:  # any failure is a CEL error value here
                first = exc
            if first is True:
                return True
            second = right(env)
            if second is True:
                return True
            if isinstance(first, Exception):
                raise first
            if first is False and second is False:
                return False
            raise _no_overload("_||_", first, second)

        return logical_or

    def _conditionaland(self, tree: lark.Tree) -> Function:
        parts = _children(tree)
        if len(parts) == 1:
            return self.expression(parts[0])
        left, right = self.expression(parts[0]), self.expression(parts[1])

        def logical_and(env: dict[str, Any]) -> bool:
            try:
                first = left(env)
            except Exception as exc:  # any failure is a CEL error value here
                first = exc
            if first is False:
                return False
            second = right(env)
            if second is False:
                return False
            if isinstance(first, Exception):
                raise first
            if first is True and second is True:
                return True
            raise _no_overload("_&&_", first, second)

        return logical_and

    def _binary(self, tree: lark.Tree) -> Function:
        parts = _children(tree)
        if len(parts) == 1:
            return self.expression(parts[0])
        operator_tree, right_tree = parts
        operation = _BINARY[operator_tree.data]
        left = self.expression(operator_tree.children[0])
        right = self.expression(right_tree)
        return lambda env: operation(left(env), right(env))

    _relation = _binary
    _addition = _binary
    _multiplication = _binary

    def _unary(self, tree: lark.Tree) -> Function:
        parts = _children(tree)
        if len(parts) == 1:
            return self.expression(parts[0])
        operator_tree, operand_tree = parts
        operand = self.expression(operand_tree)
        if operator_tree.data == "unary_not":

            def logical_not(env: dict[str, Any]) -> bool:
                value = operand(env)
                if type(value) is not bool:
                    raise _no_overload("!_", value)
                return not value

            return logical_not

        def negate(env: dict[str, Any]) -> Any:
            value = operand(env)
            kind = type(value)
            if kind is int:
                return _check_int(-value)
            if kind is float:
                return -value
            if kind is Duration:
                return _check_duration(-value)
            raise _no_overload("-_", value)

        return negate

    # Members ---------------------------------------------------------------------------------

    def _member(self, tree: lark.Tree) -> Function:
        return self.expression(tree.children[0])

    def _primary(self, tree: lark.Tree) -> Function:
        return self.expression(tree.children[0])

    def _paren_expr(self, tree: lark.Tree) -> Function:
        return self.expression(tree.children[0])

    def _member_dot(self, tree: lark.Tree) -> Function:
        target_tree, name_token = tree.children
        qualified = self._qualified_name(target_tree)
        if qualified is not None:
            raise CelCompileError(f"undeclared reference to '{qualified}.{name_token}'")
        target = self.expression(target_tree)
        name = unescape_property(str(name_token))

        def select(env: dict[str, Any]) -> Any:
            value = target(env)
            if type(value) is dict:
                try:
                    return value[name]
                except KeyError:
                    raise CelError(f"no such key: {name}") from None
            return _select(value, name)

        return select

    def _member_index(self, tree: lark.Tree) -> Function:
        target = self.expression(tree.children[0])
        key = self.expression(tree.children[1])
        return lambda env: _index(target(env), key(env))

    def _member_object(self, tree: lark.Tree) -> Function:
        raise CelCompileError("message construction is not supported in Kubernetes CEL")

    def _qualified_name(self, tree: Any) -> str | None:
        """`optional`, `strings`, ... when `tree` is a bare identifier that is not a variable."""
        ident = _sole(tree, "ident", "member_dot")
        if ident is None:
            return None
        if ident.data == "ident":
            name = str(ident.children[0])
            if name in self.scopes or name in self.variables:
                return None
            return name
        prefix = self._qualified_name(ident.children[0])
        return None if prefix is None else f"{prefix}.{ident.children[1]}"

    def _member_dot_arg(self, tree: lark.Tree) -> Function:
        target_tree, name_token = tree.children[0], str(tree.children[1])
        argument_trees = tree.children[2].children if len(tree.children) > 2 else []
        qualified = self._qualified_name(target_tree)
        if qualified is not None:
            return self._call(f"{qualified}.{name_token}", argument_trees)
        if name_token in _MACROS and argument_trees and len(argument_trees) in (2, 3):
            variable = _sole(argument_trees[0], "ident")
            if variable is not None:
                return self._macro(name_token, target_tree, str(variable.children[0]),
                                   argument_trees[1:])
        overload = METHODS.get(name_token)
        if overload is None:
            raise CelCompileError(f"undeclared reference to '{name_token}' (method)")
        if not overload.min_args <= len(argument_trees) <= overload.max_args:
            raise CelCompileError(
                f"found no matching overload for '{name_token}' "
                f"with {len(argument_trees)} arguments"
            )
        target = self.expression(target_tree)
        arguments = [self.expression(argument) for argument in argument_trees]
        implementation = overload.implementation
        if not arguments:
            return lambda env: implementation(target(env))
        if len(arguments) == 1:
            (first,) = arguments
            return lambda env: implementation(target(env), first(env))
        return lambda env: implementation(target(env), *(argument(env) for argument in arguments))

    def _ident_arg(self, tree: lark.Tree) -> Function:
        name = str(tree.children[0])
        argument_trees = tree.children[1].children if len(tree.children) > 1 else []
        if name == "has":
            return self._has(argument_trees)
        return self._call(name, argument_trees)

    def _dot_ident_arg(self, tree: lark.Tree) -> Function:
        argument_trees = tree.children[1].children if len(tree.children) > 1 else []
        return self._call(str(tree.children[0]), argument_trees)

    def _call(self, name: str, argument_trees: list[Any]) -> Function:
        overload = FUNCTIONS.get(name)
        if overload is None:
            raise CelCompileError(f"undeclared reference to '{name}'")
        if not overload.min_args <= len(argument_trees) <= overload.max_args:
            raise CelCompileError(
                f"found no matching overload for '{name}' with {len(argument_trees)} arguments"
            )
        arguments = [self.expression(argument) for argument in argument_trees]
        implementation = overload.implementation
        if not arguments:
            return lambda env: implementation()
        if len(arguments) == 1:
            (first,) = arguments
            return lambda env: implementation(first(env))
        return lambda env: implementation(*(argument(env) for argument in arguments))

    def _has(self, argument_trees: list[Any]) -> Function:
        selection = _sole(argument_trees[0], "member_dot") if len(argument_trees) == 1 else None
        if selection is None:
            raise CelCompileError("invalid argument to has() macro")
        target = self.expression(selection.children[0])
        name = unescape_property(str(selection.children[1]))

        def has(env: dict[str, Any]) -> bool:
            value = target(env)
            if type(value) is dict:
                return name in value
            raise _no_overload(f"has(.{name})", value)

        return has

    def _macro(
        self, name: str, target_tree: Any, variable: str, body_trees: list[Any]
    ) -> Function:
        target = self.expression(target_tree)
        self.scopes.append(variable)
        try:
            bodies = [self.expression(body) for body in body_trees]
        finally:
            self.scopes.pop()
        if name != "map" and len(bodies) != 1:
            raise CelCompileError(f"{name}() takes a variable and one expression")
        fold = _FOLDS[name] if len(bodies) == 1 else _fold_filter_map

        def comprehension(env: dict[str, Any]) -> Any:
            items = _comprehension_range(target(env))
            # The loop variable shadows an outer binding of the same name until the loop ends.
            outer = env.get(variable, _UNBOUND)
            try:
                return fold(env, variable, items, bodies)
            finally:
                if outer is _UNBOUND:
                    env.pop(variable, None)
                else:
                    env[variable] = outer

        return comprehension

    # Leaves ----------------------------------------------------------------------------------

    def _ident(self, tree: lark.Tree) -> Function:
        name = str(tree.children[0])
        if name in self.scopes or name in self.variables:
            if name == "oldSelf" and name not in self.scopes:
                self.uses_old_self = True

            def variable(env: dict[str, Any]) -> Any:
                try:
                    return env[name]
                except KeyError:
                    raise CelError(f"no such attribute: {name}") from None

            return variable
        if name in _TYPE_NAMES:
            constant = CelType(name)
            return lambda env: constant
        raise CelCompileError(f"undeclared reference to '{name}'")

    def _dot_ident(self, tree: lark.Tree) -> Function:
        return self._ident(tree)

    def _literal(self, tree: lark.Tree) -> Function:
        token = tree.children[0]
        kind = token.type
        value: Any
        if kind == "INT_LIT":
            value = int(token.value, 0) if "x" in token.value else int(token.value)
            if not INT64_MIN <= value <= INT64_MAX:
                raise CelCompileError(f"integer literal out of range: {token.value}")
        elif kind == "UINT_LIT":
            text = token.value[:-1]
            value = CelUint(int(text, 0) if "x" in text else int(text))
            if value > UINT64_MAX:
                raise CelCompileError(f"unsigned literal out of range: {token.value}")
        elif kind == "FLOAT_LIT":
            value = float(token.value)
        elif kind in ("STRING_LIT", "MLSTRING_LIT"):
            value = str(celstr(token))
        elif kind == "BYTES_LIT":
            value = bytes(celbytes(token))
        elif kind == "BOOL_LIT":
            value = token.value == "true"
        elif kind == "NULL_LIT":
            value = None
        else:
            raise CelCompileError(f"unsupported literal {token.value!r}")
        return lambda env: value

    def _list_lit(self, tree: lark.Tree) -> Function:
        item_trees = tree.children[0].children if tree.children else []
        items = [self.expression(item) for item in item_trees]
        return lambda env: [item(env) for item in items]

    def _map_lit(self, tree: lark.Tree) -> Function:
        flat = tree.children[0].children if tree.children else []
        entries = [
            (self.expression(flat[position]), self.expression(flat[position + 1]))
            for position in range(0, len(flat), 2)
        ]

        def build_map(env: dict[str, Any]) -> dict[Any, Any]:
            built: dict[Any, Any] = {}
            for key_function, value_function in entries:
                key = key_function(env)
                if type(key) not in (str, int, CelUint, bool):
                    raise CelError(f"unsupported map key type: {cel_type_name(key)}")
                if key in built:
                    raise CelError(f"Failed with repeated key: {key}")
                built[key] = value_function(env)
            return built

        return build_map


_UNBOUND = object()


def _fold_all(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> bool:
    # all() is commutative over errors: one false element decides, errors surface otherwise.
    body = bodies[0]
    error: Exception | None = None
    for item in items:
        env[variable] = item
        try:
            result = body(env)
        except Exception as exc:
            error = error or exc
            continue
        if result is False:
            return False
        if result is not True:
            error = error or _no_overload("all", result)
    if error is not None:
        raise error
    return True


def _fold_exists(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> bool:
    body = bodies[0]
    error: Exception | None = None
    for item in items:
        env[variable] = item
        try:
            result = body(env)
        except Exception as exc:
            error = error or exc
            continue
        if result is True:
            return True
        if result is not False:
            error = error or _no_overload("exists", result)
    if error is not None:
        raise error
    return False


def _fold_exists_one(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> bool:
    body = bodies[0]
    count = 0
    for item in items:
        env[variable] = item
        result = body(env)
        if result is True:
            count += 1
        elif result is not False:
            raise _no_overload("exists_one", result)
    return count == 1


def _fold_filter(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> list[Any]:
    body = bodies[0]
    kept = []
    for item in items:
        env[variable] = item
        result = body(env)
        if result is True:
            kept.append(item)
        elif result is not False:
            raise _no_overload("filter", result)
    return kept


def _fold_map(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> list[Any]:
    body = bodies[0]
    mapped = []
    for item in items:
        env[variable] = item
        mapped.append(body(env))
    return mapped


def _fold_filter_map(
    env: dict[str, Any], variable: str, items: Iterable[Any], bodies: list[Function]
) -> list[Any]:
    predicate, transform = bodies
    mapped = []
    for item in items:
        env[variable] = item
        keep = predicate(env)
        if keep is True:
            mapped.append(transform(env))
        elif keep is not False:
            raise _no_overload("map", keep)
    return mapped


_FOLDS = {
    "all": _fold_all,
    "exists": _fold_exists,
    "exists_one": _fold_exists_one,
    "filter": _fold_filter,
    "map": _fold_map,
}
