"""The agent's parts against a simulated cluster with the real CRDs, in-process: apply with
dry-run diff, inventories and pruning, drift, conditions, capabilities, leader election, the
GitOps sink, metrics and health, configuration and logs."""

from __future__ import annotations

import copy
import io
import json
import logging
import subprocess
import sys
import time

import httpx
import pytest

from agent import capabilities, config, logs
from agent.apply import CONFIGURED, CREATED, UNCHANGED, apply_changeset, changed_paths
from agent.conditions import conditions_of
from agent.inventory import NAME_PREFIX
from agent.kube import KubeClient, KubeError, ObjectKey, connect
from agent.leader import LeaderElector
from agent.metrics import HealthServer, Metrics
from agent.platform import PlatformClient, PlatformError
from agent.reconcile import Reconciler, Translator
from agent.runner import Backoff, merge_report
from agent.sink import ManifestSink
from kubesim import SimCluster
from publishing.translation import GATEWAY_CLASSES, render_manifests
from tests.agent.agent_harness import unreachable_kubeconfig
from tests.conftest import REPO_ROOT
from tests.publishing.specs import demo_spec, expressible

MANAGER = "imp-gateway-agent"
GATEWAY_API = "gateway.networking.k8s.io/v1"


def desired(publish_id: int, spec: dict, revision: int = 1) -> dict:
    return {"publish_id": publish_id, "revision": revision, "content_hash": "x", "spec": spec}


def spec_in(namespace: str, publish_id: int = 42, gateway_class: str = "envoy-gateway") -> dict:
    spec = expressible(demo_spec(gateway_class), gateway_class)
    spec["publish"]["namespace"] = namespace
    spec["publish"]["id"] = publish_id
    return spec


def reconciler(kube: KubeClient, namespace: str, **kwargs) -> Reconciler:
    return Reconciler(kube=kube, namespace=namespace, field_manager=MANAGER, metrics=Metrics(),
                      capabilities=lambda: {}, **kwargs)


def state(publishes: list[dict], removals: list[dict] | None = None, namespace: str = "ns"
          ) -> dict:
    return {"revision": 1, "cluster": {"id": 1, "name": "c", "namespace": namespace},
            "publishes": publishes, "removals": removals or []}


# --- Apply -----------------------------------------------------------------------------------


def test_apply_changeset_writes_only_what_changes(kube, sim, namespace):
    manifests = render_manifests(spec_in(namespace), revision=1)
    first = apply_changeset(kube, manifests, field_manager=MANAGER, concurrency=4)
    assert first.counts()[CREATED] == len(manifests) and not first.failed
    versions = {str(r.key): r.live["metadata"]["resourceVersion"] for r in first.results}

    # A controller writes status, another manager adds a label: nothing for us to change.
    route = next(m for m in manifests if m["kind"] == "HTTPRoute")
    sim.set_status(GATEWAY_API, "HTTPRoute", namespace, route["metadata"]["name"],
                   {"parents": []})
    kube.request("PATCH", kube.path(GATEWAY_API, "HTTPRoute", namespace,
                                    route["metadata"]["name"]),
                 query=[("fieldManager", "someone-else")],
                 body={"metadata": {"labels": {"owner": "someone-else"}}},
                 content_type="application/merge-patch+json")
    second = apply_changeset(kube, manifests, field_manager=MANAGER)
    assert second.counts()[UNCHANGED] == len(manifests)
    assert second.writes == 0

    # A changed manifest is configured, with the paths that differed.
    changed = copy.deepcopy(manifests)
    target = next(m for m in changed if m["kind"] == "HTTPRoute")
    target["spec"]["hostnames"] = ["other.example.com"]
    third = apply_changeset(kube, changed, field_manager=MANAGER)
    assert third.keys(CONFIGURED) == [ObjectKey.of(target)]
    result = next(r for r in third.results if r.action == CONFIGURED)
    assert result.changed_paths == ["spec.hostnames[0]"]
    untouched = {str(r.key): r.live["metadata"]["resourceVersion"] for r in third.results
                 if r.action == UNCHANGED}
    assert all(versions[key] == version for key, version in untouched.items())
    live = sim.get_object(GATEWAY_API, "HTTPRoute", namespace, target["metadata"]["name"])
    assert live["metadata"]["labels"]["owner"] == "someone-else"


