"""The Kubernetes IP library (apiserver pkg/cel/library/ip.go): ip(), isIP(),
ip.isCanonical() and the net.IP accessors, with Go's net.IP classification."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..overloads import Overload
from ..values import CelError, IPAddress, no_overload, string_arg


def parse_ip(text: Any, operation: str) -> IPAddress:
    text = string_arg(text, operation)
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
        parse_ip(text, "isIP")
    except CelError:
        if type(text) is not str:
            raise
        return False
    return True


def _ip_is_canonical(text: Any) -> bool:
    return str(parse_ip(text, "ip.isCanonical")) == text


def _ip_value(value: Any, operation: str) -> IPAddress:
    if type(value) is IPAddress:
        return value
    raise no_overload(operation, value)


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


FUNCTIONS: dict[str, Overload] = {
    "isIP": Overload(_is_ip, 1, 1),
    "ip": Overload(lambda text: parse_ip(text, "ip"), 1, 1),
    "ip.isCanonical": Overload(_ip_is_canonical, 1, 1),
}

METHODS: dict[str, Overload] = {
    "family": Overload(_ip_family, 0, 0),
    "isUnspecified": Overload(_ip_is_unspecified, 0, 0),
    "isLoopback": Overload(_ip_is_loopback, 0, 0),
    "isLinkLocalMulticast": Overload(_ip_is_link_local_multicast, 0, 0),
    "isLinkLocalUnicast": Overload(_ip_is_link_local_unicast, 0, 0),
    "isGlobalUnicast": Overload(_ip_is_global_unicast, 0, 0),
}
