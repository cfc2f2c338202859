"""Contract tests for the envoy-gateway class: what Envoy Gateway v1.9.0's controller reads from
the objects we render, for every feature the capability matrix says it supports, and for the
semantics every class shares (docs/gateway-classes.md).

Each test's docstring names the source file(s) and function(s) of envoyproxy/gateway at tag
v1.9.0 behind every fact it asserts; the facts were read there, not guessed.
"""

from __future__ import annotations

import base64
import inspect
import json
import re
import sys

import pytest

from publishing.translation import (
    CAPABILITY_MATRIX,
    Feature,
    TranslationError,
    render_manifests,
    translation_errors,
)
from publishing.translation.features import CONVENTIONS
from publishing.translation.gateway_api import full_match_pattern

from .. import specs

CLASS = "envoy-gateway"
EG_GROUP = "gateway.envoyproxy.io"
GATEWAY_GROUP = "gateway.networking.k8s.io"


def render(spec: dict) -> list[dict]:
    return render_manifests(spec, revision=1)


def of_kind(manifests: list[dict], kind: str) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def routes(manifests: list[dict]) -> dict[str, dict]:
    return {**of_kind(manifests, "HTTPRoute"), **of_kind(manifests, "GRPCRoute")}


def demo() -> dict:
    return specs.demo_spec(CLASS)


def grpc_spec(*, route_timeout: int | None, backend_timeout: int | None, retries: int) -> dict:
    spec = specs.many_listeners_spec(CLASS)
    orders = specs.find_service(spec, "order-service")
    orders["backends"][0].update(timeout_seconds=backend_timeout, retry_attempts=retries)
    for route in orders["routes"]:
        route["timeout_seconds"] = route_timeout
    return spec


def traffic_policy_of(manifests: list[dict], route_name: str) -> dict:
    (policy,) = [
        p
        for p in of_kind(manifests, "BackendTrafficPolicy").values()
        if [t["name"] for t in p["spec"]["targetRefs"]] == [route_name]
    ]
    return policy


def sole_rule(route: dict) -> dict:
    (rule,) = route["spec"]["rules"]
    return rule


# --- Routing ----------------------------------------------------------------------------------


def test_routes_attach_to_their_publish_gateway_listeners():
    """Routes name the publish's Gateway in their own namespace and one listener each by
    sectionName; HTTPRoutes attach to HTTP/HTTPS listeners, GRPCRoutes to the GRPC listener,
    which admits GRPCRoutes only.

    Sources: `internal/gatewayapi/route.go` `processAllowedListenersForParentRefs` (a parent
    ref selects listeners, which must allow the route's kind and namespace) (Envoy Gateway
    v1.9.0)."""
    spec = specs.many_listeners_spec(CLASS)
    manifests = render(spec)
    (gateway,) = of_kind(manifests, "Gateway").values()
    listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
    for route in routes(manifests).values():
        assert route["metadata"]["namespace"] == gateway["metadata"]["namespace"]
        sections = []
        for ref in route["spec"]["parentRefs"]:
            assert (ref["group"], ref["kind"], ref["name"]) == (
                GATEWAY_GROUP,
                "Gateway",
                gateway["metadata"]["name"],
            )
            sections.append(ref["sectionName"])
            assert listeners[ref["sectionName"]]["allowedRoutes"]["namespaces"] == {"from": "Same"}
        if route["kind"] == "GRPCRoute":
            assert sections == ["grpc"]
        else:
            assert sections == ["http", "https"]
    assert listeners["grpc"]["allowedRoutes"]["kinds"] == [
        {"group": GATEWAY_GROUP, "kind": "GRPCRoute"}
    ]


def test_path_exact():
    """An Exact path reaches Envoy as an exact path match.

    Sources: `internal/gatewayapi/route.go` `processHTTPRouteRule` (PathMatchExact to an
    Exact StringMatch); `internal/xds/translator/route.go` `buildPathMatch` (RouteMatch_Path)
    (Envoy Gateway v1.9.0)."""
    route = routes(render(demo()))["payment-api-prod-42-payment-service-create-payment"]
    for rule in route["spec"]["rules"]:
        assert rule["matches"][0]["path"] == {"type": "Exact", "value": "/v1/payments"}


def test_path_prefix():
    """A PathPrefix path is sent without a trailing slash; Envoy Gateway matches it as a
    path-separated prefix, so '/v1/payments' matches '/v1/payments/7' but not
    '/v1/paymentsX'.

    Sources: `internal/gatewayapi/route.go` `processHTTPRouteRule` (PathMatchPathPrefix to a
    Prefix StringMatch); `internal/xds/translator/route.go` `buildPathMatch` (trailing '/'
    trimmed, RouteMatch_PathSeparatedPrefix) (Envoy Gateway v1.9.0)."""
    route = routes(render(demo()))["payment-api-prod-42-payment-service-get-payment"]
    for rule in route["spec"]["rules"]:
        path = rule["matches"][0]["path"]
        assert path == {"type": "PathPrefix", "value": "/v1/payments"}
        assert path["value"] == "/" or not path["value"].endswith("/")