def test_one_failing_object_does_not_stop_the_others(kube, namespace):
    manifests = render_manifests(spec_in(namespace), revision=1)
    broken = copy.deepcopy(manifests)
    gateway = next(m for m in broken if m["kind"] == "Gateway")
    gateway["spec"]["listeners"][0]["port"] = "not-a-port"
    changeset = apply_changeset(kube, broken, field_manager=MANAGER)
    assert [r.key.kind for r in changeset.failed] == ["Gateway"]
    assert "422" in changeset.failed[0].error or "Invalid" in changeset.failed[0].error
    assert changeset.counts()[CREATED] == len(manifests) - 1


@pytest.mark.parametrize("gateway_class", GATEWAY_CLASSES)
def test_every_gateway_class_applies_against_the_real_crds(kube, namespace, gateway_class):
    manifests = render_manifests(spec_in(namespace, gateway_class=gateway_class), revision=1)
    changeset = apply_changeset(kube, manifests, field_manager=MANAGER, concurrency=4)
    assert not changeset.failed, [(str(r.key), r.error) for r in changeset.failed]
    again = apply_changeset(kube, manifests, field_manager=MANAGER, concurrency=4)
    assert again.writes == 0, [(str(r.key), r.changed_paths) for r in again.results
                               if r.action != UNCHANGED]


def test_changed_paths():
    before = {"spec": {"rules": [{"a": 1}, {"b": 2}], "labels": {"app.k8s.io/x": "1"}}}
    after = {"spec": {"rules": [{"a": 1}, {"b": 3}], "labels": {"app.k8s.io/x": "2"}}}
    assert changed_paths(before, after) == ['spec.labels["app.k8s.io/x"]', "spec.rules[1].b"]
    assert changed_paths({"a": [1]}, {"a": [1, 2]}) == ["a"]


# --- Reconcile: inventory, prune, removals, drift ---------------------------------------------


class FailingDeletes(KubeClient):
    """The real client, with DELETEs of chosen routes answered 503 (an API-server failure)."""

    fail_names: set[str] = set()

    def delete(self, key: ObjectKey) -> bool:
        if key.kind == "HTTPRoute" and key.name in self.fail_names:
            raise KubeError(503, "ServiceUnavailable", "etcdserver: request timed out")
        return super().delete(key)


def live_routes(sim: SimCluster, namespace: str) -> set[str]:
    return {item["metadata"]["name"] for item in sim.objects(GATEWAY_API, "HTTPRoute", namespace)}


def test_reconcile_prunes_by_inventory_and_retries_failed_deletes(kube, sim, namespace):
    client = FailingDeletes(kube.api_client)
    worker = reconciler(client, namespace)
    spec = spec_in(namespace, publish_id=7)
    other = spec_in(namespace, publish_id=8)
    other["publish"]["name"] = "other-prod"
    reports = worker.reconcile(state([desired(7, spec), desired(8, other)]))
    assert [report["publish_id"] for report in reports] == [7, 8]
    assert len(live_routes(sim, namespace)) == 12
    inventories = sim.objects("v1", "ConfigMap", namespace)
    assert {item["metadata"]["name"] for item in inventories} == {
        f"{NAME_PREFIX}7", f"{NAME_PREFIX}8"}

    # A new revision without two routes: both are pruned, except one whose delete fails;
    # that one stays in the inventory and goes on the next try.
    smaller = copy.deepcopy(spec)
    payment = next(s for s in smaller["services"] if s["name"] == "payment-service")
    dropped = [payment["routes"].pop(), payment["routes"].pop()]
    failing = f"payment-api-prod-7-payment-service-{dropped[0]['name']}"
    client.fail_names = {failing}
    report = worker.reconcile(state([desired(7, smaller, 2), desired(8, other)]))[0]
    assert report["revision"] == 2
    assert len(report["objects"]["pruned"]) >= 1
    assert [item["object"]["name"] for item in report["objects"]["failed"]] == [failing]
    assert failing in live_routes(sim, namespace)
    assert worker.pending
    inventory = sim.get_object("v1", "ConfigMap", namespace, f"{NAME_PREFIX}7")
    assert failing in inventory["data"]["objects"]

    client.fail_names = set()
    retried = worker.reconcile(state([desired(7, smaller, 2), desired(8, other)]))
    assert [item["name"] for item in retried[0]["objects"]["pruned"]] == [failing]
    assert retried[0]["objects"]["unchanged"]
    assert failing not in live_routes(sim, namespace)
    assert not worker.pending

    # Withdrawal of 7 (a removal) prunes its objects only, and its inventory goes.
    other_routes = {name for name in live_routes(sim, namespace) if name.startswith("other")}
    removed = worker.reconcile(state([desired(8, other)], [{"publish_id": 7,
                                                            "reason": "withdrawn"}]))
    assert removed == [{"publish_id": 7, "removed": True, "objects": removed[0]["objects"]}]
    assert live_routes(sim, namespace) == other_routes
    assert sim.get_object("v1", "ConfigMap", namespace, f"{NAME_PREFIX}7") is None

    # A fresh agent (another leader) finds the inventory in the cluster: an orphaned
    # publish, in neither list, is pruned too; a no-change reconcile writes nothing.
    fresh = reconciler(kube, namespace)
    assert fresh.reconcile(state([desired(8, other)]))[0]["objects"].keys() == {"unchanged"}
    gone = fresh.reconcile(state([]))
    assert gone[0]["publish_id"] == 8 and gone[0]["removed"]
    assert live_routes(sim, namespace) == set()


