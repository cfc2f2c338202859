"""Kubernetes' own kinds (Namespace, Secret, ConfigMap, Service, Endpoints, EndpointSlice,
Lease): structure derived from the `kubernetes` client's model classes, plus the API server's
enums, defaults and semantic checks for them (from pkg/apis/*/validation)."""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes.client

from . import fielderrors, objectmeta
from .fielderrors import FieldError

_SCALARS = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytes": {"type": "string", "format": "byte"},
}


def _model_class(name: str) -> type:
    return getattr(kubernetes.client, name)


def _annotation_types(annotation: Any) -> set[type]:
    """The plain types inside a pydantic annotation (Optional, Union, Annotated unwrapped)."""
    args = typing.get_args(annotation)
    if not args:
        return {annotation} if isinstance(annotation, type) else set()
    found: set[type] = set()
    origin = typing.get_origin(annotation)
    for arg in args[:1] if origin is typing.Annotated else args:
        found |= _annotation_types(arg)
    return found


def _is_required(model: type, attribute: str) -> bool:
    fields = getattr(model, "model_fields", None)
    if fields is not None:
        # Pydantic models (some pod-level kinds) name fields in Python or by their alias.
        wire_name = model.attribute_map.get(attribute, attribute)
        for name, field in fields.items():
            if name == attribute or field.alias == wire_name:
                return field.is_required()
        return False
    # Classic generated models: with client-side validation on, a required field's setter
    # rejects None.
    instance = model.__new__(model)
    instance.local_vars_configuration = kubernetes.client.Configuration()
    try:
        setattr(instance, attribute, None)
    except ValueError:
        return True
    return False


def _is_int_or_string(model: type, attribute: str) -> bool:
    fields = getattr(model, "model_fields", None)
    if fields is None or attribute not in fields:
        return False
    return {int, str} <= _annotation_types(fields[attribute].annotation)


def _type_schema(type_text: str, model: type, attribute: str, building: frozenset[str]) -> dict:
    text = type_text.strip()
    if text in _SCALARS:
        return dict(_SCALARS[text])
    if text == "object":
        if _is_int_or_string(model, attribute):
            return {"x-kubernetes-int-or-string": True}
        return {"x-kubernetes-preserve-unknown-fields": True}
    for prefix in ("List[", "list["):
        if text.startswith(prefix) and text.endswith("]"):
            inner = text[len(prefix) : -1]
            return {"type": "array", "items": _type_schema(inner, model, attribute, building)}
    for prefix in ("Dict[str, ", "dict(str, "):
        if text.startswith(prefix):
            inner = text[len(prefix) : -1]
            return {
                "type": "object",
                "additionalProperties": _type_schema(inner, model, attribute, building),
            }
    return model_schema(_model_class(text), building)


def model_schema(model: type, building: frozenset[str] = frozenset()) -> dict:
    """An OpenAPI v3 schema for a `kubernetes.client` model, from `openapi_types` and
    `attribute_map`, recursively; required fields are the ones the model requires."""
    if model.__name__ in building:
        # A recursive model: stop at the cycle and accept anything there.
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    inside = building | {model.__name__}
    properties = {}
    required = []
    for attribute, type_text in model.openapi_types.items():
        name = model.attribute_map[attribute]
        properties[name] = _type_schema(type_text, model, attribute, inside)
        if _is_required(model, attribute):
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


@functools.cache
def object_meta_schema() -> dict:
    return model_schema(kubernetes.client.V1ObjectMeta)


def _patch(schema: dict, path: str, **keywords: Any) -> None:
    """Add keywords at a dotted path of a generated schema ("spec.ports[].protocol")."""
    node = schema
    for part in path.split("."):
        if part.endswith("[]"):
            node = node["properties"][part[:-2]]["items"]
        else:
            node = node["properties"][part]
    node.update(keywords)


_PROTOCOLS = ["SCTP", "TCP", "UDP"]