REGEX_SAMPLES = {
    r"/v2/items/[0-9]+": ["/v2/items/42", "/v2/items/42/x", "/x/v2/items/42", "/v2/items/"],
    r"/(a|b)/c": ["/a/c", "/b/c", "/ab/c", "/a/c/d"],
    r"/a|/b": ["/a", "/b", "/ab", "/x/a", "/b/x"],
    r".*\.json": ["/data.json", "/data.jsonx", "/v1/data.json"],
}


@pytest.mark.parametrize("pattern", sorted(REGEX_SAMPLES))
def test_path_regex_matches_the_whole_path(pattern):
    """A RegularExpression path is sent as written: Envoy matches the whole path against the
    RE2 pattern (safe_regex), which is the meaning every class shares (full_match_pattern).

    Sources: `internal/gatewayapi/route.go` `processHTTPRouteRule` (PathMatchRegularExpression
    validated as RE2, passed on as SafeRegex); `internal/xds/translator/route.go`
    `buildPathMatch` (RouteMatch_SafeRegex, which Envoy matches against the full path)
    (Envoy Gateway v1.9.0)."""
    spec = demo()
    service = specs.find_service(spec, "debug-service")
    service["routes"] = [
        specs.route("by-regex", pattern, backend="echo", match_type="RegularExpression")
    ]
    route = routes(render(spec))["payment-api-prod-42-debug-service-by-regex"]
    value = sole_rule(route)["matches"][0]["path"]
    assert value == {"type": "RegularExpression", "value": pattern}
    for path in REGEX_SAMPLES[pattern]:
        envoy_matches = re.fullmatch(value["value"], path) is not None
        assert envoy_matches == (re.search(full_match_pattern(pattern), path) is not None), path


def test_method_match():
    """A route limited to methods gets one rule per method, each with one match naming the
    method; Envoy Gateway turns it into a ':method' exact header match.

    Sources: `internal/gatewayapi/route.go` `processHTTPRouteRule` (match.Method to a
    ':method' Exact header match; one xDS route per match) (Envoy Gateway v1.9.0)."""
    route = routes(render(demo()))["payment-api-prod-42-payment-service-get-payment"]
    assert [rule["matches"][0]["method"] for rule in route["spec"]["rules"]] == [
        "GET",
        "HEAD",
        "OPTIONS",
    ]
    assert all(len(rule["matches"]) == 1 for rule in route["spec"]["rules"])


def test_header_match():
    """An exact header match keeps its name, value and type Exact.

    Sources: `internal/gatewayapi/route.go` `processHTTPRouteRule` (HeaderMatchExact to an
    Exact StringMatch); `internal/xds/translator/route.go` `buildXdsRouteMatch` (Envoy
    HeaderMatcher) (Envoy Gateway v1.9.0)."""
    route = routes(render(demo()))["payment-api-prod-42-payment-service-payment-events"]
    assert route["spec"]["rules"][0]["matches"][0]["headers"] == [
        {"type": "Exact", "name": "x-api-version", "value": "2"}
    ]


def test_header_regex_match():
    """A regex header match is sent as written; Envoy Gateway validates it as RE2 and Envoy
    matches the whole header value against it.

    Sources: `internal/gatewayapi/route.go` `processHTTPRouteRule` (HeaderMatchRegularExpression
    validated, passed on as SafeRegex); `internal/xds/translator/route.go`
    `buildXdsStringMatcher` (StringMatcher_SafeRegex) (Envoy Gateway v1.9.0)."""
    spec = specs.regex_and_headers_spec(CLASS)
    route = routes(render(spec))["catalog-api-prod-42-catalog-service-beta-search"]
    assert {"type": "RegularExpression", "name": "user-agent", "value": ".*Mobile.*"} in (
        route["spec"]["rules"][0]["matches"][0]["headers"]
    )


def test_grpc_routes():
    """A gRPC route 'package.Service/Method' is a GRPCRoute Exact method match with both
    parts, which Envoy Gateway matches as the exact path '/package.Service/Method'.

    Sources: `internal/gatewayapi/route.go` `processGRPCRouteMethodExact` (service and method
    to the Exact path /service/method) (Envoy Gateway v1.9.0)."""
    route = routes(render(specs.many_listeners_spec(CLASS)))[
        "orders-prod-42-order-service-create-order"
    ]
    assert route["kind"] == "GRPCRoute"
    assert sole_rule(route)["matches"][0]["method"] == {
        "type": "Exact",
        "service": "orders.v1.OrderService",
        "method": "CreateOrder",
    }


def test_grpc_service_match():
    """A gRPC route of a whole service is a method match with the service only; Envoy Gateway
    matches it as the path-separated prefix '/package.Service', so the methods of that service
    and of no other whose name merely starts alike.

    Sources: `internal/gatewayapi/route.go` `processGRPCRouteMethodExact` (service only to the
    Prefix /service); `internal/xds/translator/route.go` `buildPathMatch`
    (RouteMatch_PathSeparatedPrefix) (Envoy Gateway v1.9.0)."""
    route = routes(render(specs.many_listeners_spec(CLASS)))[
        "orders-prod-42-order-service-order-service"
    ]
    assert sole_rule(route)["matches"][0]["method"] == {
        "type": "Exact",
        "service": "orders.v1.OrderService",
    }


