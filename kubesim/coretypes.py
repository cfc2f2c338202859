"""Structure of the built-in kinds the simulated cluster serves, for merging.

These schemas carry what server-side apply and strategic merge patch need from the built-in
Go types: which fields exist, how lists merge (``+listType``/``+listMapKey`` markers) and the
``patchStrategy``/``patchMergeKey`` tags, under the OpenAPI extension names the API server
publishes. Value validation of built-in kinds is the schema registry's job.
"""

from __future__ import annotations

from typing import Any


def _obj(properties: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties or {}}
    schema.update(extra)
    return schema


def _str() -> dict[str, Any]:
    return {"type": "string"}


def _int() -> dict[str, Any]:
    return {"type": "integer"}


def _bool() -> dict[str, Any]:
    return {"type": "boolean"}


def _str_map() -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {"type": "string"}}


def _atomic(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items, "x-kubernetes-list-type": "atomic"}


def _set(items: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "array", "items": items or _str(), "x-kubernetes-list-type": "set"}


def _map_list(items: dict[str, Any], *keys: str, patch_key: str = "") -> dict[str, Any]:
    schema = {
        "type": "array",
        "items": items,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": list(keys),
    }
    if patch_key:
        schema["x-kubernetes-patch-merge-key"] = patch_key
        schema["x-kubernetes-patch-strategy"] = "merge"
    return schema


_INT_OR_STRING = {"x-kubernetes-int-or-string": True}

