"""CEL values beyond plain JSON (uint, duration, type, optional and the Kubernetes types:
net.IP, net.CIDR, kubernetes.URL, kubernetes.Quantity, kubernetes.NamedFormat), CEL's errors,
type names and the argument checks every library uses."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

INT64_MIN = -(2**63)


INT64_MAX = 2**63 - 1


UINT64_MAX = 2**64 - 1


class CelError(Exception):
    """A runtime error of a CEL expression (no such key, no such overload, overflow, ...)."""


class CelCompileError(Exception):
    """An expression this implementation cannot compile (syntax, unknown function, ...)."""


def no_overload(operation: str, *values: Any) -> CelError:
    kinds = ", ".join(cel_type_name(value) for value in values)
    return CelError(f"no such overload: {operation}({kinds})")


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


@dataclass(frozen=True, slots=True)
class Format:
    """Kubernetes CEL ``kubernetes.NamedFormat``: a named string format and its check, which
    returns the problems of a value (apiserver pkg/cel/format.go)."""

    name: str
    validate: Callable[[str], list[str]]


NUMERIC = (int, float, CelUint)


ORDERED = (int, float, CelUint, str, bytes, bool, Duration, datetime)


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
        Format: "kubernetes.NamedFormat",
    }
    return names.get(kind, kind.__name__)


def check_int(value: int) -> int:
    if value < INT64_MIN or value > INT64_MAX:
        raise CelError("integer overflow")
    return value


def check_uint(value: int) -> CelUint:
    if value < 0 or value > UINT64_MAX:
        raise CelError("unsigned integer overflow")
    return CelUint(value)


def check_duration(nanos: int) -> Duration:
    if nanos < INT64_MIN or nanos > INT64_MAX:
        raise CelError("duration out of range")
    return Duration(nanos)


def string_arg(value: Any, operation: str) -> str:
    if type(value) is not str:
        raise no_overload(operation, value)
    return value


def int_arg(value: Any, operation: str) -> int:
    if type(value) is not int:
        raise no_overload(operation, value)
    return value


def list_arg(value: Any, operation: str) -> list[Any] | tuple[Any, ...]:
    if type(value) not in (list, tuple):
        raise no_overload(operation, value)
    return value
