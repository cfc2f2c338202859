"""The console's dashboard on the admin index: clusters and their agents, publishes by state
per environment, deployments that are not Ready, and the latest changes. Everything is scoped
by the user's role grants; the number of queries does not grow with the data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Q

from catalog.choices import Environment
from clusters.choices import AgentStatus
from clusters.models import Cluster
from publishing.choices import DeploymentState, PublishStatus
from publishing.models import DeploymentStatus, ProductPublish

from . import rbac
from .models import AuditEvent

ROWS = 10


@dataclass(frozen=True)
class PublishCounts:
    environment: str
    label: str
    by_status: list[tuple[str, str, int]]
    total: int


def clusters(user) -> list[Cluster]:
    """The user's clusters with agents online and offline and when one was last seen."""
    queryset = rbac.restrict(Cluster.objects.all(), user).annotate(
        agents_online=Count("agents", filter=Q(agents__status=AgentStatus.CONNECTED)),
        agents_offline=Count("agents", filter=~Q(agents__status=AgentStatus.CONNECTED)),
        last_seen=Max("agents__last_seen_at"),
    )
    return list(queryset.order_by("name")[:ROWS])


def publish_counts(user) -> list[PublishCounts]:
    """Publishes by status, one row per environment (every status and environment shown)."""
    counts: dict[tuple[str, str], int] = {
        (row["environment"], row["status"]): row["total"]
        for row in rbac.restrict(ProductPublish.objects.all(), user)
        .order_by()
        .values("environment", "status")
        .annotate(total=Count("pk"))
    }
    rows = []
    for environment, label in Environment.choices:
        by_status = [
            (status, status_label, counts.get((environment, status), 0))
            for status, status_label in PublishStatus.choices
        ]
        rows.append(
            PublishCounts(environment, label, by_status, sum(count for *_, count in by_status))
        )
    return rows


def unready_deployments(user) -> list[dict[str, Any]]:
    """Deployments of live publishes that are not Ready, worst and latest first."""
    queryset = (
        rbac.restrict(DeploymentStatus.objects.all(), user)
        .exclude(state=DeploymentState.READY)
        .filter(publish__status=PublishStatus.PUBLISHED)
        .select_related("publish__product", "cluster")
        .order_by("-reported_at", "-pk")
    )
    return [
        {
            "deployment": deployment,
            "last_error": str(deployment.errors[-1]) if deployment.errors else "",
            "false_conditions": [
                condition
                for condition in deployment.conditions or []
                if condition.get("status") != "True"
            ][:3],
        }
        for deployment in queryset[:ROWS]
    ]


def recent_changes(user) -> list[AuditEvent]:
    return list(
        rbac.restrict(AuditEvent.objects.all(), user).select_related("content_type")[:ROWS]
    )


def dashboard(user) -> dict[str, Any]:
    """Everything the dashboard shows, for one user."""
    return {
        "clusters": clusters(user),
        "publish_counts": publish_counts(user),
        "unready_deployments": unready_deployments(user),
        "recent_changes": recent_changes(user),
    }
