"""Real Traefik 3.7 (client-go 0.36 informers, unmodified) against kubesim: objects applied
straight to the API server (no control plane) are served to real HTTP clients.

Traefik's Gateway API provider watches GatewayClasses, Gateways, HTTPRoutes, Services and
EndpointSlices and writes Gateway and HTTPRoute status; its CRD provider watches traefik.io
Middlewares (and Nodes: traefik pkg/provider/kubernetes/crd/client.go ``WatchAll`` starts a
cluster-scoped Node informer and waits for it). Both open every informer as a streaming list
and wait for the bookmark that ends the initial events (client-go v0.36.3
tools/cache/reflector.go ``watchList`` and ``handleAnyWatch``); the last two tests take each
of those fidelities away and show Traefik then does not serve.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import pytest

from kubesim import SimCluster
from tests.support.kubeapi import apply
from tests.support.netns import EchoBackend
from tests.support.traefik import (
    GATEWAY_CONTROLLER,
    Traefik,
    crd_registry,
    kubesim_token,
    wait_until,
)

GATEWAY_API = "gateway.networking.k8s.io/v1"
HOST = "orders.example.com"
NAMESPACE = "shop"
SETTLE = 5.0  # how long a Traefik that will not sync is given to prove it


def send(traefik: Traefik, path: str, host: str = HOST) -> tuple[int, dict[str, Any] | None]:
    """GET through Traefik's web entryPoint: the status and the echo backend's answer."""
    request = Request(traefik.web_url + path, headers={"Host": host})
    try:
        with urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, None
    except URLError:
        return 0, None


def served(traefik: Traefik, path: str, timeout: float = 15.0) -> dict[str, Any] | None:
    """The backend's echo once Traefik routes ``path`` to it, or None."""
    def attempt() -> dict[str, Any] | None:
        status, body = send(traefik, path)
        return body if status == 200 else None

    return wait_until(attempt, timeout)


def condition(conditions: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next((c for c in conditions if c.get("type") == kind), {})


def install(cluster: SimCluster, backend: EchoBackend, listener_port: int) -> None:
    """What an operator and the control plane would have applied: a GatewayClass for Traefik,
    a Gateway on Traefik's entryPoint port, the backend's Service and EndpointSlice, a
    Middleware that tags requests, and a route using it through an ExtensionRef filter."""
    apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    apply(cluster, {"apiVersion": GATEWAY_API, "kind": "GatewayClass",
                    "metadata": {"name": "traefik"},
                    "spec": {"controllerName": GATEWAY_CONTROLLER}})
    apply(cluster, {"apiVersion": GATEWAY_API, "kind": "Gateway",
                    "metadata": {"name": "edge", "namespace": NAMESPACE},
                    "spec": {"gatewayClassName": "traefik", "listeners": [
                        {"name": "web", "protocol": "HTTP", "port": listener_port}]}})
    apply(cluster, {"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "orders", "namespace": NAMESPACE},
                    "spec": {"ports": [{"name": "http", "port": 8080,
                                        "targetPort": backend.port}]}})
    apply(cluster, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": "orders-1", "namespace": NAMESPACE,
                                 "labels": {"kubernetes.io/service-name": "orders"}},
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": [backend.address],
                                   "conditions": {"ready": True}}],
                    "ports": [{"name": "http", "port": backend.port, "protocol": "TCP"}]})
    apply(cluster, {"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
                    "metadata": {"name": "tag", "namespace": NAMESPACE},
                    "spec": {"headers": {"customRequestHeaders": {"X-Imp-Gateway": "tagged"}}}})
    apply(cluster, route("/v1"))


def route(prefix: str) -> dict[str, Any]:
    return {"apiVersion": GATEWAY_API, "kind": "HTTPRoute",
            "metadata": {"name": "orders", "namespace": NAMESPACE},
            "spec": {"parentRefs": [{"name": "edge"}], "hostnames": [HOST],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
                                "filters": [{"type": "ExtensionRef", "extensionRef": {
                                    "group": "traefik.io", "kind": "Middleware",
                                    "name": "tag"}}],
                                "backendRefs": [{"name": "orders", "port": 8080}]}]}}


def route_conditions(cluster: SimCluster) -> tuple[int, list[dict[str, Any]]]:
    obj = cluster.get_object(GATEWAY_API, "HTTPRoute", NAMESPACE, "orders") or {}
    parents = (obj.get("status") or {}).get("parents") or [{}]
    return obj["metadata"]["generation"], parents[0].get("conditions") or []