def test_request_headers():
    """Header changes are a RequestHeaderModifier filter on HTTPRoute and GRPCRoute rules alike,
    which Envoy Gateway processes for both kinds.

    Sources: `internal/gatewayapi/filters.go` `ProcessHTTPFilters` and `ProcessGRPCFilters`
    (GRPCRouteFilterRequestHeaderModifier handled), `processRequestHeaderModifierFilter`
    (Envoy Gateway v1.9.0)."""
    route = routes(render(demo()))["payment-api-prod-42-payment-service-create-payment"]
    modifier = {
        "type": "RequestHeaderModifier",
        "requestHeaderModifier": {
            "set": [{"name": "x-imp-gateway", "value": "payment-api"}],
            "remove": ["x-debug"],
        },
    }
    assert all(modifier in rule["filters"] for rule in route["spec"]["rules"])
    spec = specs.many_listeners_spec(CLASS)
    specs.find_service(spec, "order-service")["policies"].append(
        specs.policy("strip", "request_headers", remove=["x-debug"])
    )
    grpc = routes(render(spec))["orders-prod-42-order-service-create-order"]
    assert sole_rule(grpc)["filters"] == [
        {"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": ["x-debug"]}}
    ]


def test_path_rewrite():
    """A prefix rewrite is one URLRewrite filter per rule (Envoy Gateway refuses two), of type
    ReplacePrefixMatch on a PathPrefix match; an Exact route under a backend base path gets
    ReplaceFullPath; a backend of one DNS name also gets its hostname.

    Sources: `internal/gatewayapi/filters.go` `processURLRewriteFilter` (one urlRewrite per
    rule, ReplaceFullPath / ReplacePrefixMatch, hostname validated) (Envoy Gateway v1.9.0)."""
    manifests = render(demo())
    events = routes(manifests)["payment-api-prod-42-payment-service-payment-events"]
    for rule in events["spec"]["rules"]:
        rewrites = [f for f in rule["filters"] if f["type"] == "URLRewrite"]
        assert len(rewrites) == 1
        assert rule["matches"][0]["path"]["type"] == "PathPrefix"
        assert rewrites[0]["urlRewrite"]["path"] == {
            "type": "ReplacePrefixMatch",
            "replacePrefixMatch": "/events",
        }
    status = routes(manifests)["payment-api-prod-42-refund-service-refund-status"]
    (rewrite,) = [f for f in sole_rule(status)["filters"] if f["type"] == "URLRewrite"]
    assert rewrite["urlRewrite"] == {
        "hostname": "refunds.partner.example.com",
        "path": {"type": "ReplaceFullPath", "replaceFullPath": "/api/v1/refunds/status"},
    }


# --- Listeners and certificates ---------------------------------------------------------------


def test_https_listeners():
    """An HTTPS listener terminates TLS with a core Secret certificateRef.

    Sources: `internal/gatewayapi/validate.go` `validateTLSConfiguration` (HTTPS needs TLS in
    mode Terminate) and `validateTerminateModeAndGetTLSSecrets` (certificateRefs of kind
    Secret, group core) (Envoy Gateway v1.9.0)."""
    (gateway,) = of_kind(render(demo()), "Gateway").values()
    https = next(li for li in gateway["spec"]["listeners"] if li["name"] == "https")
    assert https["protocol"] == "HTTPS"
    assert https["tls"] == {
        "mode": "Terminate",
        "certificateRefs": [{"group": "", "kind": "Secret", "name": "api-imprun-dev-tls"}],
    }


def test_certificate_in_another_namespace_gets_a_reference_grant():
    """A certificateRef to another namespace is permitted only by a ReferenceGrant in that
    namespace, from Gateways (group gateway.networking.k8s.io) of the listener's namespace, to
    Secrets (core group) of that name; without one the listener is RefNotPermitted.

    Sources: `internal/gatewayapi/validate.go` `validateTerminateModeAndGetTLSSecrets` (a
    cross-namespace certificateRef checked from kind Gateway of the listener namespace);
    `internal/gatewayapi/helpers.go` `isCrossNamespaceReferencePermitted` (grant in the target
    namespace, from namespace/group/kind, to group/kind/name) (Envoy Gateway v1.9.0)."""
    manifests = render(specs.many_listeners_spec(CLASS))
    (gateway,) = of_kind(manifests, "Gateway").values()
    https = next(li for li in gateway["spec"]["listeners"] if li["name"] == "https")
    (ref,) = https["tls"]["certificateRefs"]
    (grant,) = of_kind(manifests, "ReferenceGrant").values()
    assert grant["metadata"]["namespace"] == ref["namespace"] == "cert-manager"
    assert grant["spec"] == {
        "from": [
            {
                "group": GATEWAY_GROUP,
                "kind": "Gateway",
                "namespace": gateway["metadata"]["namespace"],
            }
        ],
        "to": [{"group": "", "kind": "Secret", "name": ref["name"]}],
    }
    # The certificate in the publish namespace needs no grant.
    same = render(demo())
    assert of_kind(same, "ReferenceGrant") == {}


