"""Drift: live objects that no longer match what the agent applied, on the fields it owns.

A drift check applies a publish's manifests again through `apply_changeset`: the server-side
dry run merges our fields into the live object, so a difference can only come from a field we
own that someone changed or removed (or the whole object deleted). Status, server defaults and
fields that other managers own never differ, so they never look like drift. What differs is
written back with force, taking our fields back, and reported as a drift event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from clusters.protocol import MAX_ENTRIES_PER_LIST, DriftEvent

from .apply import CONFIGURED, CREATED, ChangeSet, apply_changeset
from .conditions import object_ref
from .kube import KubeClient, ObjectKey
from .logs import log_event

DELETED_FIELD = "(object deleted)"
REFUSED_FIELD = "(another publish tried to write this object; it was left as it is)"


def drift_events(changeset: ChangeSet, detected_at: datetime | None = None) -> list[DriftEvent]:
    """One event per object a drift check had to correct."""
    when = (detected_at or datetime.now(UTC)).isoformat(timespec="seconds")
    events: list[DriftEvent] = []
    for result in changeset.results:
        if result.action not in (CREATED, CONFIGURED):
            continue
        fields = [DELETED_FIELD] if result.action == CREATED else result.changed_paths
        events.append({
            "object": object_ref(result.key),
            "detected_at": when,
            "fields": fields[:MAX_ENTRIES_PER_LIST],
            "action": "reapplied",
        })
    return events


def refused_event(key: ObjectKey, detected_at: datetime | None = None) -> DriftEvent:
    """The event an object's owner gets when another publish tried to write over it."""
    return {
        "object": object_ref(key),
        "detected_at": (detected_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "fields": [REFUSED_FIELD],
        "action": "refused",
    }


def check_drift(
    kube: KubeClient,
    manifests: list[dict[str, Any]],
    *,
    publish_id: int,
    field_manager: str,
    may_write: Callable[[], bool],
    concurrency: int = 1,
) -> tuple[ChangeSet, list[DriftEvent]]:
    """Compare a publish's live objects with its manifests and correct what drifted."""
    changeset = apply_changeset(
        kube, manifests, field_manager=field_manager, may_write=may_write,
        concurrency=concurrency,
    )
    events = drift_events(changeset)
    for event in events:
        ref = event["object"]
        log_event("drift", publish_id=publish_id, kind=ref["kind"], namespace=ref["namespace"],
                  name=ref["name"], fields=",".join(event.get("fields", [])[:10]),
                  action="reapplied")
    return changeset, events
