"""High availability: two agents on one cluster elect one leader through a Lease; only the
leader writes; when it is killed the other takes over within the lease duration, applying
what was missed and rewriting nothing that was already right."""

from __future__ import annotations

import time

import pytest

from catalog.models import Route
from clusters.choices import AgentStatus
from clusters.models import Agent

from .agent_harness import (
    AGENT_NAMESPACE,
    AgentProcess,
    SimulatedCluster,
    agent_args,
    deployment,
    free_port,
    make_cluster,
    make_publish,
    metric,
    publish_now,
    registration_token,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]
LEASE_DURATION = 2.0  # agent_args' --lease-duration
WRITES = ('action="created"', 'action="configured"', 'action="pruned"')



def writes(port: int) -> float:
    return sum(metric(port, "impgateway_agent_objects_total", label) for label in WRITES)


def holder(simulated: SimulatedCluster) -> str:
    lease = simulated.sim.get_object("coordination.k8s.io/v1", "Lease", AGENT_NAMESPACE,
                                     "imp-gateway-agent")
    return ((lease or {}).get("spec") or {}).get("holderIdentity") or ""


def versions(simulated: SimulatedCluster, publish_id: int) -> dict:
    return {key: item["metadata"]["resourceVersion"]
            for key, item in simulated.publish_objects(publish_id).items()}


def test_one_leader_writes_and_a_follower_takes_over(control_plane, simulated, tmp_path):
    cluster = make_cluster()
    publish = make_publish(cluster, "orders", routes=3)
    publish_now(publish)
    ports = {"agent-a": free_port(), "agent-b": free_port()}
    agents = {
        name: AgentProcess(
            agent_args(control_plane.url, simulated.kubeconfig, name=name,
                       token=registration_token(cluster), token_file=tmp_path / f"{name}.json",
                       metrics_port=port),
            tmp_path / f"{name}.log",
        )
        for name, port in ports.items()
    }
    try:
        leader = wait_until(lambda: holder(simulated), 20)
        assert leader in agents, leader
        follower = next(name for name in agents if name != leader)
        assert wait_until(lambda: deployment(publish.pk) is not None
                          and deployment(publish.pk).applied_revision == 1, 20), (
            agents[leader].log())
        before = versions(simulated, publish.pk)
        # Only the leader wrote; the follower applied nothing, not even a dry run.
        assert writes(ports[leader]) == len(before)
        assert writes(ports[follower]) == 0
        assert metric(ports[follower], "impgateway_agent_objects_total",
                      'action="unchanged"') == 0
        assert metric(ports[leader], "impgateway_agent_leader") == 1
        assert metric(ports[follower], "impgateway_agent_leader") == 0
        # Every agent reports its own heartbeat.
        assert wait_until(lambda: Agent.objects.filter(
            cluster=cluster, status=AgentStatus.CONNECTED).count() == 2, 10)
        assert wait_until(lambda: "event=heartbeat" in agents[follower].log(), 10)
        time.sleep(1.0)
        assert versions(simulated, publish.pk) == before, "no duplicate writes while both run"

        # The leader dies without releasing the Lease; a new revision arrives meanwhile.
        agents[leader].kill()
        killed_at = time.monotonic()
        Route.objects.filter(service__name="orders-service", name="route-1").update(
            path="/orders/v1/moved")
        assert publish_now(publish) == 2
        assert wait_until(lambda: holder(simulated) == follower, LEASE_DURATION + 3,
                          interval=0.05), agents[follower].log()
        took_over_after = time.monotonic() - killed_at
        # client-go semantics: the lease duration after the follower last saw a renewal,
        # plus at most one retry period of the follower's loop.
        assert took_over_after < LEASE_DURATION + 0.75, took_over_after
        assert wait_until(lambda: deployment(publish.pk).applied_revision == 2, 15), (
            agents[follower].log())
        after = versions(simulated, publish.pk)
        rewritten = {key for key, version in after.items() if before.get(key) != version}
        # Nothing lost (the moved route is there) and nothing written twice: the new leader
        # wrote exactly the objects whose content changed.
        moved = [item for (kind, _), item in simulated.publish_objects(publish.pk).items()
                 if kind == "HTTPRoute"
                 and item["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/orders/v1/moved"]
        assert len(moved) == 1
        assert rewritten and writes(ports[follower]) == len(rewritten), (
            rewritten, agents[follower].log())
        assert metric(ports[follower], "impgateway_agent_leader") == 1
    finally:
        for process in agents.values():
            if process.alive():
                process.terminate()