def test_prune_leaves_objects_another_publish_took_over(kube, sim, namespace):
    worker = reconciler(kube, namespace)
    spec = spec_in(namespace, publish_id=11)
    worker.reconcile(state([desired(11, spec)]))
    route = sorted(live_routes(sim, namespace))[0]
    kube.request("PATCH", kube.path(GATEWAY_API, "HTTPRoute", namespace, route),
                 query=[("fieldManager", "other-agent")],
                 body={"metadata": {"labels": {"imp-gateway.io/publish": "12"}}},
                 content_type="application/merge-patch+json")
    worker.reconcile(state([], [{"publish_id": 11, "reason": "withdrawn"}]))
    assert live_routes(sim, namespace) == {route}


class Relabelled(Translator):
    """The translator, with one publish's manifests given another publish's names: what two
    publishes whose names collide (as they could before names carried the publish id) or a
    tampered desired state would ask the agent to write."""

    def __init__(self, renames: dict[int, int]) -> None:
        super().__init__()
        self.renames = renames  # publish id -> publish id whose names it takes

    def manifests(self, publish, capabilities):
        manifests = super().manifests(publish, capabilities)
        victim = self.renames.get(publish["publish_id"])
        if victim is None:
            return manifests
        spec = copy.deepcopy(publish["spec"])
        spec["publish"]["id"] = victim
        names = render_manifests(spec, revision=int(publish["revision"]))
        taken = copy.deepcopy(names)
        for manifest in taken:
            manifest["metadata"]["labels"]["imp-gateway.io/publish"] = str(publish["publish_id"])
        return taken


