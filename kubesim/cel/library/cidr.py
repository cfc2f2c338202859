"""The Kubernetes CIDR library (apiserver pkg/cel/library/cidr.go): cidr(), isCIDR() and
containsIP, containsCIDR, ip, masked, prefixLength."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..overloads import Overload
from ..values import CIDR, CelError, IPAddress, no_overload, string_arg
from .ip import parse_ip


def parse_cidr(text: Any, operation: str) -> CIDR:
    text = string_arg(text, operation)
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
        parse_cidr(text, "isCIDR")
    except CelError:
        if type(text) is not str:
            raise
        return False
    return True


def _cidr_value(value: Any, operation: str) -> CIDR:
    if type(value) is CIDR:
        return value
    raise no_overload(operation, value)


def _cidr_contains_ip(value: Any, other: Any) -> bool:
    network = _cidr_value(value, "containsIP").interface.network
    address = other if type(other) is IPAddress else parse_ip(other, "containsIP")
    return address.address.version == network.version and address.address in network


def _cidr_contains_cidr(value: Any, other: Any) -> bool:
    network = _cidr_value(value, "containsCIDR").interface.network
    inner = other if type(other) is CIDR else parse_cidr(other, "containsCIDR")
    candidate = inner.interface.network
    return candidate.version == network.version and candidate.subnet_of(network)  # type: ignore[arg-type]


def _cidr_or_url_ip(value: Any) -> IPAddress:
    return IPAddress(_cidr_value(value, "ip").interface.ip)


def _cidr_masked(value: Any) -> CIDR:
    network = _cidr_value(value, "masked").interface.network
    return CIDR(ipaddress.ip_interface(str(network)))


def _cidr_prefix_length(value: Any) -> int:
    return _cidr_value(value, "prefixLength").interface.network.prefixlen


FUNCTIONS: dict[str, Overload] = {
    "isCIDR": Overload(_is_cidr, 1, 1),
    "cidr": Overload(lambda text: parse_cidr(text, "cidr"), 1, 1),
}

METHODS: dict[str, Overload] = {
    "containsIP": Overload(_cidr_contains_ip, 1, 1),
    "containsCIDR": Overload(_cidr_contains_cidr, 1, 1),
    "ip": Overload(_cidr_or_url_ip, 0, 0),
    "masked": Overload(_cidr_masked, 0, 0),
    "prefixLength": Overload(_cidr_prefix_length, 0, 0),
}
