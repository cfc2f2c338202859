"""What the API server's registry strategies do to an object before it is stored.

System metadata (uid, creationTimestamp, generation), the status subresource rule (writes to
the main resource keep the stored status, writes to ``/status`` change only status), schema
defaulting (the schema registry's), and what the built-in kinds' strategies add at run time:
a namespace's finalizer, phase and name label, a Service's cluster IP, node ports and
policies.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import threading
from collections.abc import Callable
from typing import Any

from .jsonvalue import json_equal
from .mergeschema import MISSING
from .resources import Resource

Defaulter = Callable[[dict[str, Any]], dict[str, Any]]

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
_SYSTEM_METADATA = ("uid", "creationTimestamp", "generation", "deletionTimestamp",
                    "deletionGracePeriodSeconds", "selfLink")


class Allocator:
    """Cluster IPs and node ports for Services, handed out in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ips = (str(ipaddress.IPv4Address("10.96.0.0") + i) for i in itertools.count(10))
        self._ports = itertools.count(30000)

    def cluster_ip(self) -> str:
        with self._lock:
            return next(self._ips)

    def node_port(self) -> int:
        with self._lock:
            return next(self._ports)


def non_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}


class Strategy:
    """The create and update rules for one resource."""

    def __init__(self, resource: Resource, allocator: Allocator, defaulter: Defaulter) -> None:
        self.resource = resource
        self.allocator = allocator
        self.defaulter = defaulter

    # create -------------------------------------------------------------------------------
    def prepare_for_create(self, obj: dict[str, Any], *, uid: str, now: str) -> None:
        metadata = obj.setdefault("metadata", {})
        for name in _SYSTEM_METADATA:
            metadata.pop(name, None)
        metadata.pop("resourceVersion", None)
        metadata["uid"] = uid
        metadata["creationTimestamp"] = now
        if self.resource.tracks_generation:
            metadata["generation"] = 1
        if self.resource.custom and self.resource.has_status:
            obj.pop("status", None)
        kind = self.resource.kind if not self.resource.custom else ""
        if kind == "Namespace":
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        elif kind == "Service":
            obj["status"] = {"loadBalancer": {}}
            self._default_service(obj, None)
        self._builtin_metadata(obj)
        self.default(obj)

    # update -------------------------------------------------------------------------------
    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        self._keep_system_metadata(new, old)
        if self.resource.has_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        kind = self.resource.kind if not self.resource.custom else ""
        if kind == "Namespace":
            new["spec"] = copy.deepcopy(old.get("spec") or {})
        elif kind == "Service":
            self._default_service(new, old)
        self._builtin_metadata(new)
        self.default(new)
        self._bump_generation(new, old)

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """A write to ``/status`` changes status only (and the managedFields it recorded)."""
        status = new.get("status", MISSING)
        managed = (new.get("metadata") or {}).get("managedFields", MISSING)
        new.clear()
        new.update(copy.deepcopy(old))
        if status is MISSING:
            new.pop("status", None)
        else:
            new["status"] = status
        if managed is MISSING:
            new["metadata"].pop("managedFields", None)
        else:
            new["metadata"]["managedFields"] = managed
        self.default(new)

    def prepare_for_finalize(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """A namespace's ``/finalize`` changes spec.finalizers only."""
        finalizers = (new.get("spec") or {}).get("finalizers") or []
        managed = (new.get("metadata") or {}).get("managedFields", MISSING)
        new.clear()
        new.update(copy.deepcopy(old))
        new["spec"] = {"finalizers": finalizers} if finalizers else {}
        if managed is not MISSING:
            new["metadata"]["managedFields"] = managed

    def default(self, obj: dict[str, Any]) -> None:
        """Schema defaults (and the built-in kinds' defaulting functions), in place."""
        defaulted = self.defaulter(obj)
        obj.clear()
        obj.update(defaulted)

    # helpers ------------------------------------------------------------------------------
    def _keep_system_metadata(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        metadata = new.setdefault("metadata", {})
        old_metadata = old.get("metadata") or {}
        for name in _SYSTEM_METADATA + ("name", "namespace"):
            if name in old_metadata:
                metadata[name] = old_metadata[name]
            else:
                metadata.pop(name, None)

    def _bump_generation(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        if not self.resource.tracks_generation:
            return
        generation = (old.get("metadata") or {}).get("generation", 1)
        if not json_equal(non_metadata(new), non_metadata(old)):
            generation += 1
        new["metadata"]["generation"] = generation

    def _builtin_metadata(self, obj: dict[str, Any]) -> None:
        if not self.resource.custom and self.resource.kind == "Namespace":
            labels = obj["metadata"].setdefault("labels", {})
            labels[NAMESPACE_NAME_LABEL] = obj["metadata"].get("name", "")

    def _default_service(self, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        spec = obj.setdefault("spec", {})
        old_spec = (old or {}).get("spec") or {}
        kind = spec.setdefault("type", "ClusterIP")
        if kind != "ExternalName":
            for name in ("clusterIP", "clusterIPs"):
                if name not in spec and name in old_spec:
                    spec[name] = copy.deepcopy(old_spec[name])
            if not spec.get("clusterIP"):
                spec["clusterIP"] = self.allocator.cluster_ip()
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            if spec["clusterIP"] != "None":
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("sessionAffinity", "None")
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p
                     for p in old_spec.get("ports") or []}
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
            if kind in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
                previous = old_ports.get((port.get("port"), port["protocol"]), {})
                port["nodePort"] = previous.get("nodePort") or self.allocator.node_port()
        if kind in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if kind == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