def test_an_object_of_another_publish_is_never_written_over_drifted_back_or_pruned(
    kube, sim, namespace
):
    owner_spec = spec_in(namespace, publish_id=31)
    intruder_spec = spec_in(namespace, publish_id=32)
    intruder_spec["services"][0]["backends"][0]["endpoints"][0]["host"] = "attacker.example.com"
    worker = reconciler(kube, namespace, translator=Relabelled({32: 31}))
    worker.reconcile(state([desired(31, owner_spec)]))
    before = {item["metadata"]["name"]: item for item in sim.objects(GATEWAY_API, "HTTPRoute",
                                                                      namespace)}
    assert before and all(item["metadata"]["labels"]["imp-gateway.io/publish"] == "31"
                          for item in before.values())

    reports = {report["publish_id"]: report for report in worker.reconcile(
        state([desired(31, owner_spec), desired(32, intruder_spec)]))}
    # The intruder's every object is refused, naming no other publish.
    failed = reports[32]["objects"]["failed"]
    assert len(failed) == len(render_manifests(intruder_spec, revision=1))
    assert all(
        item["error"] == f"conflict: {item['object']['kind']} {namespace}/"
        f"{item['object']['name']} belongs to another publish; left as it is"
        for item in failed
    )
    # The owner hears of it, and its objects are as they were.
    refused = reports[31]["drift"]
    assert {event["action"] for event in refused} == {"refused"}
    assert len(refused) == len(failed)
    after = {item["metadata"]["name"]: item for item in sim.objects(GATEWAY_API, "HTTPRoute",
                                                                     namespace)}
    assert {name: item["metadata"]["resourceVersion"] for name, item in after.items()} == {
        name: item["metadata"]["resourceVersion"] for name, item in before.items()}

    # Drift passes do not flip the objects either, and tell the owner only once.
    drift = worker.check_drift()
    assert not [report for report in drift if report["publish_id"] == 31 and report.get("drift")]
    assert {item["metadata"]["resourceVersion"] for item in sim.objects(
        GATEWAY_API, "HTTPRoute", namespace)} == {
        item["metadata"]["resourceVersion"] for item in before.values()}

    # The intruder's inventory does not list the owner's objects; its withdrawal deletes none.
    inventory = sim.get_object("v1", "ConfigMap", namespace, f"{NAME_PREFIX}32")
    assert json.loads(inventory["data"]["objects"]) == []
    removed = worker.reconcile(state([desired(31, owner_spec)],
                                     [{"publish_id": 32, "reason": "withdrawn"}]))
    assert removed[0]["removed"] and "pruned" not in removed[0].get("objects", {})
    assert set(live_routes(sim, namespace)) == set(before)


def test_an_object_imp_gateway_does_not_manage_is_left_alone(kube, sim, namespace):
    manifests = render_manifests(spec_in(namespace, publish_id=33), revision=1)
    route = next(m for m in manifests if m["kind"] == "HTTPRoute")
    foreign = copy.deepcopy(route)
    foreign["metadata"]["labels"] = {"app": "hand-made"}
    kube.apply(foreign, field_manager="kubectl")
    changeset = apply_changeset(kube, manifests, field_manager=MANAGER)
    refused = [result for result in changeset.failed if result.conflict]
    assert [result.key for result in refused] == [ObjectKey.of(route)]
    assert refused[0].owner is None
    assert "not managed by Imp-Gateway" in refused[0].error
    live = sim.get_object(GATEWAY_API, "HTTPRoute", namespace, route["metadata"]["name"])
    assert live["metadata"]["labels"] == {"app": "hand-made"}


def test_a_failing_publish_does_not_block_the_others(kube, sim, namespace):
    worker = reconciler(kube, namespace)
    spec = spec_in(namespace, publish_id=21)
    # The demo spec uses features Kong cannot express: a translation error for publish 21.
    broken = desired(21, demo_spec("kong") | {"publish": spec["publish"]})
    fine = desired(22, spec_in(namespace, publish_id=22))
    failed, applied = worker.reconcile(state([broken, fine]))
    assert failed["errors"] and failed["errors"][0].startswith("translation: ")
    assert not applied.get("errors") and len(applied["objects"]["created"]) == 20
    assert len(live_routes(sim, namespace)) == 6
    assert not worker.pending, "retrying cannot help a translation error"
    assert worker.reconcile(state([broken, fine])) == []


class FlakyApplies(KubeClient):
    """The real client, with the first write of every object answered 503."""

    def __init__(self, api_client) -> None:
        super().__init__(api_client)
        self.failed: set[str] = set()

    def apply(self, manifest: dict, *, field_manager: str, dry_run: bool = False,
              force: bool = True) -> dict:
        name = manifest["kind"] + "/" + manifest["metadata"]["name"]
        if not dry_run and name not in self.failed:
            self.failed.add(name)
            raise KubeError(503, "ServiceUnavailable", "the server is currently unable")
        return super().apply(manifest, field_manager=field_manager, dry_run=dry_run,
                             force=force)


def test_api_server_errors_are_retried_per_object(kube, namespace):
    flaky = FlakyApplies(kube.api_client)
    manifests = render_manifests(spec_in(namespace, publish_id=23), revision=1)
    changeset = apply_changeset(flaky, manifests, field_manager=MANAGER, backoff=0.01)
    assert not changeset.failed
    assert changeset.counts()[CREATED] == len(manifests) == len(flaky.failed)


