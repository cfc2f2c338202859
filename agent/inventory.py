"""Inventories: which objects the agent applied for each publish, kept in the cluster.

One ConfigMap per publish in the agent namespace (`imp-gateway-inventory-<publish id>`,
labelled managed-by imp-gateway) lists the object references. Pruning is the difference
between an inventory and the publish's desired objects; an object whose delete failed stays
listed, so it is tried again. Kept in the cluster, the inventory survives agent restarts and
leader changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from publishing.translation import APPLY_ORDER
from publishing.translation.naming import MANAGED_BY, MANAGED_BY_LABEL, PUBLISH_LABEL

from .apply import LeadershipLost, publish_owner
from .kube import KubeClient, KubeError, ObjectKey
from .logs import log_event, warn_event

NAME_PREFIX = "imp-gateway-inventory-"
INVENTORY_LABEL = "imp-gateway.io/inventory"
SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY},{INVENTORY_LABEL}=true"


def prune_order(keys: Iterable[ObjectKey]) -> list[ObjectKey]:
    """Reverse apply order: routes before the Gateway, the Gateway before its backends."""

    def rank(key: ObjectKey) -> tuple[int, str, str, str]:
        position = APPLY_ORDER.index(key.kind) if key.kind in APPLY_ORDER else -1
        return (-position, key.kind, key.namespace, key.name)

    return sorted(set(keys), key=rank)


@dataclass
class Inventory:
    """The objects of one publish that the agent applied (and has not pruned yet)."""

    publish_id: int
    objects: set[ObjectKey] = field(default_factory=set)
    revision: int | None = None
    content_hash: str = ""

    @property
    def name(self) -> str:
        return f"{NAME_PREFIX}{self.publish_id}"

    def data(self) -> dict[str, str]:
        refs = sorted(
            [key.api_version, key.kind, key.namespace, key.name] for key in self.objects
        )
        return {
            "publish-id": str(self.publish_id),
            "revision": "" if self.revision is None else str(self.revision),
            "content-hash": self.content_hash,
            "objects": json.dumps(refs, separators=(",", ":")),
        }

    @classmethod
    def from_config_map(cls, config_map: dict[str, Any]) -> Inventory | None:
        data = config_map.get("data") or {}
        try:
            publish_id = int(data["publish-id"])
            refs = json.loads(data.get("objects") or "[]")
            objects = {ObjectKey(*ref) for ref in refs}
        except (KeyError, ValueError, TypeError):
            return None
        revision = data.get("revision") or ""
        return cls(
            publish_id=publish_id,
            objects=objects,
            revision=int(revision) if revision.isdigit() else None,
            content_hash=data.get("content-hash", ""),
        )


class InventoryStore:
    """Reads and writes inventories in the agent namespace; writes only what changed."""

    def __init__(self, kube: KubeClient, namespace: str, field_manager: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.field_manager = field_manager
        self._stored: dict[int, dict[str, str]] = {}

    def load_all(self) -> dict[int, Inventory]:
        """Every inventory in the namespace, by publish id."""
        inventories: dict[int, Inventory] = {}
        for config_map in self.kube.list("v1", "ConfigMap", self.namespace, SELECTOR):
            inventory = Inventory.from_config_map(config_map)
            if inventory is None:
                warn_event("inventory_unreadable", name=config_map["metadata"]["name"])
                continue
            inventories[inventory.publish_id] = inventory
            self._stored[inventory.publish_id] = inventory.data()
        for publish_id in set(self._stored) - set(inventories):
            del self._stored[publish_id]
        return inventories

    def save(self, inventory: Inventory, may_write: Callable[[], bool]) -> bool:
        """Store an inventory; True when something was written."""
        data = inventory.data()
        if self._stored.get(inventory.publish_id) == data:
            return False
        if not may_write():
            raise LeadershipLost(f"lost leadership before writing {inventory.name}")
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": inventory.name,
                "namespace": self.namespace,
                "labels": {
                    MANAGED_BY_LABEL: MANAGED_BY,
                    INVENTORY_LABEL: "true",
                    PUBLISH_LABEL: str(inventory.publish_id),
                },
            },
            "data": data,
        }
        self.kube.apply(manifest, field_manager=self.field_manager)
        self._stored[inventory.publish_id] = data
        return True

    def delete(self, publish_id: int, may_write: Callable[[], bool]) -> None:
        if not may_write():
            raise LeadershipLost(f"lost leadership before deleting {NAME_PREFIX}{publish_id}")
        try:
            self.kube.delete(ObjectKey("v1", "ConfigMap", self.namespace,
                                       f"{NAME_PREFIX}{publish_id}"))
        except KubeError as exc:
            if not exc.not_found:
                raise
        self._stored.pop(publish_id, None)


@dataclass
class PruneResult:
    pruned: list[ObjectKey] = field(default_factory=list)
    failed: list[tuple[ObjectKey, str]] = field(default_factory=list)
    # Listed in the inventory but owned by someone else now: left alone, dropped from the list.
    released: list[ObjectKey] = field(default_factory=list)


def prune(
    kube: KubeClient,
    keys: Iterable[ObjectKey],
    publish_id: int,
    may_write: Callable[[], bool],
) -> PruneResult:
    """Delete objects that left a publish's desired state, routes first.

    Deletes only objects that still carry this publish's labels: one that now carries another
    publish's label (or is no longer managed by Imp-Gateway) is left alone and released from
    the inventory.
    """
    result = PruneResult()
    for key in prune_order(keys):
        try:
            live = kube.get(key)
            if live is None:
                result.pruned.append(key)
                continue
            if publish_owner(live) != publish_id:
                log_event("prune_skipped", kind=key.kind, namespace=key.namespace, name=key.name,
                          reason="owned by another publish or manager")
                result.released.append(key)
                continue
            if not may_write():
                raise LeadershipLost(f"lost leadership before deleting {key}")
            kube.delete(key)
            log_event("prune", kind=key.kind, namespace=key.namespace, name=key.name,
                      publish_id=publish_id, result="pruned")
            result.pruned.append(key)
        except KubeError as exc:
            warn_event("prune", kind=key.kind, namespace=key.namespace, name=key.name,
                       publish_id=publish_id, result="failed", status=exc.status,
                      error=exc.message[:300])
            result.failed.append((key, str(exc)[:1000]))
    return result
