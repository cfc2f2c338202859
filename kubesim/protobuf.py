"""Decoding of ``application/vnd.kubernetes.protobuf`` request bodies for built-in kinds.

kubectl's typed clients (``kubectl create namespace|secret|configmap|service ...``) send
protobuf; the answer may be JSON, which they accept too, so only decoding is needed. The field
numbers are those of k8s.io/api's generated.proto. Zero values are dropped afterwards, as the
JSON form of the same object would omit them.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """The body is not a Kubernetes protobuf envelope this server can read."""


# message name -> field number -> (json name, type, repeated)
# types: "string", "bytes" (base64 in JSON), "int", "bool", "time", "microtime",
# "intorstring", "map", "bytesmap" (values base64), "raw-json", or another message name.
_MESSAGES: dict[str, dict[int, tuple[str, str, bool]]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta", False), 2: ("raw", "rawbytes", False),
                3: ("contentEncoding", "string", False), 4: ("contentType", "string", False)},
    "TypeMeta": {1: ("apiVersion", "string", False), 2: ("kind", "string", False)},
    "ObjectMeta": {
        1: ("name", "string", False), 2: ("generateName", "string", False),
        3: ("namespace", "string", False), 4: ("selfLink", "string", False),
        5: ("uid", "string", False), 6: ("resourceVersion", "string", False),
        7: ("generation", "int", False), 8: ("creationTimestamp", "time", False),
        9: ("deletionTimestamp", "time", False),
        10: ("deletionGracePeriodSeconds", "int", False), 11: ("labels", "map", False),
        12: ("annotations", "map", False), 13: ("ownerReferences", "OwnerReference", True),
        14: ("finalizers", "string", True), 17: ("managedFields", "ManagedFieldsEntry", True),
    },
    "OwnerReference": {
        1: ("kind", "string", False), 3: ("name", "string", False), 4: ("uid", "string", False),
        5: ("apiVersion", "string", False), 6: ("controller", "bool", False),
        7: ("blockOwnerDeletion", "bool", False),
    },
    "ManagedFieldsEntry": {
        1: ("manager", "string", False), 2: ("operation", "string", False),
        3: ("apiVersion", "string", False), 4: ("time", "time", False),
        6: ("fieldsType", "string", False), 7: ("fieldsV1", "FieldsV1", False),
        8: ("subresource", "string", False),
    },
    "FieldsV1": {1: ("Raw", "raw-json", False)},
    "Secret": {
        1: ("metadata", "ObjectMeta", False), 2: ("data", "bytesmap", False),
        3: ("type", "string", False), 4: ("stringData", "map", False),
        5: ("immutable", "bool", False),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta", False), 2: ("data", "map", False),
        3: ("binaryData", "bytesmap", False), 4: ("immutable", "bool", False),
    },
    "Namespace": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "NamespaceSpec", False),
                  3: ("status", "NamespaceStatus", False)},
    "NamespaceSpec": {1: ("finalizers", "string", True)},
    "NamespaceStatus": {1: ("phase", "string", False)},
    "Service": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "ServiceSpec", False),
                3: ("status", "ServiceStatus", False)},
    "ServiceSpec": {
        1: ("ports", "ServicePort", True), 2: ("selector", "map", False),
        3: ("clusterIP", "string", False), 4: ("type", "string", False),
        5: ("externalIPs", "string", True), 7: ("sessionAffinity", "string", False),
        8: ("loadBalancerIP", "string", False),
        9: ("loadBalancerSourceRanges", "string", True), 10: ("externalName", "string", False),
        11: ("externalTrafficPolicy", "string", False),
        12: ("healthCheckNodePort", "int", False),
        13: ("publishNotReadyAddresses", "bool", False),
        14: ("sessionAffinityConfig", "SessionAffinityConfig", False),
        17: ("ipFamilyPolicy", "string", False), 18: ("clusterIPs", "string", True),
        19: ("ipFamilies", "string", True), 20: ("allocateLoadBalancerNodePorts", "bool", False),
        21: ("loadBalancerClass", "string", False),
        22: ("internalTrafficPolicy", "string", False),
    },
    "ServicePort": {
        1: ("name", "string", False), 2: ("protocol", "string", False),
        3: ("port", "int", False), 4: ("targetPort", "intorstring", False),
        5: ("nodePort", "int", False), 6: ("appProtocol", "string", False),
    },
    "SessionAffinityConfig": {1: ("clientIP", "ClientIPConfig", False)},
    "ClientIPConfig": {1: ("timeoutSeconds", "int", False)},
    "ServiceStatus": {1: ("loadBalancer", "LoadBalancerStatus", False)},
    "LoadBalancerStatus": {1: ("ingress", "LoadBalancerIngress", True)},
    "LoadBalancerIngress": {1: ("ip", "string", False), 2: ("hostname", "string", False)},
    "Lease": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "LeaseSpec", False)},
    "LeaseSpec": {
        1: ("holderIdentity", "string", False), 2: ("leaseDurationSeconds", "int", False),
        3: ("acquireTime", "microtime", False), 4: ("renewTime", "microtime", False),
        5: ("leaseTransitions", "int", False), 6: ("strategy", "string", False),
        7: ("preferredHolder", "string", False),
    },
    "Time": {1: ("seconds", "int", False), 2: ("nanos", "int", False)},
    "IntOrString": {1: ("type", "int", False), 2: ("intVal", "int", False),
                    3: ("strVal", "string", False)},
    "MapEntry": {1: ("key", "string", False), 2: ("value", "string", False)},
    "BytesMapEntry": {1: ("key", "string", False), 2: ("value", "bytes", False)},
}

KINDS = frozenset({"Secret", "ConfigMap", "Namespace", "Service", "Lease"})
# Fields whose zero value is meaningful in JSON (no omitempty in k8s.io/api).
_KEEP_ZERO = frozenset({"port"})


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    found = []
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 2:
            length, position = _varint(data, position)
            value = data[position:position + length]
            if len(value) != length:
                raise ProtobufError("truncated field")
            position += length
        elif wire == 1:
            value, position = data[position:position + 8], position + 8
        elif wire == 5:
            value, position = data[position:position + 4], position + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        found.append((number, wire, value))
    return found


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _message(data: bytes, name: str) -> dict[str, Any]:
    layout = _MESSAGES[name]
    result: dict[str, Any] = {}
    for number, _wire, raw in _fields(data):
        if number not in layout:
            continue
        field, kind, repeated = layout[number]
        if kind in ("map", "bytesmap"):
            entry = _message(raw, "MapEntry" if kind == "map" else "BytesMapEntry")
            result.setdefault(field, {})[entry.get("key", "")] = entry.get("value", "")
            continue
        value = _scalar(raw, kind)
        if repeated:
            result.setdefault(field, []).append(value)
        else:
            result[field] = value
    return result


def _scalar(raw: Any, kind: str) -> Any:
    if kind == "string":
        return bytes(raw).decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(bytes(raw)).decode("ascii")
    if kind == "rawbytes":
        return bytes(raw)
    if kind == "raw-json":
        return json.loads(bytes(raw) or b"{}")
    if kind == "int":
        return _signed(raw)
    if kind == "bool":
        return bool(raw)
    if kind in ("time", "microtime"):
        moment = _message(raw, "Time")
        if not moment.get("seconds") and not moment.get("nanos"):
            return None
        when = datetime.fromtimestamp(moment.get("seconds", 0), UTC)
        if kind == "microtime":
            micros = moment.get("nanos", 0) // 1000
            return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "intorstring":
        value = _message(raw, "IntOrString")
        return value.get("strVal", "") if value.get("type") == 1 else value.get("intVal", 0)
    return _message(raw, kind)


def _drop_zero(value: Any, name: str = "") -> Any:
    if isinstance(value, dict):
        if "Raw" in value and len(value) == 1:
            return value["Raw"]
        cleaned = {k: _drop_zero(v, k) for k, v in value.items()}
        return {k: v for k, v in cleaned.items()
                if k in _KEEP_ZERO or v not in (None, "", 0, False, {}, [])}
    if isinstance(value, list):
        return [_drop_zero(v) for v in value]
    return value


def decode(body: bytes) -> dict[str, Any]:
    """A JSON-form object from a Kubernetes protobuf envelope (magic, then runtime.Unknown)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf prefix")
    envelope = _message(body[len(MAGIC):], "Unknown")
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise ProtobufError(f"protobuf bodies of kind {kind!r} are not supported")
    obj = _drop_zero(_message(envelope.get("raw", b""), kind))
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}
