"""What the cluster can run, discovered from its API server: the Kubernetes version, the custom
resources it serves and the gateway classes whose controllers are installed.

The control plane validates publishes against this report (a gateway class or CRD the cluster
lacks is refused at publish time) and the translator names GatewayClass objects from it.
"""

from __future__ import annotations

import re
from typing import Any

from clusters.protocol import Capabilities

from .kube import KubeClient, KubeError

GATEWAY_CLASS_API = "gateway.networking.k8s.io/v1"

# GatewayClass spec.controllerName -> Imp-Gateway gateway class. APISIX: 2.x controllers
# default to apisix-ingress-controller (config `controller_name`), 1.x used gateway-controller.
CONTROLLERS: dict[str, str] = {
    "gateway.envoyproxy.io/gatewayclass-controller": "envoy-gateway",
    "gateway.nginx.org/nginx-gateway-controller": "nginx",
    "konghq.com/kic-gateway-controller": "kong",
    "konghq.com/gateway-operator": "kong",
    "traefik.io/gateway-controller": "traefik",
    "apisix.apache.org/apisix-ingress-controller": "apisix",
    "apisix.apache.org/gateway-controller": "apisix",
}

# API groups that Kubernetes itself serves; everything else is a custom resource (or an
# aggregated API, which the control plane treats alike).
BUILT_IN_GROUPS = frozenset({
    "", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
    "apps", "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch",
    "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io", "networking.k8s.io",
    "node.k8s.io", "policy", "rbac.authorization.k8s.io", "resource.k8s.io",
    "scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io",
})

_MINOR = re.compile(r"\d+")


def kubernetes_version(version: dict[str, Any]) -> str:
    """"<major>.<minor>" from /version ("1.32"; managed clusters say minor "32+")."""
    major = str(version.get("major") or "")
    match = _MINOR.match(str(version.get("minor") or ""))
    if major.isdigit() and match:
        return f"{major}.{match.group()}"
    git_version = str(version.get("gitVersion") or "").lstrip("v")
    return ".".join(git_version.split(".")[:2])


def custom_resources(kube: KubeClient) -> list[str]:
    """Every served custom kind as "<group>/<version>/<Kind>", sorted."""
    found: set[str] = set()
    for group_version in kube.api_groups():
        group = group_version.rpartition("/")[0]
        if group in BUILT_IN_GROUPS:
            continue
        try:
            entries = kube.resources(group_version)
        except KubeError as exc:
            if exc.status in (403, 404, 503):
                continue  # an unavailable aggregated API or a group we may not read
            raise
        found.update(
            f"{group_version}/{entry['kind']}" for entry in entries if "/" not in entry["name"]
        )
    return sorted(found)


def _accepted(gateway_class: dict[str, Any]) -> bool:
    conditions = (gateway_class.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Accepted" and c.get("status") == "True" for c in conditions)


def gateway_classes(objects: list[dict[str, Any]]) -> tuple[list[str], dict[str, str]]:
    """The Imp-Gateway classes the GatewayClass objects stand for, and which object to use per
    class when it is not named like the class: one named like the class, else an accepted
    one, else the first by name."""
    candidates: dict[str, list[dict[str, Any]]] = {}
    for item in objects:
        controller = (item.get("spec") or {}).get("controllerName", "")
        imp_class = CONTROLLERS.get(controller)
        if imp_class:
            candidates.setdefault(imp_class, []).append(item)
    names: dict[str, str] = {}
    for imp_class, items in candidates.items():
        ordered = sorted(items, key=lambda item: item["metadata"]["name"])
        if any(item["metadata"]["name"] == imp_class for item in ordered):
            continue
        chosen = next((item for item in ordered if _accepted(item)), ordered[0])
        names[imp_class] = chosen["metadata"]["name"]
    return sorted(candidates), dict(sorted(names.items()))


def discover(kube: KubeClient) -> Capabilities:
    """The cluster's capabilities as the agent protocol reports them."""
    crds = custom_resources(kube)
    objects: list[dict[str, Any]] = []
    if f"{GATEWAY_CLASS_API}/GatewayClass" in crds:
        objects = kube.list(GATEWAY_CLASS_API, "GatewayClass")
    classes, names = gateway_classes(objects)
    capabilities: Capabilities = {
        "kubernetes_version": kubernetes_version(kube.server_version()),
        "gateway_classes": classes,
        "crds": crds,
    }
    if names:
        capabilities["gateway_class_names"] = names
    return capabilities
