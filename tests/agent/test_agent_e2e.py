"""End to end: the control plane (uvicorn on the test database), a simulated cluster with the
real CRDs and `manage.py agent` as a separate process, through a publish's whole life."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import httpx
import pytest
from django.core.exceptions import ValidationError

from catalog.models import Route
from publishing.services import withdraw
from tests.conftest import REQUIRE_SERVICES
from tests.factories import (
    APIServiceFactory,
    BackendFactory,
    GatewayFactory,
    ListenerFactory,
    ProductFactory,
    ProductPublishFactory,
    RouteFactory,
    TenantFactory,
)

from .agent_harness import (
    AGENT_NAMESPACE,
    GATEWAY_API,
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

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(150)]



def routes_by_path(simulated: SimulatedCluster, publish_id: int) -> dict[str, dict]:
    """The publish's HTTPRoutes by their first match's path."""
    return {
        item["spec"]["rules"][0]["matches"][0]["path"]["value"]: item
        for (kind, _name), item in simulated.publish_objects(publish_id).items()
        if kind == "HTTPRoute"
    }


def resource_versions(simulated: SimulatedCluster, publish_id: int) -> dict:
    return {key: item["metadata"]["resourceVersion"]
            for key, item in simulated.publish_objects(publish_id).items()}


def test_publish_update_prune_drift_withdraw_and_outage(control_plane, simulated, tmp_path):
    cluster = make_cluster()
    orders = make_publish(cluster, "orders", routes=3)
    billing = make_publish(cluster, "billing", routes=1)
    publish_now(orders)
    publish_now(billing)
    metrics_port = free_port()
    agent = AgentProcess(
        agent_args(control_plane.url, simulated.kubeconfig, name="agent-0",
                   token=registration_token(cluster), token_file=tmp_path / "token.json",
                   metrics_port=metrics_port),
        tmp_path / "agent.log",
    )
    try:
        # 1. Both publishes appear in the cluster.
        assert wait_until(lambda: len(routes_by_path(simulated, orders.pk)) == 3
                          and len(routes_by_path(simulated, billing.pk)) == 1, 30), agent.log()
        billing_versions = resource_versions(simulated, billing.pk)
        gateway = simulated.objects("Gateway", "imp-gateway")
        assert {f"orders-dev-{orders.pk}", f"billing-dev-{billing.pk}"} <= set(gateway), sorted(
            gateway)

        # The deployment status shows Ready with the applied revision once the gateway
        # controller (played by the test) has accepted and programmed everything.
        assert wait_until(lambda: (deployment(orders.pk) or None) and deployment(
            orders.pk).state == "Applying", 15), agent.log()
        simulated.play_controller(orders.pk)
        assert wait_until(lambda: deployment(orders.pk).state == "Ready", 15), (
            deployment(orders.pk).conditions, agent.log())
        assert deployment(orders.pk).applied_revision == 1

        # 2. Edit and publish again: one route moves, one is removed and pruned.
        Route.objects.filter(service__name="orders-service", name="route-0").update(
            path="/orders/v2/items")
        Route.objects.filter(service__name="orders-service", name="route-2").delete()
        assert publish_now(orders) == 2
        assert wait_until(lambda: set(routes_by_path(simulated, orders.pk)) == {
            "/orders/v2/items", "/orders/v1/items-1"}, 20), (
            sorted(routes_by_path(simulated, orders.pk)), agent.log())
        # Generations moved on: the old conditions are stale until the controller catches up.
        simulated.play_controller(orders.pk)
        assert wait_until(lambda: deployment(orders.pk).applied_revision == 2
                          and deployment(orders.pk).state == "Ready", 15), (
            deployment(orders.pk).state, deployment(orders.pk).conditions, agent.log())
        summary = deployment(orders.pk).objects_summary
        assert any("route-2" in name for name in summary["pruned"]), summary
        assert resource_versions(simulated, billing.pk) == billing_versions

        # 3. Drift: another field manager changes a field the agent owns and adds a label of
        # its own; the agent takes its field back, reports it, and leaves the label alone.
        route = routes_by_path(simulated, orders.pk)["/orders/v1/items-1"]
        name = route["metadata"]["name"]
        drift_before = metric(metrics_port, "impgateway_agent_drift_events_total")
        simulated.kube.request(
            "PATCH", simulated.kube.path(GATEWAY_API, "HTTPRoute", "imp-gateway", name),
            query=[("fieldManager", "kubectl-edit")],
            body={"metadata": {"labels": {"team": "intruder"}},
                  "spec": {"hostnames": ["intruder.example.com"]}},
            content_type="application/merge-patch+json",
        )

        def corrected() -> bool:
            live = simulated.sim.get_object(GATEWAY_API, "HTTPRoute", "imp-gateway", name)
            return live["spec"]["hostnames"] == route["spec"]["hostnames"]

        assert wait_until(corrected, 15), agent.log()
        live = simulated.sim.get_object(GATEWAY_API, "HTTPRoute", "imp-gateway", name)
        assert live["metadata"]["labels"]["team"] == "intruder"
        assert wait_until(lambda: any(
            name in event["object"] for event in deployment(orders.pk).drift_events), 10), (
            deployment(orders.pk).drift_events)
        event = next(e for e in deployment(orders.pk).drift_events if name in e["object"])
        assert event["fields"] == ["spec.hostnames[0]"] and event["action"] == "reapplied"
        drift_after = metric(metrics_port, "impgateway_agent_drift_events_total")
        assert drift_after == drift_before + 1
        # Status written by the controller and the intruder's label are not drift: two more
        # drift checks find nothing.
        simulated.play_controller(orders.pk)
        time.sleep(4.5)
        assert metric(metrics_port, "impgateway_agent_drift_events_total") == drift_after

        # 4. Withdrawal prunes everything of that publish and nothing else.
        orders_objects = simulated.publish_objects(orders.pk)
        withdraw(orders)
        assert wait_until(lambda: not simulated.publish_objects(orders.pk), 20), agent.log()
        assert len(orders_objects) >= 4
        assert resource_versions(simulated, billing.pk) == billing_versions
        assert wait_until(lambda: deployment(orders.pk) is None, 10), "the removal was reported"
        inventories = simulated.objects("ConfigMap", AGENT_NAMESPACE, api_version="v1")
        assert set(inventories) == {f"imp-gateway-inventory-{billing.pk}"}

        # 5. Control plane outage: the cluster stays as it is, the agent keeps retrying.
        control_plane.stop()
        time.sleep(4)
        assert agent.alive()
        assert resource_versions(simulated, billing.pk) == billing_versions
        assert "poll_failed" in agent.log()
        control_plane.start()
        shipping = make_publish(cluster, "shipping", routes=1)
        publish_now(shipping)
        assert wait_until(lambda: len(routes_by_path(simulated, shipping.pk)) == 1, 20), (
            agent.log())
        assert resource_versions(simulated, billing.pk) == billing_versions

        # kubectl, an independent client, sees the agent's routes.
        kubectl = shutil.which("kubectl")
        assert kubectl or not REQUIRE_SERVICES, "kubectl: apt-get install kubernetes-client"
        if kubectl:
            listed = subprocess.run(
                [kubectl, "--kubeconfig", str(simulated.kubeconfig), "get", "httproutes", "-A",
                 "-o", "json"], capture_output=True, text=True, timeout=30, check=True,
            )
            names = {item["metadata"]["name"] for item in json.loads(listed.stdout)["items"]}
            assert names == {item["metadata"]["name"] for (kind, _), item in {
                **simulated.publish_objects(billing.pk),
                **simulated.publish_objects(shipping.pk)}.items() if kind == "HTTPRoute"}
            table = subprocess.run(
                [kubectl, "--kubeconfig", str(simulated.kubeconfig), "get", "httproutes", "-A"],
                capture_output=True, text=True, timeout=30, check=True,
            ).stdout
            assert f"billing-dev-{billing.pk}-billing-service-route-0" in table

        # Log lines are structured and never carry a token.
        log = agent.log()
        token = json.loads((tmp_path / "token.json").read_text())["token"]
        assert token not in log
        assert "event=apply kind=HTTPRoute" in log
    finally:
        code = agent.terminate()
    assert code == 0, agent.log()
    lease = simulated.sim.get_object("coordination.k8s.io/v1", "Lease", AGENT_NAMESPACE,
                                     "imp-gateway-agent")
    assert not lease["spec"].get("holderIdentity"), "the lease is released on SIGTERM"


def readyz(port: int) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_an_api_server_restored_empty_is_rebuilt_without_a_restart(
    control_plane, simulated, tmp_path
):
    """The API server goes down and comes back with nothing stored (restored from an empty
    backup): the agent's namespace, Lease, inventories and every object are gone. /readyz
    fails while the agent cannot sync, and the same agent process rebuilds everything (it used
    to retry the Lease forever: `namespaces "imp-gateway-system" not found`)."""
    cluster = make_cluster()
    orders = make_publish(cluster, "orders", routes=3)
    publish_now(orders)
    metrics_port = free_port()
    agent = AgentProcess(
        agent_args(control_plane.url, simulated.kubeconfig, name="agent-0",
                   token=registration_token(cluster), token_file=tmp_path / "token.json",
                   metrics_port=metrics_port),
        tmp_path / "agent.log",
    )
    try:
        assert wait_until(lambda: len(routes_by_path(simulated, orders.pk)) == 3, 30), agent.log()
        before = set(simulated.publish_objects(orders.pk))
        assert wait_until(lambda: readyz(metrics_port) == 200, 15), agent.log()

        port = simulated.go_down()
        assert wait_until(lambda: readyz(metrics_port) == 503, 20), agent.log()
        simulated.come_back_empty(port)
        simulated.add_gateway_class()  # the gateway controller's own installation comes back

        assert wait_until(lambda: set(simulated.publish_objects(orders.pk)) == before, 40), (
            sorted(simulated.publish_objects(orders.pk)), agent.log()[-3000:])
        for namespace in (AGENT_NAMESPACE, cluster.namespace):
            assert simulated.sim.get_object("v1", "Namespace", "", namespace) is not None
        assert wait_until(lambda: simulated.sim.get_object(
            "v1", "ConfigMap", AGENT_NAMESPACE, f"imp-gateway-inventory-{orders.pk}"), 20)
        lease = simulated.sim.get_object("coordination.k8s.io/v1", "Lease", AGENT_NAMESPACE,
                                         "imp-gateway-agent")
        assert lease["spec"]["holderIdentity"] == "agent-0"
        assert wait_until(lambda: readyz(metrics_port) == 200, 20), agent.log()[-3000:]
        assert agent.alive()
    finally:
        agent.terminate()


def tenant_catalog(cluster, tenant_slug: str, product_slug: str, endpoint: str,
                   paths: list[str]):
    """A tenant's publish on the cluster with the names the attack copies: service
    payment-service, backend primary, routes route-<n>."""
    tenant = TenantFactory(slug=tenant_slug, name=tenant_slug)
    gateway = GatewayFactory(tenant=tenant, name="edge")
    ListenerFactory(gateway=gateway)
    service = APIServiceFactory(tenant=tenant, name="payment-service")
    backend = BackendFactory(service=service, name="primary", endpoints=[endpoint])
    for number, path in enumerate(paths):
        RouteFactory(service=service, backend=backend, name=f"route-{number}", path=path)
    product = ProductFactory(tenant=tenant, slug=product_slug, name="Payment API")
    publish = ProductPublishFactory(tenant=tenant, gateway=gateway, cluster=cluster,
                                    product=product, environment="prod")
    publish.api_services.set([service])
    return publish


def test_a_tenant_copying_another_tenants_names_cannot_touch_its_objects(
    control_plane, simulated, tmp_path
):
    """The attack from the security review, end to end: tenant B copies tenant A's names
    (service, backend, routes; the product slug is refused), points its backend at itself,
    publishes to A's cluster and environment, edits, and withdraws. A's objects are never
    written, its hostname gets no route of B's, and nothing of A's is pruned."""
    cluster = make_cluster()
    victim = tenant_catalog(cluster, "acme", "payment-api", "payments.acme.internal:8443",
                            ["/v1/payments", "/v1/refunds"])
    publish_now(victim)
    with pytest.raises(ValidationError, match="slug: this slug is taken"):
        ProductFactory.build(tenant=TenantFactory(), slug="payment-api").full_clean()
    attacker = tenant_catalog(cluster, "evil", "payment-api-2", "attacker.example.com:443",
                              ["/v1/login", "/v1/payments"])
    agent = AgentProcess(
        agent_args(control_plane.url, simulated.kubeconfig, name="agent-0",
                   token=registration_token(cluster), token_file=tmp_path / "token.json"),
        tmp_path / "agent.log",
    )
    try:
        assert wait_until(lambda: len(routes_by_path(simulated, victim.pk)) == 2, 30), agent.log()
        before = resource_versions(simulated, victim.pk)
        victim_hosts = {host for item in routes_by_path(simulated, victim.pk).values()
                        for host in item["spec"]["hostnames"]}

        publish_now(attacker)
        assert wait_until(lambda: len(routes_by_path(simulated, attacker.pk)) == 2, 30)
        Route.objects.filter(service__publishes=attacker, name="route-1").delete()
        publish_now(attacker)
        assert wait_until(lambda: len(routes_by_path(simulated, attacker.pk)) == 1, 30)
        for item in routes_by_path(simulated, attacker.pk).values():
            assert not set(item["spec"]["hostnames"]) & victim_hosts
        withdraw(attacker)
        assert wait_until(lambda: not simulated.publish_objects(attacker.pk), 30), agent.log()
        time.sleep(2.5)  # at least one drift pass (--drift-interval 2) after the withdrawal

        assert resource_versions(simulated, victim.pk) == before
        backend = simulated.objects("Backend", cluster.namespace,
                                    "gateway.envoyproxy.io/v1alpha1")
        assert {item["spec"]["endpoints"][0]["fqdn"]["hostname"] for name, item in
                backend.items() if name.startswith(f"payment-api-prod-{victim.pk}-")} == {
            "payments.acme.internal"}
        assert "conflict" not in agent.log()
    finally:
        agent.terminate()
