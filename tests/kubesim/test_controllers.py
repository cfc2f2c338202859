"""What controllers rely on besides list and watch: the built-in kinds they watch (Nodes,
Events, the kubernetes Service), status written by another field manager, generation counted
by the server and observedGeneration left to them, and JSON answers to protobuf clients.

Facts from k8s.io/apiserver, k8s.io/apiextensions-apiserver and k8s.io/client-go at v0.36.3;
each test names the file and function it follows.
"""

from __future__ import annotations

import uuid

import pytest

from kubesim import SimCluster
from tests.support.kubeapi import WatchStream, apply, request, resource_path
from tests.support.traefik import crd_registry

GATEWAY_API = "gateway.networking.k8s.io/v1"


@pytest.fixture(scope="module")
def cluster(crd_dir):
    sim = SimCluster(registry=crd_registry(crd_dir))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def namespace(cluster):
    name = f"c-{uuid.uuid4().hex[:8]}"
    apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def http_route(namespace, hostname="app.example.com", **metadata):
    return {"apiVersion": GATEWAY_API, "kind": "HTTPRoute",
            "metadata": {"name": "web", "namespace": namespace, **metadata},
            "spec": {"parentRefs": [{"name": "edge"}], "hostnames": [hostname],
                     "rules": [{"backendRefs": [{"name": "web", "port": 8080}]}]}}


def accepted(generation):
    return {"parents": [{
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "edge"},
        "controllerName": "traefik.io/gateway-controller",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                        "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z",
                        "observedGeneration": generation}]}]}


def put_status(cluster, obj, status, manager="traefik"):
    """What client-go's UpdateStatus sends: PUT .../status with the object as last read."""
    body = {**obj, "status": status}
    path = resource_path(cluster, GATEWAY_API, "HTTPRoute", obj["metadata"]["namespace"],
                         obj["metadata"]["name"]) + "/status"
    return request(cluster, "PUT", path, body, query={"fieldManager": manager})


def test_generation_counts_spec_changes_and_observed_generation_is_the_controllers(
        cluster, namespace):
    """apiextensions-apiserver pkg/registry/customresource/strategy.go ``PrepareForUpdate``:
    with a status subresource, writes to the object keep the stored status and bump
    ``metadata.generation`` when anything but metadata changed; status_strategy.go
    ``PrepareForUpdate``: /status writes change status only and never the generation. The
    server never sets ``observedGeneration``: the controller writes it (Traefik's
    gateway/client.go ``UpdateHTTPRouteStatus``). A stale write conflicts
    (generic/registry/store.go ``OptimisticLockErrorMsg``); setting deletionTimestamp on an
    object with finalizers bumps the generation (rest/delete.go ``BeforeDelete``)."""
    route = apply(cluster, http_route(namespace))
    assert route["metadata"]["generation"] == 1
    labelled = apply(cluster, http_route(namespace, labels={"team": "shop"}))
    assert labelled["metadata"]["generation"] == 1, "metadata does not count"

    status, written = put_status(cluster, labelled, accepted(1))
    assert status == 200, written
    assert written["metadata"]["generation"] == 1
    entries = {(e["manager"], e["operation"], e.get("subresource", ""))
               for e in written["metadata"]["managedFields"]}
    assert ("traefik", "Update", "status") in entries
    assert ("imp-gateway-test", "Apply", "") in entries

    status, stale = put_status(cluster, labelled, accepted(1))
    assert status == 409 and stale["reason"] == "Conflict"
    assert stale["message"].endswith("the object has been modified; please apply your "
                                     "changes to the latest version and try again")

    changed = apply(cluster, http_route(namespace, hostname="shop.example.com",
                                        labels={"team": "shop"}))
    assert changed["metadata"]["generation"] == 2
    condition = changed["status"]["parents"][0]["conditions"][0]
    assert condition["observedGeneration"] == 1, "left for the controller to move"
    smuggled = apply(cluster, {**http_route(namespace, hostname="shop.example.com",
                                            labels={"team": "shop"}),
                               "status": accepted(99)})
    assert smuggled["status"] == changed["status"], "status only through /status"
    assert smuggled["metadata"]["generation"] == 2

    finalized = apply(cluster, http_route(namespace, hostname="shop.example.com",
                                          labels={"team": "shop"},
                                          finalizers=["example.com/hold"]))
    path = resource_path(cluster, GATEWAY_API, "HTTPRoute", namespace, "web")
    status, deleting = request(cluster, "DELETE", path)
    assert status == 200 and deleting["metadata"]["deletionTimestamp"]
    assert deleting["metadata"]["generation"] == finalized["metadata"]["generation"] + 1


def test_a_custom_resource_without_status_subresource_counts_every_change(
        cluster, namespace):
    """strategy.go ``PrepareForUpdate`` compares everything but metadata, so for a CRD
    without /status (traefik.io Middlewares) any change but metadata bumps the generation."""
    middleware = {"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
                  "metadata": {"name": "tag", "namespace": namespace},
                  "spec": {"headers": {"customRequestHeaders": {"X-Tag": "a"}}}}
    assert apply(cluster, middleware)["metadata"]["generation"] == 1
    middleware["spec"]["headers"]["customRequestHeaders"]["X-Tag"] = "b"
    assert apply(cluster, middleware)["metadata"]["generation"] == 2
    middleware["metadata"]["annotations"] = {"note": "metadata only"}
    assert apply(cluster, middleware)["metadata"]["generation"] == 2