def test_drift_is_corrected_and_reported_without_false_positives(kube, sim, namespace):
    worker = reconciler(kube, namespace)
    worker.reconcile(state([desired(31, spec_in(namespace, publish_id=31))]))
    assert worker.check_drift() == []
    route = sorted(live_routes(sim, namespace))[0]
    sim.set_status(GATEWAY_API, "HTTPRoute", namespace, route, {"parents": []})
    kube.request("PATCH", kube.path(GATEWAY_API, "HTTPRoute", namespace, route),
                 query=[("fieldManager", "kubectl-edit")],
                 body={"metadata": {"annotations": {"note": "mine"}}},
                 content_type="application/merge-patch+json")
    assert worker.check_drift() == [], "status and another manager's fields are not drift"

    original = sim.get_object(GATEWAY_API, "HTTPRoute", namespace, route)
    kube.apply({"apiVersion": GATEWAY_API, "kind": "HTTPRoute",
                "metadata": {"name": route, "namespace": namespace},
                "spec": {"hostnames": ["drifted.example.com"]}},
               field_manager="intruder", force=True)
    backend = sorted(item["metadata"]["name"] for item in sim.objects(
        "gateway.envoyproxy.io/v1alpha1", "Backend", namespace))[0]
    kube.delete(ObjectKey("gateway.envoyproxy.io/v1alpha1", "Backend", namespace, backend))
    reports = worker.check_drift()
    events = {(event["object"]["kind"], event["object"]["name"]): event
              for event in reports[0]["drift"]}
    assert set(events) == {("HTTPRoute", route), ("Backend", backend)}
    assert events["HTTPRoute", route]["fields"] == ["spec.hostnames[0]"]
    assert events["Backend", backend]["fields"] == ["(object deleted)"]
    assert all(event["action"] == "reapplied" for event in events.values())
    live = sim.get_object(GATEWAY_API, "HTTPRoute", namespace, route)
    assert live["spec"]["hostnames"] == original["spec"]["hostnames"]
    assert live["metadata"]["annotations"]["note"] == "mine"
    assert worker.check_drift() == []


def test_only_the_leader_writes(kube, sim, namespace):
    leading = {"value": False}
    worker = reconciler(kube, namespace, may_write=lambda: leading["value"])
    from agent.apply import LeadershipLost

    with pytest.raises(LeadershipLost):
        worker.reconcile(state([desired(41, spec_in(namespace, publish_id=41))]))
    assert live_routes(sim, namespace) == set()
    leading["value"] = True
    worker.forget()
    worker.reconcile(state([desired(41, spec_in(namespace, publish_id=41))]))
    assert len(live_routes(sim, namespace)) == 6


# --- Conditions and capabilities -------------------------------------------------------------


def test_conditions_of_gateways_routes_and_policies():
    def obj(kind: str, status: dict, generation: int = 2) -> dict:
        return {"apiVersion": GATEWAY_API, "kind": kind, "status": status,
                "metadata": {"name": "x", "namespace": "ns", "generation": generation}}

    gateway = conditions_of(obj("Gateway", {"conditions": [
        {"type": "Accepted", "status": "True", "observedGeneration": 2},
        {"type": "Programmed", "status": "True", "observedGeneration": 1}]}))
    assert [(c["type"], c["status"]) for c in gateway] == [("Accepted", "True"),
                                                         ("Programmed", "Unknown")]
    assert gateway[1]["reason"] == "StaleObservedGeneration"
    route = conditions_of(obj("HTTPRoute", {"parents": [{"parentRef": {"name": "gw"},
                                                         "conditions": [
        {"type": "Accepted", "status": "False", "reason": "NotAllowed"}]}]}))
    assert [(c["type"], c["status"]) for c in route] == [("Accepted", "False"),
                                                       ("ResolvedRefs", "Unknown")]
    assert route[0]["message"].startswith("Gateway gw")
    assert [c["type"] for c in conditions_of(obj("HTTPRoute", {}))] == ["Accepted",
                                                                       "ResolvedRefs"]
    policy = conditions_of(obj("SecurityPolicy", {"ancestors": [{"ancestorRef": {"name": "gw"},
                                                                 "conditions": [
        {"type": "Accepted", "status": "True"}]}]}))
    assert [(c["type"], c["status"]) for c in policy] == [("Accepted", "True")]
    assert conditions_of(obj("Secret", {})) == []


