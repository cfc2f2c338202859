"""The object store: etcd's part of the API server, with the watch cache's history.

One global resourceVersion counter (etcd's revision): every write takes the next one and
records an event that keeps the object before and after the change. From that history the
store answers watches that start at an older resourceVersion, lists at an exact
resourceVersion and continue tokens (etcd's MVCC reads), until compaction drops it: then those
requests get 410 Gone, as from a real server (k8s.io/apiserver pkg/storage/etcd3/compact.go
compacts every five minutes; pkg/storage/cacher/watch_cache.go keeps a bounded window).

Stored objects are never changed in place: a write stores a new dict, so events can share
them. Readers that mutate get copies (``get``, ``list``, ``snapshot``); events are read-only.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Any

from .jsonvalue import copy_json

StorageKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace, name)

def object_key_text(key: ObjectKey) -> str:
    """An object's etcd key below its resource's prefix: ``namespace/name`` or ``name``."""
    return f"{key[0]}/{key[1]}" if key[0] else key[1]


# Events kept per resource at most, like the watch cache's upper capacity (100 * 1024).
HISTORY = 102_400


@dataclass(frozen=True, slots=True)
class Event:
    """One change: ``object`` after it (for DELETED: the last state, at the deletion's
    resourceVersion) and ``previous`` before it (None for ADDED)."""

    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    storage_key: StorageKey
    namespace: str
    name: str
    object: dict[str, Any]
    previous: dict[str, Any] | None


class ResourceVersionTooOld(Exception):
    """The history at that resourceVersion was compacted."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class ResourceVersionTooLarge(Exception):
    """A resourceVersion the store has not reached yet."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"Too large resource version: {requested}, current: {current}")
        self.requested = requested
        self.current = current


class _History:
    """One resource's events, in resourceVersion order, with a parallel list to bisect."""

    __slots__ = ("events", "versions")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.versions: list[int] = []

    def append(self, event: Event) -> None:
        self.events.append(event)
        self.versions.append(event.resource_version)

    def after(self, revision: int) -> list[Event]:
        return self.events[bisect.bisect_right(self.versions, revision):]

    def drop_through(self, revision: int) -> None:
        cut = bisect.bisect_right(self.versions, revision)
        if cut:
            del self.events[:cut], self.versions[:cut]


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._revision = 1
        # The newest revision whose history is gone: reads at or above it can be answered.
        self._compacted = 1
        self._objects: dict[StorageKey, dict[ObjectKey, dict[str, Any]]] = {}
        self._history: dict[StorageKey, _History] = {}
        self._closed = False

    @property
    def revision(self) -> int:
        with self.lock:
            return self._revision

    @property
    def compacted_revision(self) -> int:
        with self.lock:
            return self._compacted

    # reads ---------------------------------------------------------------------------------
    def get(self, key: StorageKey, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._objects.get(key, {}).get((namespace, name))
            return copy_json(found) if found is not None else None

    def list(self, key: StorageKey, namespace: str | None = None, *,
             copy: bool = True) -> list[dict[str, Any]]:
        """Objects in etcd's key order (``namespace/name``); ``copy=False`` gives the stored
        dicts themselves, for readers that do not change them."""
        with self.lock:
            found = self._sorted(self._objects.get(key, {}), namespace)
            return [copy_json(obj) for obj in found] if copy else found

    def snapshot(self, key: StorageKey, revision: int, namespace: str | None = None, *,
                 copy: bool = True) -> list[dict[str, Any]]:
        """The objects as they were at ``revision`` (etcd's read at a revision), in key
        order; raises ResourceVersionTooOld or ResourceVersionTooLarge."""
        with self.lock:
            self.check_readable(revision)
            objects = dict(self._objects.get(key, {}))
            history = self._history.get(key)
            # Undo the changes made after ``revision``, newest first.
            for event in reversed(history.after(revision) if history else []):
                object_key = (event.namespace, event.name)
                if event.previous is None:
                    objects.pop(object_key, None)
                else:
                    objects[object_key] = event.previous
            found = self._sorted(objects, namespace)
            return [copy_json(obj) for obj in found] if copy else found

    def check_readable(self, revision: int) -> None:
        """Raise unless the state at ``revision`` can still be read."""
        if revision > self._revision:
            raise ResourceVersionTooLarge(revision, self._revision)
        if revision < self._compacted:
            raise ResourceVersionTooOld(revision, self._compacted)

    @staticmethod
    def _sorted(objects: dict[ObjectKey, dict[str, Any]],
                namespace: str | None) -> list[dict[str, Any]]:
        keys = sorted((k for k in objects if namespace is None or k[0] == namespace),
                      key=object_key_text)
        return [objects[k] for k in keys]

    def storage_keys(self) -> list[StorageKey]:
        with self.lock:
            return list(self._objects)

    # writes --------------------------------------------------------------------------------
    def write(self, key: StorageKey, obj: dict[str, Any], *, created: bool) -> dict[str, Any]:
        """Store ``obj`` under the next resourceVersion and return a copy of what was stored."""
        with self.lock:
            self._revision += 1
            stored = copy_json(obj)
            metadata = stored["metadata"]
            metadata["resourceVersion"] = str(self._revision)
            namespace, name = metadata.get("namespace", ""), metadata["name"]
            objects = self._objects.setdefault(key, {})
            previous = objects.get((namespace, name))
            objects[(namespace, name)] = stored
            self._record(Event(self._revision, "ADDED" if created else "MODIFIED", key,
                               namespace, name, stored, previous))
            return copy_json(stored)

    def remove(self, key: StorageKey, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            stored = self._objects.get(key, {}).pop((namespace, name), None)
            if stored is None:
                return None
            self._revision += 1
            # The DELETED event carries the object at the deletion's resourceVersion.
            deleted = {**stored, "metadata": {**stored["metadata"],
                                              "resourceVersion": str(self._revision)}}
            self._record(Event(self._revision, "DELETED", key, namespace, name, deleted,
                               stored))
            return copy_json(stored)

    def _record(self, event: Event) -> None:
        history = self._history.get(event.storage_key)
        if history is None:
            history = self._history[event.storage_key] = _History()
        history.append(event)
        if len(history.events) > HISTORY:
            # The watch cache's window is full: the oldest events go, as after a compaction.
            dropped = history.events[len(history.events) - HISTORY - 1].resource_version
            self._compact_locked(dropped)
        self.changed.notify_all()

    # history -------------------------------------------------------------------------------
    def events_after(self, revision: int, key: StorageKey) -> list[Event]:
        """Events for ``key`` newer than ``revision``; raises if they are no longer kept."""
        with self.lock:
            if revision < self._compacted:
                raise ResourceVersionTooOld(revision, self._compacted)
            history = self._history.get(key)
            return history.after(revision) if history else []

    def compact(self, revision: int | None = None) -> int:
        """Forget the history up to ``revision`` (default: the current one), as etcd's
        compaction does; returns the revision compacted to."""
        with self.lock:
            target = self._revision if revision is None else min(revision, self._revision)
            self._compact_locked(target)
            return self._compacted

    def _compact_locked(self, revision: int) -> None:
        if revision <= self._compacted:
            return
        self._compacted = revision
        for history in self._history.values():
            history.drop_through(revision)

    # waiting -------------------------------------------------------------------------------
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