def test_nodes_are_served_listed_watched_and_report_status(cluster):
    """client-go informers for v1 Nodes (Traefik's CRD provider starts one: traefik
    pkg/provider/kubernetes/crd/client.go ``WatchAll``): the cluster-scoped ``nodes``
    resource with a ``nodes/status`` subresource the kubelet writes."""
    status, discovery = request(cluster, "GET", "/api/v1")
    served = {r["name"]: r for r in discovery["resources"]}
    assert served["nodes"]["namespaced"] is False and "watch" in served["nodes"]["verbs"]
    assert "nodes/status" in served
    query = {"watch": "1", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
             "resourceVersionMatch": "NotOlderThan"}
    with WatchStream(cluster, "/api/v1/nodes", query) as stream:
        bookmark = stream.next()
        assert bookmark["type"] == "BOOKMARK", "no nodes yet: the bookmark alone"
        node = apply(cluster, {"apiVersion": "v1", "kind": "Node",
                               "metadata": {"name": f"node-{uuid.uuid4().hex[:6]}",
                                            "labels": {"node-role.kubernetes.io/edge": ""}}})
        assert stream.next()["object"]["metadata"]["name"] == node["metadata"]["name"]
    ready = {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                             "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                             "lastTransitionTime": "2026-01-01T00:00:00Z"}],
             "nodeInfo": {"kubeletVersion": "v1.36.3"}}
    path = f"/api/v1/nodes/{node['metadata']['name']}/status"
    status, written = request(cluster, "PUT", path, {**node, "status": ready},
                              query={"fieldManager": "kubelet"})
    assert status == 200, written
    assert written["status"]["conditions"][0]["type"] == "Ready"
    status, table = request(cluster, "GET", f"/api/v1/nodes/{node['metadata']['name']}",
                            headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns[:5] == ["Name", "Status", "Roles", "Age", "Version"]
    assert table["rows"][0]["cells"][:3] == [node["metadata"]["name"], "Ready", "edge"]
    assert table["rows"][0]["cells"][4] == "v1.36.3"


def test_events_of_both_apis_are_one_resource(cluster, namespace):
    """Core v1 Events (client-go tools/record) and events.k8s.io/v1 Events (tools/events) are
    one resource stored once: each API reads what the other wrote, with its own field names
    (``regarding``/``note`` for ``involvedObject``/``message``)."""
    core = apply(cluster, {"apiVersion": "v1", "kind": "Event",
                           "metadata": {"name": "web.1", "namespace": namespace},
                           "involvedObject": {"kind": "HTTPRoute", "name": "web",
                                              "namespace": namespace},
                           "reason": "Programmed", "message": "route programmed",
                           "type": "Normal", "count": 1,
                           "source": {"component": "traefik"}})
    status, modern = request(cluster, "GET",
                             f"/apis/events.k8s.io/v1/namespaces/{namespace}/events/web.1")
    assert status == 200
    assert modern["apiVersion"] == "events.k8s.io/v1"
    assert modern["regarding"]["name"] == "web" and modern["note"] == "route programmed"
    assert modern["deprecatedCount"] == 1 and "involvedObject" not in modern
    assert modern["metadata"]["uid"] == core["metadata"]["uid"]
    apply(cluster, {"apiVersion": "events.k8s.io/v1", "kind": "Event",
                    "metadata": {"name": "web.2", "namespace": namespace},
                    "regarding": {"kind": "HTTPRoute", "name": "web", "namespace": namespace},
                    "reason": "Conflicted", "note": "hostname taken", "type": "Warning",
                    "eventTime": "2026-01-01T00:00:00.000000Z",
                    "reportingController": "traefik.io/gateway-controller",
                    "reportingInstance": "traefik-1", "action": "Reconcile"})
    status, listed = request(cluster, "GET", f"/api/v1/namespaces/{namespace}/events",
                             query={"fieldSelector": "type=Warning"})
    assert [(e["metadata"]["name"], e["message"], e["reportingComponent"])
            for e in listed["items"]] == [("web.2", "hostname taken",
                                           "traefik.io/gateway-controller")]


def test_the_kubernetes_service_is_there_as_in_every_cluster(cluster):
    """kube-apiserver keeps ``default/kubernetes`` (its own Service, the first address of the
    service range); controllers that list Services see it."""
    status, service = request(cluster, "GET", "/api/v1/namespaces/default/services/kubernetes")
    assert status == 200
    assert service["spec"]["clusterIP"] == "10.96.0.1"
    assert service["spec"]["ports"][0]["port"] == 443


def test_protobuf_clients_get_json_they_accept_and_a_406_when_they_accept_nothing_else(
        cluster):
    """client-go rest/request.go sends ``Accept: <ContentType>, */*`` (a typed clientset set
    to protobuf: ``application/vnd.kubernetes.protobuf, */*``); the server takes the first
    acceptable entry (apiserver pkg/endpoints/handlers/negotiation/negotiate.go
    ``NegotiateOutputMediaType``) and client-go decodes by the answer's Content-Type. kubesim
    answers JSON (as a real server does for custom resources) and 406 when JSON is not
    acceptable."""
    status, body = request(cluster, "GET", "/api/v1/namespaces",
                           headers={"Accept": "application/vnd.kubernetes.protobuf, */*"})
    assert status == 200 and body["kind"] == "NamespaceList"
    status, body = request(cluster, "GET", "/api/v1/namespaces",
                           headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert status == 406 and body["reason"] == "NotAcceptable"