def test_tls_passthrough():
    """A TLS listener in Passthrough mode carries no certificateRefs, which Envoy Gateway
    refuses in that mode.

    Sources: `internal/gatewayapi/validate.go` `validateTLSConfiguration` (TLSProtocolType
    with TLSModePassthrough must not set certificateRefs) (Envoy Gateway v1.9.0)."""
    (gateway,) = of_kind(render(specs.many_listeners_spec(CLASS)), "Gateway").values()
    listeners = {li["name"]: li for li in gateway["spec"]["listeners"]}
    passthrough = listeners["mtls-passthrough"]
    assert passthrough["protocol"] == "TLS"
    assert passthrough["tls"] == {"mode": "Passthrough"}


# --- Backends ---------------------------------------------------------------------------------


def test_backend_refs_name_backends_of_the_publish_namespace():
    """Routes reference Backend objects (group gateway.envoyproxy.io) in their own namespace;
    Envoy Gateway resolves them only with the Backend API enabled (a documented cluster
    prerequisite) and then validates the Backend.

    Sources: `internal/gatewayapi/validate.go` `validateBackendRefBackend` (Backend disabled
    refused, Backend looked up in the namespace, validateBackend) (Envoy Gateway v1.9.0)."""
    manifests = render(demo())
    backends = of_kind(manifests, "Backend")
    for route in routes(manifests).values():
        for rule in route["spec"]["rules"]:
            for ref in rule["backendRefs"]:
                assert (ref["group"], ref["kind"]) == (EG_GROUP, "Backend")
                assert "namespace" not in ref
                assert ref["name"] in backends
    assert any("extensionApis.enableBackend" in c for c in CONVENTIONS)


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("http://echo:8080", "endpoint host 'echo' is a single DNS label"),
        ("127.0.0.1:8080", "endpoint '127.0.0.1' is a loopback address"),
        ("[::1]:8080", "endpoint '::1' is a loopback address"),
        ("[::ffff:127.0.0.1]:8080", "endpoint '::ffff:127.0.0.1' is a loopback address"),
    ],
)
def test_backend_endpoints_envoy_gateway_refuses_are_refused_at_publish(endpoint, message):
    """A Backend with a single-label hostname or a loopback address is not accepted (outside
    Envoy Gateway's host mode), and every route of it would lose its upstream: the publish is
    refused with the backend and the endpoint named.

    Sources: `internal/gatewayapi/backend.go` `validateBackend`, `validateHostname` (at least
    two dot-separated segments) and `validateIP` (loopback refused; netip unmaps IPv4-mapped
    addresses) (Envoy Gateway v1.9.0)."""
    spec = demo()
    specs.find_service(spec, "debug-service")["backends"] = [
        specs.backend("echo", endpoint)
    ]
    errors = translation_errors(spec)
    assert any(
        error.startswith("backend 'echo' of service 'debug-service': ") and message in error
        and "gateway class 'envoy-gateway'" in error
        for error in errors
    ), errors
    with pytest.raises(TranslationError):
        render(spec)
    specs.find_service(spec, "debug-service")["backends"] = [
        specs.backend("echo", "echo.debug.svc.cluster.local:8080", "10.0.0.1:80")
    ]
    assert translation_errors(spec) == []


def test_external_https_backends():
    """An https backend is a Backend with tls verified against the system CAs, with SNI from the
    endpoint hostname; Envoy Gateway refuses a TLS Backend that names no CA.

    Sources: `internal/gatewayapi/backend.go` `validateBackendTLSSettings` (without
    insecureSkipVerify, wellKnownCACertificates or caCertificateRefs are required)
    (Envoy Gateway v1.9.0)."""
    (partner,) = [
        b
        for name, b in of_kind(render(demo()), "Backend").items()
        if name == "payment-api-prod-42-refund-service-partner"
    ]
    assert partner["spec"] == {
        "endpoints": [{"fqdn": {"hostname": "refunds.partner.example.com", "port": 443}}],
        "tls": {"wellKnownCACertificates": "System", "autoSNIFromEndpointHostname": True},
    }


def test_health_checks():
    """Active HTTP health checks name the path, the interval and the expected status.

    Sources: `internal/gatewayapi/clustersettings.go` `buildActiveHealthCheck` and
    `buildHTTPActiveHealthChecker` (type HTTP, path, interval, expectedStatuses)
    (Envoy Gateway v1.9.0)."""
    policy = traffic_policy_of(render(demo()), "payment-api-prod-42-payment-service-get-payment")
    assert policy["spec"]["healthCheck"] == {
        "active": {
            "type": "HTTP",
            "interval": "10s",
            "http": {"path": "/healthz", "expectedStatuses": [200]},
        }
    }


def test_load_balancing():
    """least_request and consistent_hash become loadBalancer LeastRequest and ConsistentHash of
    type SourceIP.

    Sources: `internal/gatewayapi/clustersettings.go` `buildLoadBalancer` and
    `buildConsistentHashLoadBalancer` (Envoy Gateway v1.9.0)."""
    manifests = render(demo())
    policy = traffic_policy_of(manifests, "payment-api-prod-42-payment-service-get-payment")
    assert policy["spec"]["loadBalancer"] == {"type": "LeastRequest"}
    spec = specs.regex_and_headers_spec(CLASS)
    policy = traffic_policy_of(render(spec), "catalog-api-prod-42-catalog-service-beta-search")
    assert policy["spec"]["loadBalancer"] == {
        "type": "ConsistentHash",
        "consistentHash": {"type": "SourceIP"},
    }


