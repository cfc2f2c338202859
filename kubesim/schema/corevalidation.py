"""Semantic checks and defaults of Kubernetes' own kinds: the parts of the API server's
pkg/apis/*/validation (core, discovery, coordination) that schemas cannot express."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from typing import Any

from .. import names
from . import fielderrors, objectmeta
from .fielderrors import FieldError


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _ip_problems(text: str, path: str) -> list[FieldError]:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return [
            fielderrors.invalid(
                path, text, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            )
        ]
    return _endpoint_ip_problems(address, text, path)


def _endpoint_ip_problems(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str, path: str
) -> list[FieldError]:
    if address.is_unspecified:
        return [fielderrors.invalid(path, text, "may not be unspecified (0.0.0.0)")]
    if address.is_loopback:
        return [
            fielderrors.invalid(
                path, text, "may not be in the loopback range (127.0.0.0/8, ::1/128)"
            )
        ]
    if address.is_link_local:
        return [
            fielderrors.invalid(
                path, text, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
            )
        ]
    if address.is_multicast and (
        address in ipaddress.ip_network("224.0.0.0/24")
        or address in ipaddress.ip_network("ff02::/16")
    ):
        return [
            fielderrors.invalid(
                path,
                text,
                "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
            )
        ]
    return []


def _immutable(path: str, value: Any) -> FieldError:
    return fielderrors.invalid(path, value, "field is immutable")


def _check_named_ports(ports: list, path: str, *, name_required: bool) -> list[FieldError]:
    errors = []
    seen: set[str] = set()
    for position, port in enumerate(ports):
        port = _dict(port)
        port_path = f"{path}[{position}]"
        name = port.get("name")
        if name_required and len(ports) > 1 and not name:
            errors.append(fielderrors.required(f"{port_path}.name"))
        if isinstance(name, str) and name:
            for problem in names.dns1123_label(name):
                errors.append(fielderrors.invalid(f"{port_path}.name", name, problem))
            if name in seen:
                errors.append(fielderrors.duplicate(f"{port_path}.name", name))
            seen.add(name)
        number = port.get("port")
        if isinstance(number, int) and not isinstance(number, bool):
            for problem in names.port_number(number):
                errors.append(fielderrors.invalid(f"{port_path}.port", number, problem))
    return errors


def check_service(service: dict, old: dict | None) -> list[FieldError]:
    spec = _dict(service.get("spec"))
    errors: list[FieldError] = []
    service_type = spec.get("type", "ClusterIP")
    cluster_ip = spec.get("clusterIP", "")
    ports = _list(spec.get("ports"))
    headless = cluster_ip == "None"
    if not ports and service_type != "ExternalName" and not headless:
        errors.append(fielderrors.required("spec.ports"))
    errors.extend(_check_named_ports(ports, "spec.ports", name_required=True))
    seen_ports: set[tuple[Any, Any]] = set()
    for position, port in enumerate(ports):
        port = _dict(port)
        port_path = f"spec.ports[{position}]"
        target = port.get("targetPort")
        if isinstance(target, int) and not isinstance(target, bool):
            for problem in names.port_number(target):
                errors.append(fielderrors.invalid(f"{port_path}.targetPort", target, problem))
        elif isinstance(target, str):
            for problem in names.iana_service_name(target):
                errors.append(fielderrors.invalid(f"{port_path}.targetPort", target, problem))
        node_port = port.get("nodePort")
        if isinstance(node_port, int) and node_port:
            if service_type == "ClusterIP":
                errors.append(
                    fielderrors.forbidden(
                        f"{port_path}.nodePort", "may not be used when `type` is 'ClusterIP'"
                    )
                )
            for problem in names.port_number(node_port):
                errors.append(fielderrors.invalid(f"{port_path}.nodePort", node_port, problem))
        identity = (port.get("port"), port.get("protocol"))
        if identity in seen_ports:
            errors.append(
                fielderrors.duplicate(port_path, {"port": identity[0], "protocol": identity[1]})
            )
        seen_ports.add(identity)
    if service_type == "ExternalName":
        external_name = spec.get("externalName")
        if not external_name:
            errors.append(fielderrors.required("spec.externalName"))
        elif isinstance(external_name, str):
            for problem in names.dns1123_subdomain(external_name.rstrip(".")):
                errors.append(fielderrors.invalid("spec.externalName", external_name, problem))
    if isinstance(cluster_ip, str) and cluster_ip not in ("", "None"):
        try:
            ipaddress.ip_address(cluster_ip)
        except ValueError:
            errors.append(
                fielderrors.invalid(
                    "spec.clusterIP", cluster_ip, "must be empty, 'None', or a valid IP address"
                )
            )
    if spec.get("externalTrafficPolicy") and service_type not in ("NodePort", "LoadBalancer"):
        errors.append(
            fielderrors.invalid(
                "spec.externalTrafficPolicy",
                spec["externalTrafficPolicy"],
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            )
        )
    selector = spec.get("selector")
    if isinstance(selector, dict):
        errors.extend(objectmeta.validate_labels(selector, "spec.selector"))
    if old is not None:
        old_ip = _dict(old.get("spec")).get("clusterIP")
        if old_ip and cluster_ip and old_ip != cluster_ip and service_type != "ExternalName":
            errors.append(_immutable("spec.clusterIP", cluster_ip))
    return errors


def default_service(service: dict) -> None:
    for port in _list(_dict(service.get("spec")).get("ports")):
        if isinstance(port, dict) and "targetPort" not in port and "port" in port:
            port["targetPort"] = port["port"]


_MAX_DATA_SIZE = 1024 * 1024


def _decoded_size(value: Any) -> int:
    try:
        return len(base64.b64decode(value, validate=True)) if isinstance(value, str) else 0
    except (binascii.Error, ValueError):
        return len(value)


def _check_keys(data: dict, path: str) -> list[FieldError]:
    errors = []
    for name in data:
        for problem in names.config_key(str(name)):
            errors.append(fielderrors.invalid(f"{path}[{name}]", name, problem))
    return errors


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _check_immutable_data(obj: dict, old: dict | None, keys: tuple[str, ...]) -> list[FieldError]:
    if old is None or old.get("immutable") is not True:
        return []
    errors = []
    if obj.get("immutable") is not True:
        errors.append(
            fielderrors.forbidden("immutable", "field is immutable when `immutable` is set")
        )
    for name in keys:
        if obj.get(name) != old.get(name):
            errors.append(
                fielderrors.forbidden(name, "field is immutable when `immutable` is set")
            )
    return errors


def check_secret(secret: dict, old: dict | None) -> list[FieldError]:
    data = _dict(secret.get("data"))
    errors = _check_keys(data, "data")
    errors.extend(_check_keys(_dict(secret.get("stringData")), "stringData"))
    if sum(_decoded_size(value) for value in data.values()) > _MAX_DATA_SIZE:
        errors.append(fielderrors.too_long("data", _MAX_DATA_SIZE))
    declared_type = secret.get("type", "Opaque")
    for name in _SECRET_REQUIRED_KEYS.get(declared_type, ()):
        if not data.get(name):
            errors.append(fielderrors.required(f"data[{name}]"))
    if declared_type in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        name = _SECRET_REQUIRED_KEYS[declared_type][0]
        if data.get(name):
            try:
                json.loads(base64.b64decode(data[name]))
            except (binascii.Error, ValueError) as exc:
                errors.append(fielderrors.invalid(f"data[{name}]", "<secret contents redacted>",
                                                  str(exc)))
    if declared_type == "kubernetes.io/basic-auth" and not (
        data.get("username") or data.get("password")
    ):
        errors.append(fielderrors.required("data[username]"))
        errors.append(fielderrors.required("data[password]"))
    if declared_type == "kubernetes.io/service-account-token":
        annotations = _dict(_dict(secret.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            errors.append(
                fielderrors.required(
                    "metadata.annotations[kubernetes.io/service-account.name]"
                )
            )
    if old is not None:
        if secret.get("type", "Opaque") != old.get("type", "Opaque"):
            errors.append(_immutable("type", declared_type))
        errors.extend(_check_immutable_data(secret, old, ("data",)))
    return errors


def default_secret(secret: dict) -> None:
    # The server folds stringData into data (base64) and never stores stringData.
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = secret.setdefault("data", {})
        if isinstance(data, dict):
            for name, value in string_data.items():
                if isinstance(value, str):
                    data[name] = base64.b64encode(value.encode()).decode("ascii")


def check_config_map(config_map: dict, old: dict | None) -> list[FieldError]:
    data = _dict(config_map.get("data"))
    binary = _dict(config_map.get("binaryData"))
    errors = _check_keys(data, "data")
    errors.extend(_check_keys(binary, "binaryData"))
    for name in data:
        if name in binary:
            errors.append(
                fielderrors.invalid(f"data[{name}]", name, "duplicate of key present in binaryData")
            )
    size = sum(len(str(value).encode()) for value in data.values()) + sum(
        _decoded_size(value) for value in binary.values()
    )
    if size > _MAX_DATA_SIZE:
        errors.append(fielderrors.too_long("data", _MAX_DATA_SIZE))
    errors.extend(_check_immutable_data(config_map, old, ("data", "binaryData")))
    return errors


def check_endpoints(endpoints: dict, old: dict | None) -> list[FieldError]:
    errors = []
    for position, subset in enumerate(_list(endpoints.get("subsets"))):
        subset = _dict(subset)
        path = f"subsets[{position}]"
        addresses = _list(subset.get("addresses"))
        not_ready = _list(subset.get("notReadyAddresses"))
        if not addresses and not not_ready:
            errors.append(
                fielderrors.required(path, "must specify `addresses` or `notReadyAddresses`")
            )
        for group, entries in (("addresses", addresses), ("notReadyAddresses", not_ready)):
            for entry_position, entry in enumerate(entries):
                entry = _dict(entry)
                entry_path = f"{path}.{group}[{entry_position}]"
                if isinstance(entry.get("ip"), str):
                    errors.extend(_ip_problems(entry["ip"], f"{entry_path}.ip"))
                hostname = entry.get("hostname")
                if isinstance(hostname, str) and hostname:
                    for problem in names.dns1123_label(hostname):
                        errors.append(
                            fielderrors.invalid(f"{entry_path}.hostname", hostname, problem)
                        )
        ports = _list(subset.get("ports"))
        if not ports:
            errors.append(fielderrors.required(f"{path}.ports"))
        errors.extend(_check_named_ports(ports, f"{path}.ports", name_required=True))
    return errors


_MAX_ENDPOINTS = 1000
_MAX_ADDRESSES = 100
_MAX_SLICE_PORTS = 20000


def _check_endpoint_address(address_type: str, text: str, path: str) -> list[FieldError]:
    if address_type == "FQDN":
        return [fielderrors.invalid(path, text, p) for p in names.dns1123_subdomain(text)]
    version = 4 if address_type == "IPv4" else 6
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        address = None
    if address is None or address.version != version:
        return [fielderrors.invalid(path, text, f"must be a valid {address_type} address")]
    return _endpoint_ip_problems(address, text, path)


def check_endpoint_slice(endpoint_slice: dict, old: dict | None) -> list[FieldError]:
    errors: list[FieldError] = []
    address_type = endpoint_slice.get("addressType")
    endpoints = _list(endpoint_slice.get("endpoints"))
    if len(endpoints) > _MAX_ENDPOINTS:
        errors.append(fielderrors.too_many("endpoints", len(endpoints), _MAX_ENDPOINTS))
    for position, endpoint in enumerate(endpoints):
        endpoint = _dict(endpoint)
        path = f"endpoints[{position}]"
        addresses = _list(endpoint.get("addresses"))
        if "addresses" in endpoint and not addresses:
            errors.append(
                fielderrors.required(f"{path}.addresses", "must contain at least 1 address")
            )
        elif len(addresses) > _MAX_ADDRESSES:
            errors.append(
                fielderrors.too_many(f"{path}.addresses", len(addresses), _MAX_ADDRESSES)
            )
        if address_type in ("IPv4", "IPv6", "FQDN"):
            for address_position, address in enumerate(addresses):
                if isinstance(address, str):
                    errors.extend(
                        _check_endpoint_address(
                            address_type, address, f"{path}.addresses[{address_position}]"
                        )
                    )
        hostname = endpoint.get("hostname")
        if isinstance(hostname, str) and hostname:
            for problem in names.dns1123_label(hostname):
                errors.append(fielderrors.invalid(f"{path}.hostname", hostname, problem))
        node_name = endpoint.get("nodeName")
        if isinstance(node_name, str) and node_name:
            for problem in names.dns1123_subdomain(node_name):
                errors.append(fielderrors.invalid(f"{path}.nodeName", node_name, problem))
    ports = _list(endpoint_slice.get("ports"))
    if len(ports) > _MAX_SLICE_PORTS:
        errors.append(fielderrors.too_many("ports", len(ports), _MAX_SLICE_PORTS))
    errors.extend(_check_named_ports(ports, "ports", name_required=False))
    if old is not None and old.get("addressType") != address_type:
        errors.append(_immutable("addressType", address_type))
    return errors


def default_endpoint_slice(endpoint_slice: dict) -> None:
    for port in _list(endpoint_slice.get("ports")):
        if isinstance(port, dict):
            port.setdefault("name", "")


def check_lease(lease: dict, old: dict | None) -> list[FieldError]:
    spec = _dict(lease.get("spec"))
    errors = []
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and not isinstance(duration, bool) and duration <= 0:
        errors.append(
            fielderrors.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")
        )
    transitions = spec.get("leaseTransitions")
    if isinstance(transitions, int) and not isinstance(transitions, bool) and transitions < 0:
        errors.append(
            fielderrors.invalid(
                "spec.leaseTransitions", transitions, "must be greater than or equal to 0"
            )
        )
    if spec.get("preferredHolder") and not spec.get("strategy"):
        errors.append(
            fielderrors.required("spec.strategy", "must be set when preferredHolder is set")
        )
    return errors


def check_namespace(namespace: dict, old: dict | None) -> list[FieldError]:
    errors = []
    for position, finalizer in enumerate(_list(_dict(namespace.get("spec")).get("finalizers"))):
        if isinstance(finalizer, str):
            for problem in names.qualified_name(finalizer):
                errors.append(
                    fielderrors.invalid(f"spec.finalizers[{position}]", finalizer, problem)
                )
    return errors