OBJECT_META = _obj(
    {
        **{name: _str() for name in ("name", "generateName", "namespace", "selfLink", "uid",
                                     "resourceVersion", "creationTimestamp",
                                     "deletionTimestamp")},
        "generation": _int(),
        "deletionGracePeriodSeconds": _int(),
        "labels": _str_map(),
        "annotations": _str_map(),
        "finalizers": {**_set(), "x-kubernetes-patch-strategy": "merge"},
        "ownerReferences": _map_list(
            _obj({"apiVersion": _str(), "kind": _str(), "name": _str(), "uid": _str(),
                  "controller": _bool(), "blockOwnerDeletion": _bool()}),
            "uid", patch_key="uid",
        ),
        "managedFields": _atomic({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
    },
    description="ObjectMeta is metadata that all persisted resources must have.",
)

_CONDITION = _obj(
    {
        "type": _str(),
        "status": _str(),
        "observedGeneration": _int(),
        "lastTransitionTime": _str(),
        "reason": _str(),
        "message": _str(),
    }
)

_OBJECT_REFERENCE = _obj(
    {
        name: _str()
        for name in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                     "fieldPath")
    },
    **{"x-kubernetes-map-type": "atomic"},
)

_SERVICE_PORT = _obj(
    {
        "name": _str(),
        "protocol": {"type": "string", "default": "TCP"},
        "appProtocol": _str(),
        "port": _int(),
        "targetPort": _INT_OR_STRING,
        "nodePort": _int(),
    }
)

_LOAD_BALANCER_STATUS = _obj(
    {
        "ingress": _atomic(
            _obj(
                {
                    "ip": _str(),
                    "hostname": _str(),
                    "ipMode": _str(),
                    "ports": _atomic(_obj({"port": _int(), "protocol": _str(),
                                           "error": _str()})),
                }
            )
        )
    }
)

_ENDPOINT_ADDRESS = _obj(
    {"ip": _str(), "hostname": _str(), "nodeName": _str(), "targetRef": _OBJECT_REFERENCE}
)

_ENDPOINT_PORT = _obj(
    {"name": _str(), "port": _int(), "protocol": _str(), "appProtocol": _str()}
)

_ANY_OBJECT = _obj(None, **{"x-kubernetes-preserve-unknown-fields": True})

SCHEMAS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("", "v1", "Namespace"): _obj(
        {
            "spec": _obj({"finalizers": _atomic(_str())}),
            "status": _obj(
                {
                    "phase": _str(),
                    "conditions": _map_list(_CONDITION, "type", patch_key="type"),
                }
            ),
        }
    ),
    ("", "v1", "Node"): _obj(
        {
            "spec": _obj(
                {
                    "podCIDR": _str(),
                    "podCIDRs": {**_set(), "x-kubernetes-patch-strategy": "merge"},
                    "providerID": _str(),
                    "unschedulable": _bool(),
                    "taints": _atomic(_obj({"key": _str(), "value": _str(), "effect": _str(),
                                            "timeAdded": _str()})),
                    "configSource": _ANY_OBJECT,
                    "externalID": _str(),
                }
            ),
            "status": _obj(
                {
                    "capacity": _str_map(),
                    "allocatable": _str_map(),
                    "phase": _str(),
                    "conditions": _map_list(
                        _obj({"type": _str(), "status": _str(), "lastHeartbeatTime": _str(),
                              "lastTransitionTime": _str(), "reason": _str(),
                              "message": _str()}),
                        "type", patch_key="type",
                    ),
                    "addresses": _map_list(_obj({"type": _str(), "address": _str()}), "type",
                                           patch_key="type"),
                    "daemonEndpoints": _ANY_OBJECT,
                    "nodeInfo": _obj({name: _str() for name in (
                        "machineID", "systemUUID", "bootID", "kernelVersion", "osImage",
                        "containerRuntimeVersion", "kubeletVersion", "kubeProxyVersion",
                        "operatingSystem", "architecture")} | {"swap": _ANY_OBJECT}),
                    "images": _atomic(_ANY_OBJECT),
                    "volumesInUse": _atomic(_str()),
                    "volumesAttached": _atomic(_ANY_OBJECT),
                    "config": _ANY_OBJECT,
                    "runtimeHandlers": _atomic(_ANY_OBJECT),
                    "features": _ANY_OBJECT,
                    "declaredFeatures": _atomic(_str()),
                }
            ),
        }
    ),
    ("", "v1", "Secret"): _obj(
        {
            "data": _str_map(),
            "stringData": _str_map(),
            "type": _str(),
            "immutable": _bool(),
        }
    ),
    ("", "v1", "ConfigMap"): _obj(
        {"data": _str_map(), "binaryData": _str_map(), "immutable": _bool()}
    ),
    ("", "v1", "Service"): _obj(
        {
            "spec": _obj(
                {
                    "ports": _map_list(_SERVICE_PORT, "port", "protocol", patch_key="port"),
                    "selector": {**_str_map(), "x-kubernetes-map-type": "atomic"},
                    "clusterIP": _str(),
                    "clusterIPs": _atomic(_str()),
                    "type": _str(),
                    "externalIPs": _atomic(_str()),
                    "sessionAffinity": _str(),
                    "loadBalancerIP": _str(),
                    "loadBalancerSourceRanges": _atomic(_str()),
                    "externalName": _str(),
                    "externalTrafficPolicy": _str(),
                    "healthCheckNodePort": _int(),
                    "publishNotReadyAddresses": _bool(),
                    "sessionAffinityConfig": _obj(
                        {"clientIP": _obj({"timeoutSeconds": _int()})}
                    ),
                    "ipFamilies": _atomic(_str()),
                    "ipFamilyPolicy": _str(),
                    "allocateLoadBalancerNodePorts": _bool(),
                    "loadBalancerClass": _str(),
                    "internalTrafficPolicy": _str(),
                    "trafficDistribution": _str(),
                }
            ),
            "status": _obj(
                {
                    "loadBalancer": _LOAD_BALANCER_STATUS,
                    "conditions": _map_list(_CONDITION, "type", patch_key="type"),
                }
            ),
        }
    ),
    ("", "v1", "Endpoints"): _obj(
        {
            "subsets": _atomic(
                _obj(
                    {
                        "addresses": _atomic(_ENDPOINT_ADDRESS),
                        "notReadyAddresses": _atomic(_ENDPOINT_ADDRESS),
                        "ports": _atomic(_ENDPOINT_PORT),
                    }
                )
            )
        }
    ),
    ("discovery.k8s.io", "v1", "EndpointSlice"): _obj(
        {
            "addressType": _str(),
            "endpoints": _atomic(
                _obj(
                    {
                        "addresses": _set(),
                        "conditions": _obj(
                            {"ready": _bool(), "serving": _bool(), "terminating": _bool()}
                        ),
                        "hostname": _str(),
                        "targetRef": _OBJECT_REFERENCE,
                        "deprecatedTopology": _str_map(),
                        "nodeName": _str(),
                        "zone": _str(),
                        "hints": _obj(
                            {
                                "forZones": _atomic(_obj({"name": _str()})),
                                "forNodes": _atomic(_obj({"name": _str()})),
                            }
                        ),
                    }
                )
            ),
            "ports": _atomic(_ENDPOINT_PORT),
        }
    ),
    ("", "v1", "Event"): _obj(
        {
            "involvedObject": _OBJECT_REFERENCE,
            "reason": _str(),
            "message": _str(),
            "source": _obj({"component": _str(), "host": _str()}),
            "firstTimestamp": _str(),
            "lastTimestamp": _str(),
            "count": _int(),
            "type": _str(),
            "eventTime": _str(),
            "series": _obj({"count": _int(), "lastObservedTime": _str()}),
            "action": _str(),
            "related": _OBJECT_REFERENCE,
            "reportingComponent": _str(),
            "reportingInstance": _str(),
        }
    ),
    ("events.k8s.io", "v1", "Event"): _obj(
        {
            "regarding": _OBJECT_REFERENCE,
            "reason": _str(),
            "note": _str(),
            "deprecatedSource": _obj({"component": _str(), "host": _str()}),
            "deprecatedFirstTimestamp": _str(),
            "deprecatedLastTimestamp": _str(),
            "deprecatedCount": _int(),
            "type": _str(),
            "eventTime": _str(),
            "series": _obj({"count": _int(), "lastObservedTime": _str()}),
            "action": _str(),
            "related": _OBJECT_REFERENCE,
            "reportingController": _str(),
            "reportingInstance": _str(),
        }
    ),
    ("coordination.k8s.io", "v1", "Lease"): _obj(
        {
            "spec": _obj(
                {
                    "holderIdentity": _str(),
                    "leaseDurationSeconds": _int(),
                    "acquireTime": _str(),
                    "renewTime": _str(),
                    "leaseTransitions": _int(),
                    "strategy": _str(),
                    "preferredHolder": _str(),
                }
            )
        }
    ),
    # The kinds of an agent installation (docker/agent/). Their nested structure is kept
    # whole (granular maps, atomic lists), which is how SSA treats them for our manifests.
    ("", "v1", "ServiceAccount"): _obj(
        {
            "secrets": _atomic(_ANY_OBJECT),
            "imagePullSecrets": _atomic(_ANY_OBJECT),
            "automountServiceAccountToken": _bool(),
        }
    ),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"): _obj(
        {"rules": _atomic(_ANY_OBJECT), "aggregationRule": _ANY_OBJECT}
    ),
    ("rbac.authorization.k8s.io", "v1", "Role"): _obj({"rules": _atomic(_ANY_OBJECT)}),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"): _obj(
        {"roleRef": _ANY_OBJECT, "subjects": _atomic(_ANY_OBJECT)}
    ),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"): _obj(
        {"roleRef": _ANY_OBJECT, "subjects": _atomic(_ANY_OBJECT)}
    ),
    ("apps", "v1", "StatefulSet"): _obj({"spec": _ANY_OBJECT, "status": _ANY_OBJECT}),
    ("apps", "v1", "Deployment"): _obj({"spec": _ANY_OBJECT, "status": _ANY_OBJECT}),
}