def test_load_balancing_random():
    """random becomes loadBalancer Random.

    Sources: `internal/gatewayapi/clustersettings.go` `buildLoadBalancer`
    (RandomLoadBalancerType) (Envoy Gateway v1.9.0)."""
    spec = specs.regex_and_headers_spec(CLASS)
    policy = traffic_policy_of(render(spec), "catalog-api-prod-42-catalog-service-item-by-id")
    assert policy["spec"]["loadBalancer"] == {"type": "Random"}


def test_one_backend_traffic_policy_per_route():
    """Envoy Gateway attaches one BackendTrafficPolicy to a route and refuses a second one
    (Conflicted), so the route's rate limit, retries, timeouts, health check and balancing
    travel in one policy that targets that route alone.

    Sources: `internal/gatewayapi/backendtrafficpolicy.go`
    `resolveBackendTrafficPolicyRouteTargetRef` ("another BackendTrafficPolicy has already
    attached to it") (Envoy Gateway v1.9.0)."""
    for build in (demo, lambda: specs.many_listeners_spec(CLASS)):
        manifests = render(build())
        targets = [
            (t["kind"], t["name"])
            for p in of_kind(manifests, "BackendTrafficPolicy").values()
            for t in p["spec"]["targetRefs"]
        ]
        assert len(targets) == len(set(targets))
        assert all(
            len(p["spec"]["targetRefs"]) == 1
            for p in of_kind(manifests, "BackendTrafficPolicy").values()
        )


# --- Timeouts and retries ---------------------------------------------------------------------


def test_route_timeout_on_http_routes():
    """A route timeout is the HTTPRoute rule's timeouts.request: Envoy's route timeout, which
    bounds the whole request.

    Sources: `internal/gatewayapi/route.go` `processRouteTimeout` (timeouts.request to the IR
    route timeout); `internal/xds/translator/route.go` `getEffectiveRequestTimeout` (the
    route's timeout, taking precedence over the policy's) (Envoy Gateway v1.9.0)."""
    spec = demo()
    specs.find_service(spec, "payment-service")["backends"][0]["timeout_seconds"] = None
    route = routes(render(spec))["payment-api-prod-42-payment-service-create-payment"]
    assert all(rule["timeouts"] == {"request": "15s"} for rule in route["spec"]["rules"])


def test_route_timeout_on_grpc_routes_is_not_dropped():
    """A GRPCRoute has no timeouts field: a gRPC route timeout is the BackendTrafficPolicy's
    timeout.http.requestTimeout, which Envoy Gateway makes the route timeout when the route
    sets none (a GRPCRoute never does).

    Sources: `internal/gatewayapi/clustersettings.go` `buildClusterSettingsTimeout`
    (HTTP.RequestTimeout); `internal/xds/translator/route.go` `getEffectiveRequestTimeout`
    (falls back to Traffic.Timeout.HTTP.RequestTimeout); `internal/gatewayapi/route.go`
    `processRouteTrafficFeatures` (only HTTPRoute rules carry timeouts) (Envoy Gateway
    v1.9.0)."""
    manifests = render(grpc_spec(route_timeout=20, backend_timeout=None, retries=0))
    for name in (
        "orders-prod-42-order-service-create-order",
        "orders-prod-42-order-service-order-service",
    ):
        assert "timeouts" not in sole_rule(routes(manifests)[name])
        policy = traffic_policy_of(manifests, name)
        assert policy["spec"]["targetRefs"][0]["kind"] == "GRPCRoute"
        assert policy["spec"]["timeout"] == {"http": {"requestTimeout": "20s"}}


def test_backend_timeout_of_a_single_attempt():
    """Without retries there is one attempt: the backend timeout is timeouts.backendRequest,
    which Envoy Gateway makes the route timeout (it is never above timeouts.request). On gRPC
    routes the policy's requestTimeout carries the smaller of the two.

    Sources: `internal/gatewayapi/route.go` `processRouteTimeout` (backendRequest replaces the
    route timeout when the rule has no retry) (Envoy Gateway v1.9.0)."""
    spec = demo()
    specs.find_service(spec, "payment-service")["backends"][0]["retry_attempts"] = 0
    route = routes(render(spec))["payment-api-prod-42-payment-service-get-payment"]
    assert all(rule["timeouts"] == {"backendRequest": "10s"} for rule in route["spec"]["rules"])
    manifests = render(grpc_spec(route_timeout=20, backend_timeout=5, retries=0))
    policy = traffic_policy_of(manifests, "orders-prod-42-order-service-create-order")
    assert policy["spec"]["timeout"] == {"http": {"requestTimeout": "5s"}}
    assert "retry" not in policy["spec"]


