"""`GET desired-state`: content, ETag and 304, removals, cost of a no-change poll."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from clusters import desired_state
from clusters.models import Agent, Cluster
from clusters.protocol import MAX_WAIT_SECONDS, etag_matches, format_etag, parse_etag
from clusters.services import bump_desired_state_on_commit
from publishing.choices import DeploymentState, PublishStatus
from publishing.deployments import ingest_status_report
from publishing.models import DeploymentStatus, ProductPublish
from publishing.services import (
    delete_publish,
    move_publish,
    publish_revision,
    rollback,
    withdraw,
)
from tests.factories import ClusterFactory

from .conftest import committed, make_publish, published

pytestmark = pytest.mark.django_db
URL = "/api/v1/agent/desired-state"


def current_revision(cluster: Cluster) -> int:
    return Cluster.objects.get(pk=cluster.pk).desired_state_revision


def test_serves_every_published_publish_of_the_cluster(agent_client, cluster):
    first, second = published(cluster), published(cluster)
    make_publish(cluster)  # a draft: not served
    published(ClusterFactory())  # another cluster's: not served
    response = agent_client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    revision = current_revision(cluster)
    assert response["ETag"] == f'"{revision}"'
    assert body["revision"] == revision
    assert body["cluster"] == {"id": cluster.pk, "name": cluster.name, "namespace": "imp-gateway"}
    assert [item["publish_id"] for item in body["publishes"]] == [first.pk, second.pk]
    item = body["publishes"][0]
    first.refresh_from_db()
    assert item["revision"] == first.current_revision.number == 1
    assert item["content_hash"] == first.current_revision.content_hash
    assert item["spec"] == first.current_revision.spec
    assert body["removals"] == []
    # From now on the agents of the cluster are accountable for these publishes.
    assert set(DeploymentStatus.objects.values_list("publish_ref", "state")) == {
        (first.pk, DeploymentState.PENDING),
        (second.pk, DeploymentState.PENDING),
    }


def test_no_change_poll_is_two_queries_at_most_and_renders_nothing(
    agent_client, cluster, monkeypatch, django_assert_max_num_queries, django_assert_num_queries
):
    published(cluster)
    etag = agent_client.get(URL)["ETag"]

    def no_rendering(cluster_id):
        raise AssertionError("a no-change poll rendered the desired state")

    monkeypatch.setattr(desired_state, "render_desired_state", no_rendering)
    Agent.objects.update(last_seen_at=None)  # last seen is due: the second query writes it
    with django_assert_max_num_queries(2):
        response = agent_client.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response.content == b""
    # Seen a moment ago: only the read.
    with django_assert_num_queries(1):
        assert agent_client.get(URL, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_stale_etag_gets_the_current_state(agent_client, cluster):
    published(cluster)
    old = agent_client.get(URL)["ETag"]
    published(cluster)
    response = agent_client.get(URL, HTTP_IF_NONE_MATCH=old)
    assert response.status_code == 200
    assert parse_etag(response["ETag"]) == parse_etag(old) + 1
    assert len(response.json()["publishes"]) == 2


def test_removals_withdrawn_moved_and_deleted(agent_client, cluster):
    withdrawn, moved, deleted, kept = (published(cluster) for _ in range(4))
    agent_client.get(URL)  # the agent was served all four
    deleted_pk = deleted.pk
    with committed():
        withdraw(withdrawn)
        move_publish(moved, ClusterFactory())
        delete_publish(ProductPublish.objects.get(pk=deleted_pk))
    body = agent_client.get(URL).json()
    assert [item["publish_id"] for item in body["publishes"]] == [kept.pk]
    assert body["removals"] == [
        {"publish_id": withdrawn.pk, "reason": "withdrawn"},
        {"publish_id": moved.pk, "reason": "moved"},
        {"publish_id": deleted_pk, "reason": "deleted"},
    ]
    # The publish's new cluster serves it; its old one forgets it once its agents report it gone.
    ingest_status_report(
        cluster.pk, [{"publish_id": pk, "removed": True} for pk in (withdrawn.pk, deleted_pk)]
    )
    assert agent_client.get(URL).json()["removals"] == [{"publish_id": moved.pk, "reason": "moved"}]


def test_an_unserved_publish_needs_no_removal(agent_client, cluster):
    publish = published(cluster)
    with committed():
        withdraw(publish)  # withdrawn before any agent fetched it
    assert agent_client.get(URL).json()["removals"] == []


def test_withdrawing_and_publishing_again_serves_it_again(agent_client, cluster):
    publish = published(cluster)
    agent_client.get(URL)
    with committed():
        withdraw(publish)
    with committed():
        publish_revision(publish)
    body = agent_client.get(URL).json()
    assert [item["publish_id"] for item in body["publishes"]] == [publish.pk]
    assert body["removals"] == []


def test_wait_is_validated_and_an_unchanged_wait_times_out(agent_client, cluster):
    assert agent_client.get(URL, {"wait": "soon"}).status_code == 400
    assert agent_client.get(URL, {"wait": "-1"}).json()["error"] == "invalid_request"
    etag = agent_client.get(URL)["ETag"]
    started = time.monotonic()
    response = agent_client.get(URL, {"wait": "1"}, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert 0.9 <= time.monotonic() - started < 5
    # No If-None-Match: answered at once, whatever the wait.
    started = time.monotonic()
    assert agent_client.get(URL, {"wait": "30"}).status_code == 200
    assert time.monotonic() - started < 10  # not held for the 30 s


def test_only_get(agent_client):
    response = agent_client.post(URL)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_bump_is_once_per_transaction_and_only_after_commit(django_capture_on_commit_callbacks):
    first, second = ClusterFactory(), ClusterFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            bump_desired_state_on_commit([first.pk])
            bump_desired_state_on_commit([first.pk, second.pk])
            with transaction.atomic():
                bump_desired_state_on_commit([second.pk])
            assert current_revision(first) == 0  # not before commit
    assert len(callbacks) == 1
    assert (current_revision(first), current_revision(second)) == (1, 1)


def test_a_rolled_back_transaction_bumps_nothing(django_capture_on_commit_callbacks):
    cluster = ClusterFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            bump_desired_state_on_commit([cluster.pk])
            raise RuntimeError("rolled back")
    assert current_revision(cluster) == 0


def test_publish_withdraw_rollback_each_bump_once(cluster):
    publish = make_publish(cluster)
    with committed():
        publish_revision(publish)
    assert current_revision(cluster) == 1
    with committed():
        publish_revision(publish)  # nothing changed: no new revision, no bump
    assert current_revision(cluster) == 1
    with committed():
        withdraw(publish)
    assert current_revision(cluster) == 2
    with committed():
        rollback(publish, 1)
    assert current_revision(cluster) == 3
    assert ProductPublish.objects.get(pk=publish.pk).status == PublishStatus.PUBLISHED


def test_etag_helpers():
    assert format_etag(42) == '"42"'
    assert parse_etag('W/"42"') == parse_etag("42") == 42
    assert parse_etag("*") is None and parse_etag('"abc"') is None
    assert etag_matches('"7", "42"', 42) and not etag_matches('"41"', 42)
    assert MAX_WAIT_SECONDS == 60
