"""Heartbeats and last seen: every agent request counts, written at most every N seconds; a
Celery beat task, run by a real beat and worker over Redis, marks silent agents disconnected."""

from __future__ import annotations

import subprocess
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clusters.choices import AgentStatus
from clusters.models import Agent, Cluster
from clusters.services import mark_silent_agents_disconnected
from tests.factories import AgentFactory, ClusterFactory

from .conftest import (
    CAPABILITIES,
    celery_command,
    forget_redis_prefix,
    stop_process,
    subprocess_env,
    wait_until,
)

HEARTBEAT = "/api/v1/agent/heartbeat"


@pytest.mark.django_db
def test_heartbeat_keeps_the_agent_connected_and_reports_the_revision(agent_client, agent):
    Agent.objects.filter(pk=agent.pk).update(status=AgentStatus.DISCONNECTED, last_seen_at=None)
    Cluster.objects.filter(pk=agent.cluster_id).update(desired_state_revision=4)
    response = agent_client.post(HEARTBEAT, {}, content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["agent_id"] == agent.pk and body["status"] == "connected"
    assert body["desired_state_revision"] == 4 and body["server_time"].endswith("Z")
    agent.refresh_from_db()
    assert agent.status == AgentStatus.CONNECTED and agent.last_seen_at is not None


@pytest.mark.django_db
def test_heartbeat_reports_new_version_and_capabilities(agent_client, agent):
    response = agent_client.post(
        HEARTBEAT,
        {"version": "0.2.0", "capabilities": CAPABILITIES,
         "gateway_class_names": {"envoy-gateway": "eg"}},
        content_type="application/json",
    )
    assert response.status_code == 200
    agent.refresh_from_db()
    assert agent.version == "0.2.0"
    cluster = Cluster.objects.get(pk=agent.cluster_id)
    assert cluster.capabilities["gateway_class_names"] == {"envoy-gateway": "eg"}
    first_update = cluster.capabilities_updated_at
    # The same capabilities again: nothing is written.
    agent_client.post(HEARTBEAT, {"capabilities": {**CAPABILITIES,
                      "gateway_class_names": {"envoy-gateway": "eg"}}},
                      content_type="application/json")
    assert Cluster.objects.get(pk=agent.cluster_id).capabilities_updated_at == first_update


@pytest.mark.django_db
def test_last_seen_is_written_at_most_every_interval(agent_client, agent, settings):
    settings.AGENT_SEEN_WRITE_INTERVAL = 15
    agent_client.post(HEARTBEAT, {}, content_type="application/json")
    first = Agent.objects.get(pk=agent.pk).last_seen_at
    agent_client.post(HEARTBEAT, {}, content_type="application/json")
    agent_client.get("/api/v1/agent/desired-state")
    assert Agent.objects.get(pk=agent.pk).last_seen_at == first
    Agent.objects.filter(pk=agent.pk).update(last_seen_at=first - timedelta(seconds=16))
    agent_client.get("/api/v1/agent/desired-state")
    assert Agent.objects.get(pk=agent.pk).last_seen_at > first


@pytest.mark.django_db
def test_any_agent_request_reconnects_a_disconnected_agent(agent_client, agent):
    Agent.objects.filter(pk=agent.pk).update(
        status=AgentStatus.DISCONNECTED, last_seen_at=timezone.now()
    )
    assert agent_client.get("/api/v1/agent/desired-state").status_code == 200
    assert Agent.objects.get(pk=agent.pk).status == AgentStatus.CONNECTED


@pytest.mark.django_db
def test_silent_agents_are_marked_disconnected(settings):
    settings.AGENT_DISCONNECT_AFTER = 120
    now = timezone.now()
    silent = AgentFactory(status=AgentStatus.CONNECTED, last_seen_at=now - timedelta(seconds=121))
    recent = AgentFactory(status=AgentStatus.CONNECTED, last_seen_at=now - timedelta(seconds=119))
    never = AgentFactory(status=AgentStatus.CONNECTED, last_seen_at=None)
    assert mark_silent_agents_disconnected(now) == 2
    statuses = dict(Agent.objects.values_list("pk", "status"))
    assert statuses == {
        silent.pk: AgentStatus.DISCONNECTED,
        recent.pk: AgentStatus.CONNECTED,
        never.pk: AgentStatus.DISCONNECTED,
    }


@pytest.mark.django_db
def test_the_admin_shows_last_seen_and_status(admin_client, agent):
    agent_seen = timezone.now()
    Agent.objects.filter(pk=agent.pk).update(status=AgentStatus.CONNECTED, last_seen_at=agent_seen)
    cluster_page = admin_client.get(
        reverse("admin:clusters_cluster_change", args=[agent.cluster_id])
    ).content.decode()
    assert agent.name in cluster_page and "Connected" in cluster_page
    listing = admin_client.get(reverse("admin:clusters_agent_changelist")).content.decode()
    assert "Last seen" in listing and "Connected" in listing
    clusters = admin_client.get(reverse("admin:clusters_cluster_changelist")).content.decode()
    assert "1/1" in clusters


def test_a_real_beat_and_worker_mark_silent_agents_disconnected(
    shared_database, redis_url, tmp_path
):
    cluster = ClusterFactory()
    now = timezone.now()
    silent = AgentFactory(
        cluster=cluster, status=AgentStatus.CONNECTED, last_seen_at=now - timedelta(hours=1)
    )
    alive = AgentFactory(cluster=cluster, status=AgentStatus.CONNECTED, last_seen_at=now)
    shared_database.publish()
    prefix = f"impgateway-test-{uuid.uuid4().hex[:12]}:"
    env = subprocess_env(
        **shared_database.env,
        CELERY_BROKER_URL=redis_url,
        CELERY_KEY_PREFIX=prefix,
        AGENT_DISCONNECT_CHECK_INTERVAL="1",
        AGENT_DISCONNECT_AFTER="300",
    )
    worker = subprocess.Popen(
        [*celery_command(), "worker", "--pool=solo", "--concurrency=1", "--without-heartbeat",
         "--without-gossip", "--without-mingle", "--loglevel=INFO"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    beat = subprocess.Popen(
        [*celery_command(), "beat", "--schedule", str(tmp_path / "beat-schedule"),
         "--max-interval", "1", "--loglevel=INFO"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    def status_of(agent: Agent) -> str:
        rows = shared_database.read("SELECT status FROM clusters_agent WHERE id = ?", (agent.pk,))
        return rows[0][0]

    try:
        marked = wait_until(lambda: status_of(silent) == AgentStatus.DISCONNECTED, timeout=30)
    finally:
        worker_output = stop_process(worker)
        beat_output = stop_process(beat)
        forget_redis_prefix(redis_url, prefix)
    assert marked, f"worker:\n{worker_output[-3000:]}\nbeat:\n{beat_output[-3000:]}"
    assert status_of(alive) == AgentStatus.CONNECTED
    assert "clusters.tasks.mark_silent_agents_disconnected" in worker_output
    assert "Sending due task clusters-mark-silent-agents-disconnected" in beat_output