def test_backend_timeout_with_retries_bounds_each_attempt():
    """With retries the backend timeout is the per-attempt timeout (retry.perRetry.timeout,
    Envoy's per_try_timeout), and no timeouts.backendRequest is sent: Envoy Gateway would make
    it the route timeout, the limit of all attempts together. Without a route timeout the
    route timeout is 0s (Envoy's own 15 s default off): the attempts bound the request.

    Sources: `internal/gatewayapi/route.go` `processRouteTimeout` (backendRequest becomes the
    route timeout when the rule has no retry of its own, and ours are in the policy);
    `internal/gatewayapi/clustersettings.go` `buildRetry` (PerRetry.Timeout);
    `internal/xds/translator/route.go` `buildRetryPolicy` (PerTryTimeout) (Envoy Gateway
    v1.9.0)."""
    manifests = render(demo())
    create = routes(manifests)["payment-api-prod-42-payment-service-create-payment"]
    assert all(rule["timeouts"] == {"request": "15s"} for rule in create["spec"]["rules"])
    get = routes(manifests)["payment-api-prod-42-payment-service-get-payment"]
    assert all(rule["timeouts"] == {"request": "0s"} for rule in get["spec"]["rules"])
    for name in ("payment-api-prod-42-payment-service-create-payment", get["metadata"]["name"]):
        retry = traffic_policy_of(manifests, name)["spec"]["retry"]
        assert retry["perRetry"] == {"timeout": "10s"}
    grpc = render(grpc_spec(route_timeout=None, backend_timeout=5, retries=1))
    policy = traffic_policy_of(grpc, "orders-prod-42-order-service-create-order")
    assert policy["spec"]["timeout"] == {"http": {"requestTimeout": "0s"}}
    assert policy["spec"]["retry"]["perRetry"] == {"timeout": "5s"}


def test_retries_only_before_the_request_reached_the_backend():
    """retry_attempts is numRetries, on connect-failure, refused-stream and
    reset-before-request only: triggers that fire before the backend can have seen the
    request (not 5xx, reset or timeouts), so retries are safe for every method.

    Sources: `internal/gatewayapi/clustersettings.go` `buildRetry` (NumRetries, RetryOn
    triggers); `api/v1alpha1/retry_types.go` `TriggerEnum` (ResetBeforeRequest: only if the
    request headers were not sent); `internal/xds/translator/route.go` `buildRetryOn`
    (Envoy Gateway v1.9.0)."""
    policy = traffic_policy_of(render(demo()), "payment-api-prod-42-refund-service-create-refund")
    assert policy["spec"]["retry"] == {
        "numRetries": 1,
        "retryOn": {"triggers": ["connect-failure", "refused-stream", "reset-before-request"]},
        "perRetry": {"timeout": "30s"},
    }
    spec = demo()
    for backend in specs.find_service(spec, "refund-service")["backends"]:
        backend["retry_attempts"] = 0
    policy = traffic_policy_of(render(spec), "payment-api-prod-42-refund-service-create-refund")
    assert "retry" not in policy["spec"]


# --- Rate limits ------------------------------------------------------------------------------


def test_rate_limit_is_one_counter_per_route_whatever_the_listeners():
    """A rate limit is a global rule with shared: true in the route's own policy. Envoy
    Gateway then counts it in one descriptor of a domain named after the policy, for every xDS
    route the policy reaches (each listener, hostname and rule/method of the route); a local
    limit would be a token bucket per xDS route. The counter is the route's, since the policy
    targets that route alone.

    Sources: `internal/gatewayapi/backendtrafficpolicy.go` `buildRateLimit` (no type: the
    global block is used), `buildGlobalRateLimit` and `buildRateLimitRule` (Shared kept);
    `internal/xds/translator/ratelimit.go` `buildRouteRateLimits` and
    `BuildRateLimitServiceConfig` (shared rules: domain and descriptor from the rule name
    <policy-ns>/<policy-name>/rule/<index>, not from the listener or route);
    `internal/xds/translator/local_ratelimit.go` `patchRoute` (a local bucket per xDS route)
    (Envoy Gateway v1.9.0)."""
    spec = demo()
    manifests = render(spec)
    route = routes(manifests)["payment-api-prod-42-payment-service-get-payment"]
    # Several listeners and several rules (methods): still one policy, one rule.
    assert len(route["spec"]["parentRefs"]) == 2 and len(route["spec"]["rules"]) == 3
    policy = traffic_policy_of(manifests, route["metadata"]["name"])
    assert policy["spec"]["rateLimit"] == {
        "global": {"rules": [{"limit": {"requests": 100, "unit": "Minute"}, "shared": True}]}
    }
    # Each route counts on its own: every rate-limited route has a policy of its own.
    limited = [
        p["spec"]["targetRefs"][0]["name"]
        for p in of_kind(manifests, "BackendTrafficPolicy").values()
        if "rateLimit" in p["spec"]
    ]
    assert sorted(limited) == sorted(
        name
        for name, r in routes(manifests).items()
        if "payment-service" in name or "refund-service" in name
    )
    assert any("rate limit service" in c for c in CONVENTIONS)