def test_traefik_serves_a_route_with_a_middleware_writes_status_and_follows_an_edit(
        traefik_cluster, traefik, echo_backend):
    """Applied to kubesim, served by Traefik to a real client, reported back in status.

    Facts from Traefik (v3.7.9 source): a Gateway listener binds to the entryPoint whose port
    equals it (pkg/provider/kubernetes/gateway/kubernetes.go ``loadConfigurationFromGateways``
    matches ``listener.Port`` to the entryPoints); status goes through ``UpdateStatus``
    (gateway/client.go ``UpdateGatewayStatus``, ``UpdateHTTPRouteStatus``), i.e. PUT
    .../status by another field manager; conditions carry ``observedGeneration``.
    """
    install(traefik_cluster, echo_backend, traefik.web_port)

    answer = served(traefik, "/v1/orders?page=2")
    assert answer is not None, f"never served; routers: {sorted(traefik.routers())}"
    assert answer["backend"] == "echo"
    assert answer["path"] == "/v1/orders" and answer["query"] == "page=2"
    assert answer["headers"]["X-Imp-Gateway"] == "tagged", "the Middleware ran"
    assert send(traefik, "/v2/orders")[0] == 404

    gateway = traefik_cluster.get_object(GATEWAY_API, "Gateway", NAMESPACE, "edge")
    generation = gateway["metadata"]["generation"]
    for kind in ("Accepted", "Programmed"):
        found = condition(gateway["status"]["conditions"], kind)
        assert found.get("status") == "True", gateway["status"]
        assert found.get("observedGeneration") == generation
    assert gateway["status"]["listeners"][0]["attachedRoutes"] == 1
    route_generation, conditions = route_conditions(traefik_cluster)
    for kind in ("Accepted", "ResolvedRefs"):
        assert condition(conditions, kind).get("status") == "True", conditions
        assert condition(conditions, kind).get("observedGeneration") == route_generation
    managers = {(m["manager"], m.get("subresource", "")) for m in
                gateway["metadata"]["managedFields"]}
    assert ("imp-gateway-test", "") in managers
    assert any(sub == "status" and manager != "imp-gateway-test"
               for manager, sub in managers), managers

    apply(traefik_cluster, route("/v2"))
    answer = served(traefik, "/v2/orders")
    assert answer is not None and answer["path"] == "/v2/orders"
    assert answer["headers"]["X-Imp-Gateway"] == "tagged"
    assert wait_until(lambda: send(traefik, "/v1/orders")[0] == 404, 10)
    assert wait_until(lambda: all(
        condition(route_conditions(traefik_cluster)[1], kind).get("observedGeneration") == 2
        for kind in ("Accepted", "ResolvedRefs")), 10), route_conditions(traefik_cluster)


def start_unsynced(cluster: SimCluster, tmp_path: Path) -> Traefik:
    return Traefik(cluster.url, kubesim_token(cluster), tmp_path).start(wait=False)


@pytest.mark.parametrize("bookmark", [True, False], ids=["with-bookmark", "without-bookmark"])
def test_traefik_syncs_only_when_streaming_lists_end_with_their_bookmark(
        crd_dir, tmp_path, echo_backend, bookmark):
    """client-go v0.36.3 tools/cache/reflector.go ``watchList`` loops until
    ``handleAnyWatch`` sees a BOOKMARK annotated ``k8s.io/initial-events-end: "true"``
    (metav1.InitialEventsAnnotationKey); it falls back to a plain LIST only when the watch
    request itself fails. Without the bookmark no informer syncs, so Traefik's providers
    never deliver a configuration and nothing is routed."""
    cluster = SimCluster(registry=crd_registry(crd_dir), token="t0ken",
                         initial_events_end_bookmark=bookmark)
    cluster.start()
    try:
        proxy = start_unsynced(cluster, tmp_path)
        try:
            install(cluster, echo_backend, proxy.web_port)
            if bookmark:
                assert wait_until(proxy.synced, 30)
                assert served(proxy, "/v1/orders") is not None
                return
            time.sleep(SETTLE)
            assert proxy.configured_providers() == set()
            assert send(proxy, "/v1/orders")[0] == 404
        finally:
            proxy.stop()
    finally:
        cluster.stop()


def test_without_nodes_the_crd_provider_never_syncs_and_middleware_routes_answer_404(
        crd_dir, tmp_path, echo_backend):
    """Traefik v3.7.9 pkg/provider/kubernetes/crd/client.go ``WatchAll`` starts a cluster-scoped
    ``Nodes().Informer()`` and returns only after ``WaitForCacheSync``: a cluster that does not
    serve v1 Nodes leaves the CRD provider without a configuration, so the route whose
    ExtensionRef names a Middleware is dropped (404), while the Gateway API provider still
    reports the Gateway Programmed: the "Ready while every request gets 404" of issue 13."""
    cluster = SimCluster(registry=crd_registry(crd_dir), token="t0ken",
                         omit_kinds={("v1", "Node")})
    cluster.start()
    try:
        proxy = start_unsynced(cluster, tmp_path)
        try:
            install(cluster, echo_backend, proxy.web_port)
            assert wait_until(lambda: "kubernetesgateway" in proxy.configured_providers(), 30)
            time.sleep(SETTLE)
            assert "kubernetescrd" not in proxy.configured_providers()
            assert send(proxy, "/v1/orders")[0] == 404
            gateway = cluster.get_object(GATEWAY_API, "Gateway", NAMESPACE, "edge")
            programmed = condition((gateway.get("status") or {}).get("conditions") or [],
                                   "Programmed")
            assert programmed.get("status") == "True"
        finally:
            proxy.stop()
    finally:
        cluster.stop()