def test_capabilities_from_the_cluster(kube):
    controllers = {
        "eg": "gateway.envoyproxy.io/gatewayclass-controller",
        "nginx": "gateway.nginx.org/nginx-gateway-controller",
        "kong": "konghq.com/kic-gateway-controller",
        "kong-operator": "konghq.com/gateway-operator",
        "traefik": "traefik.io/gateway-controller",
        "apisix": "apisix.apache.org/apisix-ingress-controller",
        "unrelated": "example.com/gateway-controller",
    }
    for name, controller in controllers.items():
        kube.apply({"apiVersion": GATEWAY_API, "kind": "GatewayClass",
                    "metadata": {"name": name}, "spec": {"controllerName": controller}},
                   field_manager="test-setup")
    found = capabilities.discover(kube)
    assert found["kubernetes_version"] == "1.36"  # what kubesim reports
    assert found["gateway_classes"] == ["apisix", "envoy-gateway", "kong", "nginx", "traefik"]
    assert found["gateway_class_names"] == {"envoy-gateway": "eg"}
    assert "gateway.networking.k8s.io/v1/HTTPRoute" in found["crds"]
    assert "gateway.envoyproxy.io/v1alpha1/SecurityPolicy" in found["crds"]
    assert not any(crd.startswith(("v1/", "coordination.k8s.io/")) for crd in found["crds"])
    assert capabilities.kubernetes_version({"major": "1", "minor": "29+"}) == "1.29"


# --- Leader election -------------------------------------------------------------------------


def test_leader_election_takes_over_after_the_lease_expires(kube, namespace):
    def elector(identity: str) -> LeaderElector:
        return LeaderElector(kube, namespace=namespace, name="agents", identity=identity,
                             lease_duration=1.0, renew_deadline=0.6, retry_period=0.1,
                             field_manager=MANAGER)

    first, second = elector("a"), elector("b")
    first.step()
    second.step()
    assert first.is_leader() and not second.is_leader()
    assert second.holder == "a"
    # "a" stops renewing (it died); "b" waits one lease duration from when it saw the record.
    started = time.monotonic()
    while not second.is_leader():
        second.step()
        time.sleep(0.05)
        assert time.monotonic() - started < 3
    assert 0.9 <= time.monotonic() - started < 2.5  # one lease duration (1 s), then soon
    assert not first.is_leader(), "the old leader's renew deadline has passed"
    first.step()
    assert not first.is_leader()
    # Releasing hands over at once.
    second.release()
    first.step()
    assert first.is_leader()


# --- GitOps sink -----------------------------------------------------------------------------


def test_sink_files_are_deterministic_and_removed(tmp_path):
    sink = ManifestSink(tmp_path)
    manifests = render_manifests(demo_spec("envoy-gateway"), revision=1)
    first = sink.write(42, manifests)
    assert len(first.created) == len(manifests)
    names = sorted(path.name for path in (tmp_path / "publish-42").iterdir())
    assert "gateway-payment-api-prod-42.yaml" in names
    assert sink.write(42, manifests).unchanged == first.created
    smaller = [m for m in manifests if m["kind"] != "HTTPRoute"]
    assert len(sink.write(42, smaller).pruned) == len(manifests) - len(smaller)
    assert sink.publish_ids() == {42}
    assert len(sink.remove(42)) == len(smaller)
    assert sink.publish_ids() == set()


# --- Metrics, health, control-plane client, configuration, logs ------------------------------


def test_metrics_and_health_endpoints():
    metrics = Metrics()
    ready = {"value": False}
    server = HealthServer("127.0.0.1", 0, metrics, liveness=lambda: (True, {}),
                          readiness=lambda: (ready["value"], {"synced": ready["value"]}))
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 503
        ready["value"] = True
        assert httpx.get(f"{base}/readyz").json() == {"status": "ok", "synced": True}
        metrics.objects.labels(action="created").inc(3)
        text = httpx.get(f"{base}/metrics").text
        for name in ("impgateway_agent_reconcile_duration_seconds",
                     "impgateway_agent_drift_events_total",
                     "impgateway_agent_errors_total",
                     "impgateway_agent_last_successful_sync_timestamp_seconds"):
            assert name in text
        assert 'impgateway_agent_objects_total{action="created"} 3.0' in text
    finally:
        server.stop()