def test_rate_limit_hour_day():
    """Hourly and daily limits use the global rule's units Hour and Day.

    Sources: `internal/gatewayapi/backendtrafficpolicy.go` `buildRateLimitRule` (Limit.Unit
    kept); `api/v1alpha1/ratelimit_types.go` `RateLimitUnit` (Second, Minute, Hour, Day,
    Month, Year) (Envoy Gateway v1.9.0)."""
    policy = traffic_policy_of(render(demo()), "payment-api-prod-42-refund-service-refund-status")
    assert policy["spec"]["rateLimit"]["global"]["rules"][0]["limit"] == {
        "requests": 1000,
        "unit": "Hour",
    }


# --- Security ---------------------------------------------------------------------------------


def security_policies(manifests: list[dict]) -> dict[str, dict]:
    return of_kind(manifests, "SecurityPolicy")


def test_cors():
    """A CORS policy is the SecurityPolicy's cors block with origins, methods, headers, max age
    and credentials.

    Sources: `internal/gatewayapi/securitypolicy.go` `buildCORS` (AllowOrigins, AllowMethods,
    AllowHeaders, ExposeHeaders, MaxAge parsed as a duration, AllowCredentials)
    (Envoy Gateway v1.9.0)."""
    policy = security_policies(render(demo()))["payment-api-prod-42-payment-service"]
    assert policy["spec"]["cors"] == {
        "allowOrigins": ["https://console.imprun.dev"],
        "allowMethods": ["GET", "POST"],
        "allowHeaders": ["content-type", "x-api-key"],
        "maxAge": "600s",
        "allowCredentials": False,
    }


def test_ip_allowlist():
    """An IP allow-list denies by default and allows the client CIDRs.

    Sources: `internal/gatewayapi/securitypolicy.go` `buildAuthorization` (DefaultAction,
    rules with Action and Principal.ClientCIDRs) (Envoy Gateway v1.9.0)."""
    policy = security_policies(render(demo()))["payment-api-prod-42-payment-service"]
    assert policy["spec"]["authorization"] == {
        "defaultAction": "Deny",
        "rules": [
            {
                "name": "office-only",
                "action": "Allow",
                "principal": {"clientCIDRs": ["10.0.0.0/8", "203.0.113.0/24"]},
            }
        ],
    }