@dataclass(frozen=True)
class CoreKind:
    """One built-in kind: discovery facts, its schema, and the server's semantic hooks."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    subresources: dict
    printer_columns: tuple[dict, ...]
    model: str
    name_check: objectmeta.NameCheck
    enums_and_defaults: tuple[tuple[str, dict], ...] = ()
    check: Callable[[dict, dict | None], list[FieldError]] | None = None
    default: Callable[[dict], None] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def schema(self) -> dict:
        schema = model_schema(_model_class(self.model))
        for path, keywords in self.enums_and_defaults:
            _patch(schema, path, **keywords)
        return schema


# ---------------------------------------------------------------------------------------------
# Semantic checks (the parts of pkg/apis/core/validation and friends that matter here)


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
            for problem in objectmeta.dns1123_label(name):
                errors.append(fielderrors.invalid(f"{port_path}.name", name, problem))
            if name in seen:
                errors.append(fielderrors.duplicate(f"{port_path}.name", name))
            seen.add(name)
        number = port.get("port")
        if isinstance(number, int) and not isinstance(number, bool):
            for problem in objectmeta.port_number(number):
                errors.append(fielderrors.invalid(f"{port_path}.port", number, problem))
    return errors


def _check_service(service: dict, old: dict | None) -> list[FieldError]:
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
            for problem in objectmeta.port_number(target):
                errors.append(fielderrors.invalid(f"{port_path}.targetPort", target, problem))
        elif isinstance(target, str):
            for problem in objectmeta.iana_service_name(target):
                errors.append(fielderrors.invalid(f"{port_path}.targetPort", target, problem))
        node_port = port.get("nodePort")
        if isinstance(node_port, int) and node_port:
            if service_type == "ClusterIP":
                errors.append(
                    fielderrors.forbidden(
                        f"{port_path}.nodePort", "may not be used when `type` is 'ClusterIP'"
                    )
                )
            for problem in objectmeta.port_number(node_port):
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
            for problem in objectmeta.dns1123_subdomain(external_name.rstrip(".")):
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


def _default_service(service: dict) -> None:
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
        for problem in objectmeta.config_key(str(name)):
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


def _check_secret(secret: dict, old: dict | None) -> list[FieldError]:
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


def _default_secret(secret: dict) -> None:
    # The server folds stringData into data (base64) and never stores stringData.
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = secret.setdefault("data", {})
        if isinstance(data, dict):
            for name, value in string_data.items():
                if isinstance(value, str):
                    data[name] = base64.b64encode(value.encode()).decode("ascii")


def _check_config_map(config_map: dict, old: dict | None) -> list[FieldError]:
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


def _check_endpoints(endpoints: dict, old: dict | None) -> list[FieldError]:
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
                    for problem in objectmeta.dns1123_label(hostname):
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
        return [fielderrors.invalid(path, text, p) for p in objectmeta.dns1123_subdomain(text)]
    version = 4 if address_type == "IPv4" else 6
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        address = None
    if address is None or address.version != version:
        return [fielderrors.invalid(path, text, f"must be a valid {address_type} address")]
    return _endpoint_ip_problems(address, text, path)


def _check_endpoint_slice(endpoint_slice: dict, old: dict | None) -> list[FieldError]:
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
            for problem in objectmeta.dns1123_label(hostname):
                errors.append(fielderrors.invalid(f"{path}.hostname", hostname, problem))
        node_name = endpoint.get("nodeName")
        if isinstance(node_name, str) and node_name:
            for problem in objectmeta.dns1123_subdomain(node_name):
                errors.append(fielderrors.invalid(f"{path}.nodeName", node_name, problem))
    ports = _list(endpoint_slice.get("ports"))
    if len(ports) > _MAX_SLICE_PORTS:
        errors.append(fielderrors.too_many("ports", len(ports), _MAX_SLICE_PORTS))
    errors.extend(_check_named_ports(ports, "ports", name_required=False))
    if old is not None and old.get("addressType") != address_type:
        errors.append(_immutable("addressType", address_type))
    return errors


def _default_endpoint_slice(endpoint_slice: dict) -> None:
    for port in _list(endpoint_slice.get("ports")):
        if isinstance(port, dict):
            port.setdefault("name", "")


def _check_lease(lease: dict, old: dict | None) -> list[FieldError]:
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


def _check_namespace(namespace: dict, old: dict | None) -> list[FieldError]:
    errors = []
    for position, finalizer in enumerate(_list(_dict(namespace.get("spec")).get("finalizers"))):
        if isinstance(finalizer, str):
            for problem in objectmeta.qualified_name(finalizer):
                errors.append(
                    fielderrors.invalid(f"spec.finalizers[{position}]", finalizer, problem)
                )
    return errors


CORE_KINDS: tuple[CoreKind, ...] = (
    CoreKind(
        group="",
        version="v1",
        kind="Namespace",
        plural="namespaces",
        singular="namespace",
        namespaced=False,
        short_names=("ns",),
        categories=(),
        subresources={"status": {}},
        printer_columns=({"name": "Status", "type": "string", "jsonPath": ".status.phase"},),
        model="V1Namespace",
        name_check=objectmeta.dns1123_label,
        enums_and_defaults=(("status.phase", {"enum": ["Active", "Terminating"]}),),
        check=_check_namespace,
    ),
    CoreKind(
        group="",
        version="v1",
        kind="Secret",
        plural="secrets",
        singular="secret",
        namespaced=True,
        short_names=(),
        categories=(),
        subresources={},
        printer_columns=({"name": "Type", "type": "string", "jsonPath": ".type"},),
        model="V1Secret",
        name_check=objectmeta.dns1123_subdomain,
        enums_and_defaults=(("type", {"default": "Opaque"}),),
        check=_check_secret,
        default=_default_secret,
    ),
    CoreKind(
        group="",
        version="v1",
        kind="ConfigMap",
        plural="configmaps",
        singular="configmap",
        namespaced=True,
        short_names=("cm",),
        categories=(),
        subresources={},
        printer_columns=(),
        model="V1ConfigMap",
        name_check=objectmeta.dns1123_subdomain,
        check=_check_config_map,
    ),
    CoreKind(
        group="",
        version="v1",
        kind="Service",
        plural="services",
        singular="service",
        namespaced=True,
        short_names=("svc",),
        categories=("all",),
        subresources={"status": {}},
        printer_columns=(
            {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
            {"name": "Cluster-IP", "type": "string", "jsonPath": ".spec.clusterIP"},
        ),
        model="V1Service",
        name_check=objectmeta.dns1035_label,
        enums_and_defaults=(
            (
                "spec.type",
                {
                    "enum": ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
                    "default": "ClusterIP",
                },
            ),
            ("spec.sessionAffinity", {"enum": ["ClientIP", "None"], "default": "None"}),
            ("spec.externalTrafficPolicy", {"enum": ["Cluster", "Local"]}),
            ("spec.internalTrafficPolicy", {"enum": ["Cluster", "Local"]}),
            (
                "spec.ipFamilyPolicy",
                {"enum": ["PreferDualStack", "RequireDualStack", "SingleStack"]},
            ),
            ("spec.ports[].protocol", {"enum": _PROTOCOLS, "default": "TCP"}),
        ),
        check=_check_service,
        default=_default_service,
    ),
    CoreKind(
        group="",
        version="v1",
        kind="Endpoints",
        plural="endpoints",
        singular="endpoints",
        namespaced=True,
        short_names=("ep",),
        categories=(),
        subresources={},
        printer_columns=(),
        model="V1Endpoints",
        name_check=objectmeta.dns1123_subdomain,
        enums_and_defaults=(
            ("subsets[].ports[].protocol", {"enum": _PROTOCOLS, "default": "TCP"}),
        ),
        check=_check_endpoints,
    ),
    CoreKind(
        group="discovery.k8s.io",
        version="v1",
        kind="EndpointSlice",
        plural="endpointslices",
        singular="endpointslice",
        namespaced=True,
        short_names=(),
        categories=(),
        subresources={},
        printer_columns=(
            {"name": "AddressType", "type": "string", "jsonPath": ".addressType"},
        ),
        model="V1EndpointSlice",
        name_check=objectmeta.dns1123_subdomain,
        enums_and_defaults=(
            ("addressType", {"enum": ["FQDN", "IPv4", "IPv6"]}),
            ("ports[].protocol", {"enum": _PROTOCOLS, "default": "TCP"}),
        ),
        check=_check_endpoint_slice,
        default=_default_endpoint_slice,
    ),
    CoreKind(
        group="coordination.k8s.io",
        version="v1",
        kind="Lease",
        plural="leases",
        singular="lease",
        namespaced=True,
        short_names=(),
        categories=(),
        subresources={},
        printer_columns=(
            {"name": "Holder", "type": "string", "jsonPath": ".spec.holderIdentity"},
        ),
        model="V1Lease",
        name_check=objectmeta.dns1123_subdomain,
        enums_and_defaults=(("spec.strategy", {"enum": ["OldestEmulationVersion"]}),),
        check=_check_lease,
    ),
    # The kinds an agent's installation consists of (docker/agent/): checked structurally.
    CoreKind(
        group="",
        version="v1",
        kind="ServiceAccount",
        plural="serviceaccounts",
        singular="serviceaccount",
        namespaced=True,
        short_names=("sa",),
        categories=(),
        subresources={},
        printer_columns=(),
        model="V1ServiceAccount",
        name_check=objectmeta.dns1123_subdomain,
    ),
    CoreKind(
        group="rbac.authorization.k8s.io",
        version="v1",
        kind="ClusterRole",
        plural="clusterroles",
        singular="clusterrole",
        namespaced=False,
        short_names=(),
        categories=(),
        subresources={},
        printer_columns=(),
        model="V1ClusterRole",
        name_check=objectmeta.dns1123_subdomain,
    ),
    CoreKind(
        group="rbac.authorization.k8s.io",
        version="v1",
        kind="ClusterRoleBinding",
        plural="clusterrolebindings",
        singular="clusterrolebinding",
        namespaced=False,
        short_names=(),
        categories=(),
        subresources={},
        printer_columns=(),
        model="V1ClusterRoleBinding",
        name_check=objectmeta.dns1123_subdomain,
    ),
    CoreKind(
        group="rbac.authorization.k8s.io",
        version="v1",
        kind="Role",
        plural="roles",
        singular="role",
        namespaced=True,
        short_names=(),
        categories=(),
        subresources={},
        printer_columns=(),
        model="V1Role",
        name_check=objectmeta.dns1123_subdomain,
    ),
    CoreKind(
        group="rbac.authorization.k8s.io",
        version="v1",
        kind="RoleBinding",
        plural="rolebindings",
        singular="rolebinding",
        namespaced=True,
        short_names=(),
        categories=(),
        subresources={},
        printer_columns=(),
        model="V1RoleBinding",
        name_check=objectmeta.dns1123_subdomain,
    ),
    CoreKind(
        group="apps",
        version="v1",
        kind="StatefulSet",
        plural="statefulsets",
        singular="statefulset",
        namespaced=True,
        short_names=("sts",),
        categories=("all",),
        subresources={"status": {}},
        printer_columns=(),
        model="V1StatefulSet",
        name_check=objectmeta.dns1123_subdomain,
    ),
    CoreKind(
        group="apps",
        version="v1",
        kind="Deployment",
        plural="deployments",
        singular="deployment",
        namespaced=True,
        short_names=("deploy",),
        categories=("all",),
        subresources={"status": {}},
        printer_columns=(),
        model="V1Deployment",
        name_check=objectmeta.dns1123_subdomain,
    ),
)
