"""Deployment status: what each cluster's agents report about each publish, and what they
must remove.

One DeploymentStatus row per (publish, cluster) exists from the moment the cluster's agents
are first served the publish until they report its objects removed. A row whose publish is no
longer published on that cluster (withdrawn, moved, deleted) is a removal the agents are told
about; `publish_ref` keeps the publish id after the publish is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from clusters.protocol import (
    MAX_ENTRIES_PER_LIST,
    PublishReport,
    Removal,
    StatusOutcome,
)

from .choices import DeploymentState, PublishStatus
from .models import DeploymentStatus, ProductPublish, PublishRevision

_OBJECT_CATEGORIES = ("created", "configured", "unchanged", "pruned")


class ReportRefused(Exception):
    """A status report names publishes its cluster has nothing to do with; nothing is stored."""

    def __init__(self, publish_ids: Sequence[int]) -> None:
        self.publish_ids = sorted(set(publish_ids))
        super().__init__(
            "publish_id: these publishes are not deployed to this agent's cluster: "
            + ", ".join(f"#{pk}" for pk in self.publish_ids)
        )


def removals_for_cluster(cluster_id: int, served: set[int]) -> tuple[list[Removal], set[int]]:
    """The publishes the cluster's agents must remove, and every publish id with a row there.

    `served` are the publishes currently published on the cluster; every other tracked
    publish is a removal, with the reason it went.
    """
    rows = DeploymentStatus.objects.filter(cluster_id=cluster_id).values_list(
        "publish_ref", "publish_id", "publish__cluster_id"
    )
    removals: list[Removal] = []
    tracked: set[int] = set()
    for publish_ref, publish_id, publish_cluster_id in rows.order_by("publish_ref"):
        tracked.add(publish_ref)
        if publish_ref in served:
            continue
        if publish_id is None:
            reason = "deleted"
        elif publish_cluster_id != cluster_id:
            reason = "moved"
        else:
            reason = "withdrawn"
        removals.append({"publish_id": publish_ref, "reason": reason})
    return removals, tracked


def ensure_deployment_rows(cluster_id: int, publish_ids: Iterable[int]) -> None:
    """Start tracking publishes the cluster's agents are about to be served (state Pending)."""
    rows = [
        DeploymentStatus(publish_id=pk, publish_ref=pk, cluster_id=cluster_id)
        for pk in sorted(set(publish_ids))
    ]
    if rows:
        DeploymentStatus.objects.bulk_create(rows, ignore_conflicts=True)


# --- Reports -------------------------------------------------------------------------------


def _object_name(ref: dict[str, Any]) -> str:
    namespace = ref.get("namespace") or ""
    where = f"{namespace}/{ref['name']}" if namespace else ref["name"]
    return f"{ref['api_version']} {ref['kind']} {where}"


@dataclass(frozen=True)
class _Stored:
    """The fields of a DeploymentStatus that a report sets."""

    state: str
    applied_revision: int | None
    objects_summary: dict
    conditions: list
    errors: list


def derive_state(objects: dict, conditions: list[dict], errors: list[str]) -> str:
    """The deployment state a report implies.

    Failed: something failed and nothing applied; Degraded: something failed, or a condition
    is False; Applying: a condition is still Unknown; Pending: nothing reported yet;
    Ready: objects applied and every condition True.
    """
    applied = sum(len(objects.get(category, [])) for category in _OBJECT_CATEGORIES)
    failed = bool(objects.get("failed")) or bool(errors)
    if failed:
        return DeploymentState.FAILED if applied == 0 else DeploymentState.DEGRADED
    statuses = {condition["status"] for condition in conditions}
    if "False" in statuses:
        return DeploymentState.DEGRADED
    if "Unknown" in statuses:
        return DeploymentState.APPLYING
    if applied == 0 and not conditions:
        return DeploymentState.PENDING
    return DeploymentState.READY


def _summarise(report: PublishReport) -> _Stored:
    objects = report.get("objects") or {}
    summary: dict[str, Any] = {
        category: sorted(_object_name(ref) for ref in objects.get(category, []))
        for category in _OBJECT_CATEGORIES
    }
    summary["failed"] = sorted(
        ({"object": _object_name(item["object"]), "error": item["error"]} for item in
         objects.get("failed", [])),
        key=lambda item: item["object"],
    )
    conditions = sorted(
        (
            {
                "object": _object_name(condition["object"]),
                "type": condition["type"],
                "status": condition["status"],
                "reason": condition.get("reason", ""),
                "message": condition.get("message", ""),
            }
            for condition in report.get("conditions", [])
        ),
        key=lambda item: (item["object"], item["type"]),
    )
    errors = list(report.get("errors", []))
    return _Stored(
        state=derive_state(summary, conditions, errors),
        applied_revision=report.get("revision"),
        objects_summary=summary,
        conditions=conditions,
        errors=errors,
    )


