"""Two tenants on one cluster, one namespace, with the same names: whatever the second tenant
publishes, edits or withdraws, the first tenant's objects are never written, taken over or
pruned. Generated catalogs (hypothesis), rendered by the real translator and applied by the
real reconciler to a simulated cluster with the real CRDs."""

from __future__ import annotations

import copy
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.kube import ObjectKey
from agent.metrics import Metrics
from agent.reconcile import Reconciler
from publishing.translation import render_manifests
from publishing.translation.naming import PUBLISH_LABEL, TENANT_LABEL
from tests.publishing.specs import revision_specs

_namespaces = itertools.count(1)
GATEWAY_CLASS = "envoy-gateway"


def attacker_copy(victim: dict, drawn: dict, publish_id: int, copy_names: bool) -> dict:
    """Tenant B's publish: its own generated catalog, or (the attack) the victim's services,
    backends, routes and product name copied, its backends pointed at the attacker."""
    spec = copy.deepcopy(victim if copy_names else drawn)
    spec["publish"]["id"] = publish_id
    spec["publish"]["tenant"] = "tenant-b"
    spec["publish"]["namespace"] = victim["publish"]["namespace"]
    # Product slugs are unique across tenants (catalog), so B's hostnames are B's own.
    spec["publish"]["hostnames"] = [f"b-{host}" for host in spec["publish"]["hostnames"]]
    if copy_names:
        for service in spec["services"]:
            for backend in service["backends"]:
                for endpoint in backend["endpoints"]:
                    endpoint["host"] = "attacker.example.com"
    return spec


def live_objects(kube, manifests: list[dict]) -> dict[ObjectKey, dict]:
    found = {}
    for manifest in manifests:
        key = ObjectKey.of(manifest)
        found[key] = kube.get(key)
    return found


def state(*publishes: tuple[int, dict, int], removals: tuple[int, ...] = ()) -> dict:
    return {
        "revision": 1, "cluster": {"id": 1, "name": "c", "namespace": "ns"},
        "publishes": [{"publish_id": pk, "revision": revision, "content_hash": "x", "spec": spec}
                      for pk, spec, revision in publishes],
        "removals": [{"publish_id": pk, "reason": "withdrawn"} for pk in removals],
    }


@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(victim=revision_specs(GATEWAY_CLASS), drawn=revision_specs(GATEWAY_CLASS),
       copy_names=st.booleans())
def test_another_tenants_publish_never_writes_or_prunes_ours(kube, victim, drawn, copy_names):
    namespace = f"isolation-{next(_namespaces)}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
               field_manager="test-setup")
    victim = copy.deepcopy(victim)
    victim["publish"].update(id=1, tenant="tenant-a", namespace=namespace)
    attacker = attacker_copy(victim, drawn, 2, copy_names)

    ours = render_manifests(victim, revision=1)
    theirs = render_manifests(attacker, revision=1)
    # Names are the publish's own, and every object says whose it is.
    assert not {ObjectKey.of(m) for m in ours} & {ObjectKey.of(m) for m in theirs}
    for manifests, publish_id, tenant in ((ours, "1", "tenant-a"), (theirs, "2", "tenant-b")):
        for manifest in manifests:
            assert manifest["metadata"]["labels"][PUBLISH_LABEL] == publish_id
            assert manifest["metadata"]["labels"][TENANT_LABEL] == tenant

    worker = Reconciler(kube=kube, namespace=namespace, field_manager="imp-gateway-agent",
                        metrics=Metrics(), capabilities=lambda: {})
    worker.reconcile(state((1, victim, 1)))
    before = live_objects(kube, ours)
    assert all(before.values())
    versions = {key: obj["metadata"]["resourceVersion"] for key, obj in before.items()}

    # B publishes, edits (a new revision with one route less) and its drift pass runs.
    worker.reconcile(state((1, victim, 1), (2, attacker, 1)))
    edited = copy.deepcopy(attacker)
    if len(edited["services"][0]["routes"]) > 1:
        edited["services"][0]["routes"].pop()
    worker.reconcile(state((1, victim, 1), (2, edited, 2)))
    worker.check_drift()
    # B withdraws.
    worker.reconcile(state((1, victim, 1), removals=(2,)))

    after = live_objects(kube, ours)
    assert {key: obj["metadata"]["resourceVersion"] if obj else None
            for key, obj in after.items()} == versions
    assert not any(kube.get(ObjectKey.of(m)) for m in theirs)