def test_platform_client_refuses_a_partial_desired_state(tmp_path):
    token_file = tmp_path / "token.json"
    token_file.write_text(json.dumps({
        "server": "http://control-plane", "name": "a", "agent_id": 1, "token": "t",
        "expires_at": "2999-01-01T00:00:00+00:00", "obtained_at": "2998-12-31T00:00:00+00:00"}))

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text='{"revision": 3, "cluster": {"id": 1, "publi')

    client = PlatformClient("http://control-plane", name="a", token_file=token_file,
                            transport=httpx.MockTransport(answer))
    with pytest.raises(PlatformError) as failure:
        client.desired_state(None, 0)
    assert failure.value.code == "malformed_desired_state"


def test_configuration_from_flags_environment_and_files(tmp_path):
    secret = tmp_path / "registration"
    secret.write_text("igr_from-a-file\n")
    environ = {
        "IMPGATEWAY_SERVER": "https://imp.example.com/",
        "IMPGATEWAY_REGISTRATION_TOKEN_FILE": str(secret),
        "IMPGATEWAY_DRIFT_INTERVAL": "45",
        "IMPGATEWAY_LEADER_ELECTION": "off",
        "POD_NAME": "agent-7d9f",
        "POD_NAMESPACE": "gateways",
    }
    resolved = config.resolve({"drift_interval": "10"}, environ)
    assert resolved.server == "https://imp.example.com"
    assert resolved.registration_token == "igr_from-a-file"
    assert resolved.drift_interval == 10.0  # the flag wins over the variable
    assert resolved.leader_election is False
    assert (resolved.name, resolved.namespace) == ("agent-7d9f", "gateways")
    assert "igr_" not in json.dumps(resolved.describe())
    with pytest.raises(config.ConfigError, match="--lease-duration"):
        config.resolve({"renew_deadline": "20"}, environ)
    with pytest.raises(config.ConfigError, match="IMPGATEWAY_POLL_WAIT"):
        config.resolve({"poll_wait": "600"}, environ)
    with pytest.raises(config.ConfigError, match="one of them is required"):
        config.resolve({}, {"IMPGATEWAY_SERVER": "http://x"})
    assert "`--drift-interval`" in config.options_table()


def test_log_lines_are_structured_and_never_carry_tokens():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.StructuredFormatter("logfmt"))
    logs.logger.addHandler(handler)
    logs.logger.setLevel(logging.INFO)
    try:
        logs.log_event("registered", agent="a b", token="secret-value", registration_token="set")
    finally:
        logs.logger.removeHandler(handler)
    line = stream.getvalue().strip()
    assert 'event=registered agent="a b" token=[redacted] registration_token=set' in line
    assert "secret-value" not in line


def test_backoff_is_capped_and_jittered():
    backoff = Backoff(base=0.5, cap=4.0)
    delays = [backoff.next() for _ in range(10)]
    assert all(0.25 <= delay <= 4.0 for delay in delays)
    assert max(delays[5:]) <= 4.0 and min(delays[5:]) >= 2.0
    backoff.reset()
    assert backoff.next() <= 0.5


def test_unsent_drift_events_survive_a_newer_report():
    old = {"publish_id": 1, "revision": 1, "drift": [{"object": {}, "detected_at": "t1"}]}
    new = {"publish_id": 1, "revision": 1, "conditions": []}
    assert merge_report(old, new)["drift"] == old["drift"]


def test_kube_client_reports_unreachable_servers(tmp_path):
    client = connect(unreachable_kubeconfig(tmp_path))
    with pytest.raises(KubeError) as failure:
        client.server_version()
    assert failure.value.status == 0 and failure.value.retryable


def test_the_agent_imports_no_models_and_no_database_driver():
    probe = (
        "import django, sys; django.setup(); import agent.runner; "
        "import agent.management.commands.agent; "
        "print(sorted(m for m in sys.modules if m.endswith('.models') and m.split('.')[0] in "
        "('clusters', 'publishing', 'catalog', 'impgateway')), "
        "any(m.startswith(('psycopg', 'sqlite3')) for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "agent.settings"}, timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[] False", result.stdout + result.stderr
