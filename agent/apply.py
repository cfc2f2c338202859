"""Server-Side Apply of one publish's manifests, as a change set: created, configured,
unchanged or failed per object.

An object is written only when it is the publish's own: absent, or carrying the managed-by
label and the publish's id. Tenants share clusters; an object that another publish (or anyone
else) owns is never written over, and the result records the conflict instead.

Each object is first applied with `dryRun=All`; when the result equals the live object (its
essence: no status, resourceVersion, generation, managedFields timestamps) nothing is written,
so a reconcile that changes nothing writes nothing. Objects go in the order given (the
translator's dependency order); objects of one kind may go in parallel. A failing object is
retried on transient errors and then recorded as failed, never stopping the others.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from publishing.translation.naming import MANAGED_BY, MANAGED_BY_LABEL, PUBLISH_LABEL

from .kube import KubeClient, KubeError, ObjectKey
from .logs import log_event, warn_event

CREATED = "created"
CONFIGURED = "configured"
UNCHANGED = "unchanged"
FAILED = "failed"

# Server-set metadata that says nothing about what was applied.
_VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "creationTimestamp",
                      "uid", "selfLink")


class LeadershipLost(Exception):
    """This agent may no longer write: another agent leads now."""


@dataclass
class ObjectResult:
    """What applying one manifest did."""

    key: ObjectKey
    action: str
    live: dict[str, Any] | None = None  # the object as it is now (None when failed)
    changed_paths: list[str] = field(default_factory=list)  # where it differed before
    error: str = ""
    conflict: bool = False  # refused: the object belongs to someone else
    # The publish that owns the object this one would have written over, when one does.
    owner: int | None = None


@dataclass
class ChangeSet:
    """The results of applying a list of manifests, in their order."""

    results: list[ObjectResult] = field(default_factory=list)

    def keys(self, action: str) -> list[ObjectKey]:
        return [result.key for result in self.results if result.action == action]

    @property
    def failed(self) -> list[ObjectResult]:
        return [result for result in self.results if result.action == FAILED]

    @property
    def writes(self) -> int:
        return sum(result.action in (CREATED, CONFIGURED) for result in self.results)

    def counts(self) -> dict[str, int]:
        counts = {CREATED: 0, CONFIGURED: 0, UNCHANGED: 0, FAILED: 0}
        for result in self.results:
            counts[result.action] += 1
        return counts


def publish_owner(obj: dict[str, Any]) -> int | None:
    """The id of the publish an object belongs to; None when Imp-Gateway does not manage it."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
        return None
    owner = labels.get(PUBLISH_LABEL, "")
    return int(owner) if owner.isdigit() else None


def conflict(live: dict[str, Any], manifest: dict[str, Any]) -> str:
    """Why `manifest` may not be applied over `live` (empty when it may: the same publish's
    object). Never names the other publish: it may be another tenant's."""
    mine = publish_owner(manifest)
    owner = publish_owner(live)
    if owner is not None and owner == mine:
        return ""
    key = ObjectKey.of(manifest)
    if owner is None:
        return f"conflict: {key} exists and is not managed by Imp-Gateway; left as it is"
    return f"conflict: {key} belongs to another publish; left as it is"


def essence(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without status and the metadata the server sets on every write."""
    trimmed = {key: value for key, value in obj.items() if key != "status"}
    metadata = dict(trimmed.get("metadata") or {})
    for name in _VOLATILE_METADATA:
        metadata.pop(name, None)
    trimmed["metadata"] = metadata
    return trimmed


def owned_fields(obj: dict[str, Any], field_manager: str) -> list[Any]:
    """The field sets `field_manager` holds on an object (per operation and API version)."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return sorted(
        (
            [entry.get("operation", ""), entry.get("apiVersion", ""),
             entry.get("subresource", ""), entry.get("fieldsV1") or {}]
            for entry in entries
            if entry.get("manager") == field_manager
        ),
        key=repr,
    )


def unchanged(live: dict[str, Any], result: dict[str, Any], field_manager: str) -> bool:
    """True when an apply that produced `result` would change nothing on `live`: the same
    content and the same fields owned by us."""
    return essence(live) == essence(result) and owned_fields(live, field_manager) == owned_fields(
        result, field_manager
    )


