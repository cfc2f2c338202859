"""String formats the API server reads or checks: Go durations (time.ParseDuration), RFC 3339
times, and the OpenAPI ``format`` values of kube-openapi's strfmt registry that CRD schemas
use (date-time, byte, uuid, ...)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction

INT64_MAX = 2**63 - 1


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


def _valid_date_time(text: str) -> bool:
    try:
        parse_rfc3339(text.replace(" ", "T", 1) if " " in text else text)
    except ValueError:
        return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?", text))
    return True


def _valid_date(text: str) -> bool:
    # strfmt IsDate: time.Parse("2006-01-02", text), so the month and day must exist.
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _valid_byte(text: str) -> bool:
    try:
        base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _valid_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _valid_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def _valid_duration(text: str) -> bool:
    # strfmt's duration also takes days and weeks ("1d", "2w") besides Go's units.
    if re.fullmatch(r"(\d+\s*(d|w|day|days|week|weeks)\s*)+", text):
        return True
    try:
        parse_go_duration(text)
    except ValueError:
        return False
    return True


_HOSTNAME = re.compile(
    r"(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}")
FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "date-time": _valid_date_time,
    "datetime": _valid_date_time,
    "date": _valid_date,
    "byte": _valid_byte,
    "ipv4": lambda text: _valid_ip(text, 4) and "." in text,
    "ipv6": lambda text: _valid_ip(text, 6) and ":" in text,
    "cidr": _valid_cidr,
    "duration": _valid_duration,
    "hostname": lambda text: bool(_HOSTNAME.fullmatch(text)),
    "uuid": lambda text: bool(_UUID.fullmatch(text)),
    "uri": lambda text: bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*:\S*", text)),
    "mac": lambda text: bool(
        re.fullmatch(r"[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}", text)
    ),
    "email": lambda text: bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text)),
}