def _merged_drift(existing: list[dict], report: PublishReport) -> list[dict]:
    """Drift events so far plus the reported ones; a repeated event is kept once."""
    events = {(event["object"], event["detected_at"]): event for event in existing}
    for event in report.get("drift", []):
        detected_at = event["detected_at"]
        if not isinstance(detected_at, str):
            detected_at = detected_at.isoformat()
        entry = {
            "object": _object_name(event["object"]),
            "detected_at": detected_at,
            "fields": sorted(event.get("fields", [])),
            "action": event.get("action", "reported"),
        }
        events[(entry["object"], entry["detected_at"])] = entry
    ordered = sorted(events.values(), key=lambda event: (event["detected_at"], event["object"]))
    return ordered[-MAX_ENTRIES_PER_LIST:]


@transaction.atomic
def ingest_status_report(cluster_id: int, reports: Sequence[PublishReport]) -> list[StatusOutcome]:
    """Store what an agent of `cluster_id` reported, publish by publish; idempotent.

    A report equal to what is stored changes nothing; a report about an older revision than
    the stored one is stale and ignored; `removed` deletes the row once the publish is no
    longer published on the cluster. Raises ReportRefused, storing nothing, when a report
    names a publish that neither targets the cluster nor is tracked there.
    """
    publish_ids = sorted({report["publish_id"] for report in reports})
    rows = {
        row.publish_ref: row
        for row in DeploymentStatus.objects.select_for_update().filter(
            cluster_id=cluster_id, publish_ref__in=publish_ids
        )
    }
    publishes = {
        pk: (publish_cluster_id, status)
        for pk, publish_cluster_id, status in ProductPublish.objects.filter(
            pk__in=publish_ids
        ).values_list("pk", "cluster_id", "status")
    }
    latest_revisions = dict(
        PublishRevision.objects.filter(publish_id__in=publish_ids)
        .values("publish_id")
        .annotate(latest=Max("number"))
        .values_list("publish_id", "latest")
    )
    foreign = [
        report["publish_id"]
        for report in reports
        if not report.get("removed")
        and report["publish_id"] not in rows
        and publishes.get(report["publish_id"], (None, None))[0] != cluster_id
    ]
    if foreign:
        raise ReportRefused(foreign)

    now = timezone.now()
    outcomes: list[StatusOutcome] = []
    for report in reports:
        publish_id = report["publish_id"]
        row = rows.get(publish_id)
        publish_cluster_id, publish_status = publishes.get(publish_id, (None, None))
        published_here = (
            publish_cluster_id == cluster_id and publish_status == PublishStatus.PUBLISHED
        )
        if report.get("removed"):
            if published_here:
                # Still desired here: keep tracking it, or a later withdrawal would go unseen.
                outcomes.append({"publish_id": publish_id, "result": "still_published"})
            elif row is None:
                outcomes.append({"publish_id": publish_id, "result": "unchanged"})
            else:
                row.delete()
                rows.pop(publish_id)
                outcomes.append({"publish_id": publish_id, "result": "deleted"})
            continue
        if report.get("revision", 0) > latest_revisions.get(publish_id, 0):
            # No agent can have applied a revision that does not exist; storing it would make
            # every real report look stale.
            outcomes.append({"publish_id": publish_id, "result": "unknown_revision"})
            continue
        stored = _summarise(report)
        if (
            row is not None
            and row.applied_revision is not None
            and stored.applied_revision is not None
            and stored.applied_revision < row.applied_revision
        ):
            outcomes.append({"publish_id": publish_id, "result": "stale", "state": row.state})
            continue
        drift = _merged_drift(row.drift_events if row else [], report)
        values = {
            "state": stored.state,
            "applied_revision": stored.applied_revision,
            "objects_summary": stored.objects_summary,
            "conditions": stored.conditions,
            "errors": stored.errors,
            "drift_events": drift,
        }
        if row is None:
            row = DeploymentStatus.objects.create(
                publish_id=publish_id,
                publish_ref=publish_id,
                cluster_id=cluster_id,
                reported_at=now,
                **values,
            )
            rows[publish_id] = row
            outcomes.append({"publish_id": publish_id, "result": "stored", "state": row.state})
            continue
        if all(getattr(row, field) == value for field, value in values.items()):
            outcomes.append({"publish_id": publish_id, "result": "unchanged", "state": row.state})
            continue
        for field, value in values.items():
            setattr(row, field, value)
        row.reported_at = now
        row.save(update_fields=[*values, "reported_at", "updated"])
        outcomes.append({"publish_id": publish_id, "result": "stored", "state": row.state})
    return outcomes
