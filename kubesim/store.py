"""The object store: one global resourceVersion counter, objects by resource, watch events.

Objects are kept as JSON-compatible dicts in their stored form; readers get deep copies.
Every write takes the next resourceVersion, as etcd's revision does, and appends a watch
event; a bounded history answers watches that start from an older resourceVersion.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

StorageKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace, name)

HISTORY = 10000


@dataclass(frozen=True)
class Event:
    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    storage_key: StorageKey
    namespace: str
    object: dict[str, Any]


class ResourceVersionTooOld(Exception):
    """A watch asked for history the store no longer keeps."""


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._revision = 1
        self._objects: dict[StorageKey, dict[ObjectKey, dict[str, Any]]] = {}
        self._events: deque[Event] = deque(maxlen=HISTORY)
        self._closed = False

    @property
    def revision(self) -> int:
        with self.lock:
            return self._revision

    def get(self, key: StorageKey, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._objects.get(key, {}).get((namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list(self, key: StorageKey, namespace: str | None = None) -> list[dict[str, Any]]:
        """Objects sorted by namespace and name, like etcd's key order."""
        with self.lock:
            items = self._objects.get(key, {})
            keys = sorted(k for k in items if namespace is None or k[0] == namespace)
            return [copy.deepcopy(items[k]) for k in keys]

    def storage_keys(self) -> list[StorageKey]:
        with self.lock:
            return list(self._objects)

    def write(self, key: StorageKey, obj: dict[str, Any], *, created: bool) -> dict[str, Any]:
        """Store ``obj`` under the next resourceVersion and return what was stored."""
        with self.lock:
            self._revision += 1
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = str(self._revision)
            metadata = stored["metadata"]
            namespace = metadata.get("namespace", "")
            self._objects.setdefault(key, {})[(namespace, metadata["name"])] = stored
            self._record("ADDED" if created else "MODIFIED", key, namespace, stored)
            return copy.deepcopy(stored)

    def remove(self, key: StorageKey, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            stored = self._objects.get(key, {}).pop((namespace, name), None)
            if stored is None:
                return None
            self._revision += 1
            # The DELETED event carries the object at the deletion's resourceVersion.
            deleted = copy.deepcopy(stored)
            deleted["metadata"]["resourceVersion"] = str(self._revision)
            self._record("DELETED", key, namespace, deleted)
            return copy.deepcopy(stored)

    def _record(self, kind: str, key: StorageKey, namespace: str, obj: dict[str, Any]) -> None:
        self._events.append(Event(self._revision, kind, key, namespace, copy.deepcopy(obj)))
        self.changed.notify_all()

    def events_after(self, revision: int, key: StorageKey) -> list[Event]:
        """Events for ``key`` newer than ``revision``; raises if they are no longer kept."""
        with self.lock:
            if self._events and revision < self._events[0].resource_version - 1:
                raise ResourceVersionTooOld
            return [e for e in self._events if e.resource_version > revision
                    and e.storage_key == key]

    def wait(self, revision: int, timeout: float) -> bool:
        """Block until the store moves past ``revision`` or it closes; False on timeout."""
        with self.changed:
            return self.changed.wait_for(
                lambda: self._closed or self._revision > revision, timeout
            ) and not self._closed

    def close(self) -> None:
        with self.changed:
            self._closed = True
            self.changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
