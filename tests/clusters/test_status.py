"""`POST status`: deployment status per (publish, cluster), idempotent, with derived state."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from publishing.choices import DeploymentState
from publishing.deployments import derive_state
from publishing.models import DeploymentStatus, PublishRevision
from publishing.services import withdraw
from tests.factories import ClusterFactory

from .conftest import committed, published

pytestmark = pytest.mark.django_db
URL = "/api/v1/agent/status"


def ref(kind: str, name: str, api_version: str = "gateway.networking.k8s.io/v1") -> dict:
    return {"api_version": api_version, "kind": kind, "namespace": "imp-gateway", "name": name}


GATEWAY, ROUTE = ref("Gateway", "shop-dev"), ref("HTTPRoute", "shop-dev-orders")


def ready_report(publish_id: int, revision: int = 1, **changes) -> dict:
    report = {
        "publish_id": publish_id,
        "revision": revision,
        "objects": {"created": [GATEWAY], "configured": [ROUTE], "pruned": [ref("HTTPRoute", "x")]},
        "conditions": [
            {"object": GATEWAY, "type": "Accepted", "status": "True", "reason": "Accepted"},
            {"object": GATEWAY, "type": "Programmed", "status": "True"},
            {"object": ROUTE, "type": "ResolvedRefs", "status": "True"},
        ],
        "errors": [],
        "drift": [],
    }
    report.update(changes)
    return report


def post(client, *reports):
    return client.post(URL, {"reports": list(reports)}, content_type="application/json")


def test_a_report_is_stored_per_publish_and_cluster(agent_client, cluster):
    publish = published(cluster)
    response = post(agent_client, ready_report(publish.pk))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "results": [{"publish_id": publish.pk, "result": "stored", "state": "Ready"}]
    }
    row = DeploymentStatus.objects.get(publish_ref=publish.pk, cluster=cluster)
    assert row.publish == publish and row.applied_revision == 1
    assert row.state == DeploymentState.READY and row.reported_at is not None
    created = ["gateway.networking.k8s.io/v1 Gateway imp-gateway/shop-dev"]
    assert row.objects_summary["created"] == created
    assert row.objects_summary["unchanged"] == [] and row.objects_summary["failed"] == []
    assert len(row.objects_summary["pruned"]) == 1
    assert [c["type"] for c in row.conditions] == ["Accepted", "Programmed", "ResolvedRefs"]


def test_a_repeated_report_changes_nothing(agent_client, cluster):
    publish = published(cluster)
    drift = [{"object": ROUTE, "detected_at": "2026-11-26T01:00:00Z", "fields": ["spec.rules"]}]
    assert post(agent_client, ready_report(publish.pk, drift=drift)).status_code == 200
    before = DeploymentStatus.objects.values().get()
    response = post(agent_client, ready_report(publish.pk, drift=drift))
    assert response.json()["results"][0]["result"] == "unchanged"
    assert DeploymentStatus.objects.values().get() == before
    assert len(before["drift_events"]) == 1


def test_drift_events_accumulate_once_each(agent_client, cluster):
    publish = published(cluster)
    first = {"object": ROUTE, "detected_at": "2026-11-26T01:00:00Z", "action": "reapplied"}
    second = {"object": GATEWAY, "detected_at": "2026-11-26T02:00:00+00:00"}
    post(agent_client, ready_report(publish.pk, drift=[first]))
    post(agent_client, ready_report(publish.pk, drift=[first, second]))
    events = DeploymentStatus.objects.get().drift_events
    assert [(e["object"].split()[1], e["action"]) for e in events] == [
        ("HTTPRoute", "reapplied"),
        ("Gateway", "reported"),
    ]


@pytest.mark.parametrize(
    ("changes", "state"),
    [
        ({}, DeploymentState.READY),
        (
            {"conditions": [{"object": ROUTE, "type": "ResolvedRefs", "status": "False",
                             "reason": "BackendNotFound"}]},
            DeploymentState.DEGRADED,
        ),
        (
            {"conditions": [{"object": GATEWAY, "type": "Programmed", "status": "Unknown"}]},
            DeploymentState.APPLYING,
        ),
        ({"errors": ["admission webhook denied the request"]}, DeploymentState.DEGRADED),
        (
            {"objects": {"failed": [{"object": GATEWAY, "error": "forbidden"}]}, "conditions": []},
            DeploymentState.FAILED,
        ),
        ({"objects": {}, "conditions": []}, DeploymentState.PENDING),
    ],
    ids=["ready", "condition-false", "condition-unknown", "errors", "all-failed", "nothing-yet"],
)
def test_state_is_derived_from_the_report(agent_client, cluster, changes, state):
    publish = published(cluster)
    response = post(agent_client, ready_report(publish.pk, **changes))
    assert response.json()["results"][0]["state"] == state
    assert DeploymentStatus.objects.get().state == state


def test_derive_state_rules():
    assert derive_state({"unchanged": ["x"]}, [], []) == "Ready"
    assert derive_state({"created": ["x"], "failed": [{"object": "y"}]}, [], []) == "Degraded"


def add_revisions(publish, up_to: int) -> None:
    for number in range(2, up_to + 1):
        PublishRevision.objects.create(publish=publish, number=number, spec={},
                                       content_hash=str(number) * 64, action="publish")


def test_a_report_of_an_older_revision_is_stale(agent_client, cluster):
    publish = published(cluster)
    add_revisions(publish, 3)
    post(agent_client, ready_report(publish.pk, revision=3))
    response = post(agent_client, ready_report(publish.pk, revision=2, errors=["late"]))
    assert response.json()["results"][0] == {
        "publish_id": publish.pk, "result": "stale", "state": "Ready"
    }
    assert DeploymentStatus.objects.get().applied_revision == 3


def test_removed_deletes_the_row_once_the_publish_is_gone(agent_client, cluster):
    publish = published(cluster)
    post(agent_client, ready_report(publish.pk))
    # Still published here: the row stays, or a later withdrawal would go unseen.
    response = post(agent_client, {"publish_id": publish.pk, "removed": True})
    assert response.json()["results"][0]["result"] == "still_published"
    assert DeploymentStatus.objects.exists()
    with committed():
        withdraw(publish)
    response = post(agent_client, {"publish_id": publish.pk, "removed": True})
    assert response.json()["results"][0]["result"] == "deleted"
    assert not DeploymentStatus.objects.exists()
    # Saying it again is harmless.
    response = post(agent_client, {"publish_id": publish.pk, "removed": True})
    assert response.json()["results"][0]["result"] == "unchanged"


def test_reports_about_another_clusters_publish_are_refused(agent_client, cluster):
    mine, theirs = published(cluster), published(ClusterFactory())
    response = post(agent_client, ready_report(mine.pk), ready_report(theirs.pk))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert f"#{theirs.pk}" in response.json()["detail"]
    assert not DeploymentStatus.objects.exists()  # nothing of the request was stored


def test_a_moved_publish_is_still_reported_by_its_old_cluster(agent_client, cluster):
    publish = published(cluster)
    post(agent_client, ready_report(publish.pk))
    from publishing.services import move_publish

    with committed():
        move_publish(publish, ClusterFactory())
    assert post(agent_client, ready_report(publish.pk, errors=["prune failed"])).status_code == 200
    assert post(agent_client, {"publish_id": publish.pk, "removed": True}).json()["results"][0][
        "result"
    ] == "deleted"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reports": []}, "reports"),
        ({"reports": [{"publish_id": 1}]}, "revision"),
        ({"reports": [{"publish_id": 1, "revision": 1}, {"publish_id": 1, "revision": 1}]},
         "repeated"),
        ({"reports": [{"publish_id": 1, "revision": 1,
                       "conditions": [{"object": GATEWAY, "type": "Accepted",
                                       "status": "Maybe"}]}]}, "status"),
        ({"reports": [{"publish_id": 1, "revision": 1,
                       "objects": {"created": [{"kind": "Gateway"}]}}]}, "api_version"),
    ],
)
def test_reports_are_validated(agent_client, body, field):
    response = agent_client.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert field in str(response.json()["detail"])


def test_the_cluster_admin_page_shows_the_deployment_status(admin_client, agent_client, cluster):
    publish = published(cluster)
    failing = ready_report(
        publish.pk,
        conditions=[{"object": ROUTE, "type": "ResolvedRefs", "status": "False",
                     "reason": "BackendNotFound"}],
    )
    post(agent_client, failing)
    page = admin_client.get(reverse("admin:clusters_cluster_change", args=[cluster.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Degraded" in body and "ResolvedRefs=False (BackendNotFound)" in body
    assert "created 1" in body


def test_a_report_of_a_revision_that_does_not_exist_is_not_stored(agent_client, cluster):
    """A report may not claim a revision the publish never had: stored, it would have made
    every real report 'stale' for good (found by an attacker with a stolen agent token)."""
    publish = published(cluster)
    response = post(agent_client, ready_report(publish.pk, revision=2_147_483_647))
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"publish_id": publish.pk, "result": "unknown_revision"}
    ]
    assert not DeploymentStatus.objects.filter(applied_revision__gt=1).exists()
    stored = post(agent_client, ready_report(publish.pk, revision=1))
    assert stored.json()["results"][0]["result"] == "stored"
    assert DeploymentStatus.objects.get().applied_revision == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("revision", 2_147_483_648), ("revision", 10**30), ("publish_id", 2**63),
     ("publish_id", -1), ("revision", 0)],
)
def test_numbers_out_of_range_are_refused_with_400(agent_client, cluster, field, value):
    report = ready_report(published(cluster).pk)
    report[field] = value
    response = post(agent_client, report)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid_request"
    assert field in json.dumps(body["detail"])