def _path_element(path: str, key: str) -> str:
    if key.replace("_", "").replace("-", "").isalnum():
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


def changed_paths(before: Any, after: Any, path: str = "", limit: int = 50) -> list[str]:
    """The paths where two JSON values differ ("spec.rules[0].matches",
    'metadata.labels["app.kubernetes.io/name"]'), deepest first found, at most `limit`."""
    found: list[str] = []

    def walk(left: Any, right: Any, where: str) -> None:
        if len(found) >= limit or left == right:
            return
        if isinstance(left, dict) and isinstance(right, dict):
            for key in sorted(set(left) | set(right)):
                walk(left.get(key), right.get(key), _path_element(where, key))
            return
        if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
            for index, (item_left, item_right) in enumerate(zip(left, right, strict=True)):
                walk(item_left, item_right, f"{where}[{index}]")
            return
        found.append(where or ".")

    walk(before, after, path)
    return found


def _apply_one(
    kube: KubeClient,
    manifest: dict[str, Any],
    *,
    field_manager: str,
    may_write: Callable[[], bool],
    attempts: int,
    backoff: float,
) -> ObjectResult:
    key = ObjectKey.of(manifest)
    for attempt in range(1, attempts + 1):
        try:
            live = kube.get(key)
            refused = conflict(live, manifest) if live is not None else ""
            if refused:
                warn_event("apply", kind=key.kind, namespace=key.namespace, name=key.name,
                           result=FAILED, reason="conflict", owner=publish_owner(live))
                return ObjectResult(key, FAILED, error=refused, conflict=True,
                                    owner=publish_owner(live))
            planned = kube.apply(manifest, field_manager=field_manager, dry_run=True)
            if live is not None and unchanged(live, planned, field_manager):
                return ObjectResult(key, UNCHANGED, live=live)
            if not may_write():
                raise LeadershipLost(f"lost leadership before writing {key}")
            written = kube.apply(manifest, field_manager=field_manager)
            if live is None:
                result = ObjectResult(key, CREATED, live=written)
            else:
                paths = changed_paths(essence(live), essence(planned))
                result = ObjectResult(key, CONFIGURED, live=written, changed_paths=paths)
            log_event("apply", kind=key.kind, namespace=key.namespace, name=key.name,
                      result=result.action, fields=",".join(result.changed_paths[:10]))
            return result
        except KubeError as exc:
            if exc.retryable and attempt < attempts:
                # Jittered exponential backoff between tries of this one object.
                time.sleep(backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))  # noqa: S311
                continue
            warn_event("apply", kind=key.kind, namespace=key.namespace, name=key.name,
                       result=FAILED, status=exc.status, error=exc.message[:300])
            return ObjectResult(key, FAILED, error=str(exc)[:1000])
    raise AssertionError("unreachable")  # pragma: no cover


def apply_changeset(
    kube: KubeClient,
    manifests: Iterable[dict[str, Any]],
    *,
    field_manager: str,
    may_write: Callable[[], bool] = lambda: True,
    concurrency: int = 1,
    attempts: int = 3,
    backoff: float = 0.2,
) -> ChangeSet:
    """Apply manifests in order with Server-Side Apply; dry-run first and write only what
    would change. Raises LeadershipLost (after finishing the objects in flight) when
    `may_write` turns False before a write."""
    changeset = ChangeSet()
    ordered = [copy.deepcopy(manifest) for manifest in manifests]

    def one(manifest: dict[str, Any]) -> ObjectResult:
        return _apply_one(kube, manifest, field_manager=field_manager, may_write=may_write,
                          attempts=attempts, backoff=backoff)

    with ThreadPoolExecutor(max_workers=max(1, concurrency),
                            thread_name_prefix="apply") as pool:
        for _kind, group in groupby(ordered, key=lambda manifest: manifest["kind"]):
            batch = list(group)
            if concurrency > 1 and len(batch) > 1:
                changeset.results.extend(pool.map(one, batch))
            else:
                changeset.results.extend(one(manifest) for manifest in batch)
    return changeset