def test_api_key_credentials_have_the_shape_envoy_gateway_reads():
    """Each consumer's keys are an Opaque Secret whose data keys are client ids and whose
    values are the API keys (one client id per key, numbered when a consumer has several);
    Envoy Gateway reads every data entry that way, skips a repeated client id and refuses a
    repeated key.

    Sources: `internal/gatewayapi/securitypolicy.go` `buildAPIKeyAuth` (clientid = data key,
    key = value; duplicated key refused, duplicated client skipped);
    `api/v1alpha1/api_key_auth_types.go` `APIKeyAuth` (Opaque secret, key per client id)
    (Envoy Gateway v1.9.0)."""
    manifests = render(demo())
    secrets = of_kind(manifests, "Secret")
    decoded = {
        name: {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        for name, secret in secrets.items()
    }
    assert decoded == {
        "payment-api-prod-42-consumer-acme-corp": {"acme-corp": "ak_live_7f3c9a1e5b2d4c6a"},
        "payment-api-prod-42-consumer-globex": {
            "globex": "ak_live_0b1d2e3f4a5b6c7d",
            "globex.2": "ak_live_9e8d7c6b5a4f3e2d",
        },
    }
    assert all(secret["type"] == "Opaque" for secret in secrets.values())
    keys = [key for data in decoded.values() for key in data.values()]
    assert len(keys) == len(set(keys))
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", k) for data in decoded.values() for k in data)


def test_api_keys_open_only_their_own_publish():
    """A key opens only its own publish and environment: the SecurityPolicies that check keys
    target only this publish's routes (each route exactly one policy, since Envoy Gateway
    refuses a second), reference only this publish's credential Secrets in their own
    namespace, read the x-api-key header and strip it. Two publishes of one product (dev and
    prod) in one namespace share no policy, target or Secret.

    Sources: `internal/gatewayapi/securitypolicy.go` `resolveSecurityPolicyRouteTargetRef`
    (target by kind, name and the policy's namespace; a second policy on a route is
    Conflicted) and `buildAPIKeyAuth` (credentialRefs resolved from the policy's namespace);
    `internal/gatewayapi/validate.go` `validateSecretRef` (another namespace only with a
    ReferenceGrant); `internal/xds/translator/api_key_auth.go` `buildAPIKeyAuthFilterConfig`
    (key sources from the headers, HideCredentials from sanitize) (Envoy Gateway v1.9.0)."""
    prod = demo()
    dev = demo()
    dev["publish"].update(
        id=43,
        environment="dev",
        name="payment-api-dev",
        hostnames=["payment-api.dev.kr-seoul.api.imprun.dev"],
    )
    dev["consumers"] = [{"name": "acme-corp", "api_keys": ["ak_test_0000000000000001"]}]
    rendered = {"prod": render(prod), "dev": render(dev)}
    seen: dict[str, set[tuple[str, str]]] = {}
    for env, manifests in rendered.items():
        own_routes = set(routes(manifests))
        own_secrets = set(of_kind(manifests, "Secret"))
        targeted: list[str] = []
        referenced: set[str] = set()
        for policy in security_policies(manifests).values():
            auth = policy["spec"]["apiKeyAuth"]
            assert auth["extractFrom"] == [{"headers": ["x-api-key"]}]
            assert auth["sanitize"] is True
            for ref in auth["credentialRefs"]:
                assert (ref["group"], ref["kind"]) == ("", "Secret") and "namespace" not in ref
                referenced.add(ref["name"])
            for target in policy["spec"]["targetRefs"]:
                assert "sectionName" not in target
                targeted.append(target["name"])
        assert sorted(targeted) == sorted(own_routes), "each route exactly one policy"
        assert referenced == own_secrets
        seen[env] = {("route", n) for n in own_routes} | {("secret", n) for n in own_secrets}
        seen[env] |= {("policy", n) for n in security_policies(manifests)}
    assert seen["prod"].isdisjoint(seen["dev"])
    dev_keys = json.dumps(of_kind(rendered["dev"], "Secret"))
    assert "ak_live" not in dev_keys


def test_jwt_auth():
    """auth mode oauth2 is a SecurityPolicy jwt provider with the issuer, the audiences and a
    remote JWKS URI; more audiences than the provider takes are refused at publish.

    Sources: `internal/gatewayapi/securitypolicy.go` `buildJWT` (Issuer, Audiences,
    RemoteJWKS) and `validateJWTProvider`; `api/v1alpha1/jwt_types.go` `JWTProvider`
    (audiences MaxItems 8) (Envoy Gateway v1.9.0)."""
    manifests = render(specs.demo_spec(CLASS, auth_mode="oauth2"))
    for policy in security_policies(manifests).values():
        assert policy["spec"]["jwt"] == {
            "providers": [
                {
                    "name": "oauth2",
                    "issuer": "https://auth.imprun.dev/realms/imprun",
                    "audiences": ["payment-api"],
                    "remoteJWKS": {
                        "uri": "https://auth.imprun.dev/realms/imprun/protocol/openid-connect/certs"
                    },
                }
            ]
        }
    spec = specs.demo_spec(CLASS, auth_mode="oauth2")
    spec["oauth2"]["audiences"] = [f"api-{n}" for n in range(9)]
    assert any("at most 8 audiences" in e for e in translation_errors(spec))


# --- The matrix and these contracts -----------------------------------------------------------

# The test that holds the contract of each feature the class supports.
FEATURE_CONTRACTS = {
    Feature.PATH_EXACT: "test_path_exact",
    Feature.PATH_PREFIX: "test_path_prefix",
    Feature.PATH_REGEX: "test_path_regex_matches_the_whole_path",
    Feature.METHOD_MATCH: "test_method_match",
    Feature.HEADER_MATCH: "test_header_match",
    Feature.HEADER_REGEX_MATCH: "test_header_regex_match",
    Feature.GRPC_ROUTES: "test_grpc_routes",
    Feature.GRPC_SERVICE_MATCH: "test_grpc_service_match",
    Feature.HTTPS_LISTENERS: "test_https_listeners",
    Feature.TLS_PASSTHROUGH: "test_tls_passthrough",
    Feature.PATH_REWRITE: "test_path_rewrite",
    Feature.ROUTE_TIMEOUT: "test_route_timeout_on_grpc_routes_is_not_dropped",
    Feature.BACKEND_TIMEOUT: "test_backend_timeout_with_retries_bounds_each_attempt",
    Feature.RETRIES: "test_retries_only_before_the_request_reached_the_backend",
    Feature.HEALTH_CHECKS: "test_health_checks",
    Feature.LOAD_BALANCING: "test_load_balancing",
    Feature.LOAD_BALANCING_RANDOM: "test_load_balancing_random",
    Feature.EXTERNAL_HTTPS_BACKENDS: "test_external_https_backends",
    Feature.RATE_LIMIT: "test_rate_limit_is_one_counter_per_route_whatever_the_listeners",
    Feature.RATE_LIMIT_HOUR_DAY: "test_rate_limit_hour_day",
    Feature.CORS: "test_cors",
    Feature.REQUEST_HEADERS: "test_request_headers",
    Feature.IP_ALLOWLIST: "test_ip_allowlist",
    Feature.API_KEY_AUTH: "test_api_keys_open_only_their_own_publish",
    Feature.JWT_AUTH: "test_jwt_auth",
}
SOURCE_CITATION = re.compile(
    r"`(internal|api)/[\w/.-]+\.go`\s+`\w+`[\s\S]*\(Envoy\s+Gateway\s+v1\.9\.0\)"
)


def test_every_supported_feature_has_a_contract_and_every_contract_a_source():
    """Meta: each feature the matrix marks supported for envoy-gateway has its contract test
    here, and every test of this module names the source file and function it relies on at
    the pinned tag (Envoy Gateway v1.9.0)."""
    supported = {f for f, s in CAPABILITY_MATRIX[CLASS].items() if s.supported}
    assert set(FEATURE_CONTRACTS) == supported
    module = sys.modules[__name__]
    tests = {
        name: function
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("test_")
    }
    assert set(FEATURE_CONTRACTS.values()) <= set(tests)
    for name, function in tests.items():
        if name == "test_every_supported_feature_has_a_contract_and_every_contract_a_source":
            continue
        assert SOURCE_CITATION.search(function.__doc__ or ""), name

