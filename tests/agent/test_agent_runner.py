"""The agent's loop body and control-plane client in-process, against the real control plane
(uvicorn on the test database) and a simulated cluster: `Agent.tick()` called directly,
followers that write nothing, access-token refresh before expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from agent import config
from agent.kube import connect
from agent.platform import PlatformClient
from agent.runner import Agent
from clusters.models import Agent as AgentRow

from .agent_harness import (
    AGENT_NAMESPACE,
    deployment,
    make_cluster,
    make_publish,
    publish_now,
    registration_token,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]



def in_process_agent(control_plane, simulated, tmp_path, cluster, name: str, **flags) -> Agent:
    settings = config.resolve({
        "server": control_plane.url, "registration_token": registration_token(cluster),
        "token_file": str(tmp_path / f"{name}.json"), "kubeconfig": str(simulated.kubeconfig),
        "namespace": AGENT_NAMESPACE, "name": name, "metrics_port": "0",
        "lease_duration": "2", "renew_deadline": "1.3", "retry_period": "0.25", **flags,
    }, environ={})
    kube = connect(settings.kubeconfig)
    holder: dict[str, Agent] = {}
    platform = PlatformClient(settings.server, name=name,
                              registration_token=settings.registration_token,
                              token_file=settings.token_file,
                              capabilities=lambda: holder["agent"].capabilities())
    holder["agent"] = Agent(settings, platform=platform, kube=kube)
    return holder["agent"]


def test_tick_applies_reports_and_only_the_leader_writes(control_plane, simulated, tmp_path):
    cluster = make_cluster()
    publish = make_publish(cluster, "orders", routes=2)
    publish_now(publish)
    leader = in_process_agent(control_plane, simulated, tmp_path, cluster, "agent-a")
    follower = in_process_agent(control_plane, simulated, tmp_path, cluster, "agent-b")
    for agent in (leader, follower):
        agent.start()
        assert agent.registered
    cluster.refresh_from_db()
    assert cluster.capabilities["gateway_classes"] == ["envoy-gateway"]
    assert AgentRow.objects.filter(cluster=cluster).count() == 2

    # Nothing received yet: a tick does nothing.
    leader.elector.step()
    assert leader.may_write()
    leader.tick()
    assert simulated.publish_objects(publish.pk) == {}

    for agent in (leader, follower):
        answer = agent.platform.desired_state(None, 0)
        agent._received(answer.document, answer.revision)
    follower.elector.step()
    assert not follower.may_write()
    follower.tick()
    assert simulated.publish_objects(publish.pk) == {}, "a follower writes nothing"

    leader.tick()
    assert len([key for key in simulated.publish_objects(publish.pk) if key[0] == "HTTPRoute"]
               ) == 2
    assert leader.outbox == {}
    status = deployment(publish.pk)
    assert status.applied_revision == 1 and status.state == "Applying"
    assert leader.synced_once and leader.readiness()[0]
    # The same desired state again: nothing to do, nothing written.
    leader.tick()
    assert leader.reconciled_revision == leader.latest_revision
    leader.send_heartbeat()
    leader.elector.release()
    follower.elector.step()
    assert follower.may_write()


def test_stored_access_token_is_refreshed_before_it_expires(control_plane, tmp_path):
    cluster = make_cluster()
    token_file = tmp_path / "token.json"
    client = PlatformClient(control_plane.url, name="agent-a",
                            registration_token=registration_token(cluster),
                            token_file=token_file,
                            capabilities=lambda: {"kubernetes_version": "1.32",
                                                  "gateway_classes": [], "crds": []})
    first = client.token()
    stored = json.loads(token_file.read_text())
    assert stored["token"] == first and stored["agent_id"] == client.agent_id
    # Two thirds of the token's life have passed: the next use refreshes it first.
    now = datetime.now(UTC)
    stored["obtained_at"] = (now - timedelta(seconds=100)).isoformat()
    stored["expires_at"] = (now + timedelta(seconds=10)).isoformat()
    token_file.write_text(json.dumps(stored))
    restarted = PlatformClient(control_plane.url, name="agent-a", token_file=token_file)
    refreshed = restarted.token()
    assert refreshed != first
    assert json.loads(token_file.read_text())["token"] == refreshed
    assert restarted.heartbeat({})["agent_id"] == client.agent_id
