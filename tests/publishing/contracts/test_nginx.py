"""Contract tests for the nginx class: what NGINX Gateway Fabric v2.6.7's controller reads
from the objects we render, for every feature the capability matrix says it supports, and for
the semantics every class shares (docs/gateway-classes.md).

Each test's docstring names the source file(s) and function(s) of nginx/nginx-gateway-fabric
at tag v2.6.7 behind every fact it asserts; the facts were read there, not guessed.
"""

from __future__ import annotations

import inspect
import re
import sys

import pytest

from publishing.translation import (
    CAPABILITY_MATRIX,
    Feature,
    TranslationError,
    render_manifests,
    translation_errors,
    unsupported_features,
)
from publishing.translation.features import CONVENTIONS
from publishing.translation.gateway_api import full_match_pattern

from .. import specs

CLASS = "nginx"
NGF_GROUP = "gateway.nginx.org"
GATEWAY_GROUP = "gateway.networking.k8s.io"

# NGF's checks, copied from the sources cited where they are used.
NGF_LOCATION_PATH = re.compile(r"^/[^\s{};]*$")  # validation/common.go pathFmt
NGF_RATE = re.compile(r"^\d+r/[sm]$")  # ratelimit/validator.go rateStringFmt
NGF_LIMIT_REQ_KEY = re.compile(r"^(?:[^ \t\r\n;{}#$]+|\$\w+)+$")  # limitReqKeyFmt
NGF_DURATION = re.compile(r"^[0-9]{1,4}(ms|s|m|h)?$")  # validation/generic.go durationStringFmt


def render(spec: dict) -> list[dict]:
    return render_manifests(spec, revision=1)


def expressible(spec: dict) -> dict:
    return specs.expressible(spec, CLASS)


def of_kind(manifests: list[dict], kind: str) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def routes(manifests: list[dict]) -> dict[str, dict]:
    return {**of_kind(manifests, "HTTPRoute"), **of_kind(manifests, "GRPCRoute")}


def demo() -> dict:
    return expressible(specs.demo_spec(CLASS))


def sole_rule(route: dict) -> dict:
    (rule,) = route["spec"]["rules"]
    return rule


def targets(policy: dict) -> list[str]:
    return [ref["name"] for ref in policy["spec"]["targetRefs"]]


# --- Routing ----------------------------------------------------------------------------------


def test_routes_attach_to_their_publish_gateway_listeners():
    """Routes name the publish's Gateway and a listener by sectionName; listeners admit routes
    of their own namespace only, and the GRPC listener GRPCRoutes only.

    Sources: `internal/controller/state/graph/route_common.go` `isRouteNamespaceAllowedByListener`
    (From Same: the route's namespace must be the Gateway's) and `isRouteTypeAllowedByListener`
    (the listener's supported kinds) (NGINX Gateway Fabric v2.6.7)."""
    manifests = render(expressible(specs.many_listeners_spec(CLASS)))
    (gateway,) = of_kind(manifests, "Gateway").values()
    listeners = {li["name"]: li for li in gateway["spec"]["listeners"]}
    for route in routes(manifests).values():
        assert route["metadata"]["namespace"] == gateway["metadata"]["namespace"]
        for ref in route["spec"]["parentRefs"]:
            assert (ref["group"], ref["kind"], ref["name"]) == (
                GATEWAY_GROUP,
                "Gateway",
                gateway["metadata"]["name"],
            )
            listener = listeners[ref["sectionName"]]
            assert listener["allowedRoutes"]["namespaces"] == {"from": "Same"}
            if route["kind"] == "HTTPRoute":
                assert listener["protocol"] in ("HTTP", "HTTPS")
    assert listeners["grpc"]["allowedRoutes"]["kinds"] == [
        {"group": GATEWAY_GROUP, "kind": "GRPCRoute"}
    ]


def test_path_exact():
    """An Exact path becomes an exact nginx location ('= path') and must pass NGF's location
    path check.

    Sources: `internal/controller/nginx/config/servers.go` `createPath` (PathTypeExact to
    '= path'); `internal/controller/state/graph/httproute.go` `validatePathMatch` and
    `internal/controller/nginx/config/validation/common.go` `validatePathInMatch` (pathFmt)
    (NGINX Gateway Fabric v2.6.7)."""
    route = routes(render(demo()))["payment-api-prod-42-payment-service-create-payment"]
    for rule in route["spec"]["rules"]:
        path = rule["matches"][0]["path"]
        assert path == {"type": "Exact", "value": "/v1/payments"}
        assert NGF_LOCATION_PATH.match(path["value"])


def test_path_prefix():
    """A PathPrefix path becomes a prefix nginx location and must pass NGF's location path
    check.

    Sources: `internal/controller/nginx/config/servers.go` `createPath` (PathTypePrefix to the
    path itself); `internal/controller/nginx/config/validation/common.go` `validatePathInMatch`
    (NGINX Gateway Fabric v2.6.7)."""
    route = routes(render(demo()))["payment-api-prod-42-payment-service-get-payment"]
    for rule in route["spec"]["rules"]:
        path = rule["matches"][0]["path"]
        assert path == {"type": "PathPrefix", "value": "/v1/payments"}
        assert NGF_LOCATION_PATH.match(path["value"])


REGEX_SAMPLES = {
    r"/v2/items/[0-9]+": ["/v2/items/42", "/v2/items/42/x", "/x/v2/items/42", "/v2/items/"],
    r"/(a|b)/c": ["/a/c", "/b/c", "/ab/c", "/a/c/d"],
    r"/a|/b": ["/a", "/b", "/ab", "/x/a", "/b/x"],
    r".*\.json": ["/data.json", "/data.jsonx", "/v1/data.json"],
}


def regex_spec(pattern: str) -> dict:
    spec = demo()
    specs.find_service(spec, "debug-service")["routes"] = [
        specs.route("by-regex", pattern, backend="echo", match_type="RegularExpression")
    ]
    return spec


@pytest.mark.parametrize("pattern", sorted(REGEX_SAMPLES))
def test_path_regex_matches_the_whole_path(pattern):
    """NGF writes a RegularExpression path as `location ~ ^<value>` (a PCRE search anchored at
    the start only) and accepts only values that start with '/' and hold no whitespace, '{',
    '}' or ';'. The value we send, `/?^(?:pattern)$`, passes that check and makes nginx match
    exactly the paths whose whole path matches the pattern, the meaning every class shares.

    Sources: `internal/controller/nginx/config/servers.go` `createPath`
    (PathTypeRegularExpression to '~ ^' + path);
    `internal/controller/nginx/config/validation/common.go` `validatePathInRegexMatch`
    (pathFmt, then compiled with regexp2 in RE2 mode);
    `internal/controller/state/graph/httproute.go` `validatePathMatch` (RegularExpression
    accepted) (NGINX Gateway Fabric v2.6.7)."""
    route = routes(render(regex_spec(pattern)))["payment-api-prod-42-debug-service-by-regex"]
    path = sole_rule(route)["matches"][0]["path"]
    assert path["type"] == "RegularExpression"
    assert NGF_LOCATION_PATH.match(path["value"]), path["value"]
    location = "^" + path["value"]
    for sample in REGEX_SAMPLES[pattern]:
        expected = re.search(full_match_pattern(pattern), sample) is not None
        assert (re.search(location, sample) is not None) == expected, sample


def test_regex_paths_nginx_cannot_write_are_refused():
    """A pattern with whitespace, '{', '}' or ';' fails NGF's location path check (the route
    would not be accepted): it is refused at publish, naming the route and the rule.

    Sources: `internal/controller/nginx/config/validation/common.go` `validatePathInRegexMatch`
    (pathFmt: no whitespace, '{', '}' or ';') (NGINX Gateway Fabric v2.6.7)."""
    errors = translation_errors(regex_spec(r"/v[0-9]{1,3}/items"))
    assert any(
        e.startswith("route 'by-regex' of service 'debug-service': gateway class 'nginx'")
        and "'{', '}' or ';'" in e
        for e in errors
    ), errors
    assert translation_errors(regex_spec(r"/v[0-9]+/items")) == []


def test_method_match():
    """A route limited to methods has one rule per method, each match naming one method, which
    NGF validates and tests in its njs match module.

    Sources: `internal/controller/state/graph/httproute.go` `validateMethodMatch`;
    `internal/controller/nginx/modules/src/httpmatches.js` `testMatch` (r.method compared with
    the match's method) (NGINX Gateway Fabric v2.6.7)."""
    route = routes(render(demo()))["payment-api-prod-42-payment-service-get-payment"]
    assert [rule["matches"][0]["method"] for rule in route["spec"]["rules"]] == [
        "GET",
        "HEAD",
        "OPTIONS",
    ]


def test_header_match():
    """An exact header match keeps name, value and type; NGF compares the value with each
    comma-separated value of the header, names case-insensitively.

    Sources: `internal/controller/state/graph/route_common.go` `validateHeaderMatch` (Exact or
    RegularExpression); `internal/controller/nginx/modules/src/httpmatches.js` `headersMatch`
    (NGINX Gateway Fabric v2.6.7)."""
    route = routes(render(demo()))["payment-api-prod-42-payment-service-payment-events"]
    assert route["spec"]["rules"][0]["matches"][0]["headers"] == [
        {"type": "Exact", "name": "x-api-version", "value": "2"}
    ]


def test_header_regex_match():
    """A regex header match is sent as written; NGF tests it as a JavaScript RegExp searched in
    each comma-separated value (the matrix says so).

    Sources: `internal/controller/nginx/modules/src/httpmatches.js` `headersMatch`
    (`new RegExp(matchValue).test(v)`); `internal/controller/state/graph/route_common.go`
    `validateHeaderMatch` (NGINX Gateway Fabric v2.6.7)."""
    spec = expressible(specs.regex_and_headers_spec(CLASS))
    route = routes(render(spec))["catalog-api-prod-42-catalog-service-beta-search"]
    assert {"type": "RegularExpression", "name": "user-agent", "value": ".*Mobile.*"} in (
        route["spec"]["rules"][0]["matches"][0]["headers"]
    )
    assert "searched" in CAPABILITY_MATRIX[CLASS][Feature.HEADER_REGEX_MATCH].note


def test_grpc_routes():
    """A gRPC route is a GRPCRoute Exact method match with both service and method, which NGF
    requires and turns into the exact path '/service/method'; a match of the service alone is
    refused at publish (grpc_service_match).

    Sources: `internal/controller/state/graph/grpcroute.go` `validateGRPCMethodMatch` (type
    Exact, service and method required) and `ConvertGRPCMatches` (path /service/method, type
    Exact) (NGINX Gateway Fabric v2.6.7)."""
    spec = specs.many_listeners_spec(CLASS)
    route = routes(render(expressible(spec)))["orders-prod-42-order-service-create-order"]
    assert sole_rule(route)["matches"][0]["method"] == {
        "type": "Exact",
        "service": "orders.v1.OrderService",
        "method": "CreateOrder",
    }
    assert any("'grpc_service_match'" in m for m in unsupported_features(spec, CLASS))


def test_request_headers():
    """Header changes are a RequestHeaderModifier filter, a type NGF supports on HTTPRoutes and
    GRPCRoutes.

    Sources: `internal/controller/state/graph/common_filter.go` `validateFilterType`
    (supportedHTTPFilterTypes and supportedGRPCFilterTypes) and
    `validateFilterHeaderModifier` (NGINX Gateway Fabric v2.6.7)."""
    route = routes(render(demo()))["payment-api-prod-42-payment-service-create-payment"]
    modifier = {
        "type": "RequestHeaderModifier",
        "requestHeaderModifier": {
            "set": [{"name": "x-imp-gateway", "value": "payment-api"}],
            "remove": ["x-debug"],
        },
    }
    assert all(modifier in rule["filters"] for rule in route["spec"]["rules"])
    spec = expressible(specs.many_listeners_spec(CLASS))
    specs.find_service(spec, "order-service")["policies"].append(
        specs.policy("strip", "request_headers", remove=["x-debug"])
    )
    grpc = routes(render(spec))["orders-prod-42-order-service-create-order"]
    assert sole_rule(grpc)["filters"] == [
        {"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": ["x-debug"]}}
    ]


def test_path_rewrite():
    """A prefix rewrite is a URLRewrite ReplacePrefixMatch; a backend base path under an Exact
    route is ReplaceFullPath; a backend of one DNS name also gets its hostname. NGF validates
    the hostname and the path of both forms.

    Sources: `internal/controller/state/graph/httproute.go` `validateFilterRewrite`
    (hostname, ReplaceFullPath / ReplacePrefixMatch, path validated) (NGINX Gateway Fabric
    v2.6.7)."""
    manifests = render(demo())
    events = routes(manifests)["payment-api-prod-42-payment-service-payment-events"]
    for rule in events["spec"]["rules"]:
        (rewrite,) = [f for f in rule["filters"] if f["type"] == "URLRewrite"]
        assert rewrite["urlRewrite"]["path"] == {
            "type": "ReplacePrefixMatch",
            "replacePrefixMatch": "/events",
        }
    status = routes(manifests)["payment-api-prod-42-refund-service-refund-status"]
    (rewrite,) = [f for f in sole_rule(status)["filters"] if f["type"] == "URLRewrite"]
    assert rewrite["urlRewrite"] == {
        "hostname": "refunds.partner.example.com",
        "path": {"type": "ReplaceFullPath", "replaceFullPath": "/api/v1/refunds/status"},
    }


def test_cors():
    """A CORS policy is the standard HTTPRoute CORS filter, a type NGF supports and turns into
    response headers of the route's location.

    Sources: `internal/controller/state/graph/common_filter.go` `validateFilterType`
    (FilterCORS in supportedHTTPFilterTypes) and `validateFilterCORS`;
    `internal/controller/nginx/config/servers.go` `generateCORSHeaders` (NGINX Gateway Fabric
    v2.6.7)."""
    route = routes(render(demo()))["payment-api-prod-42-payment-service-create-payment"]
    (cors,) = [f for f in route["spec"]["rules"][0]["filters"] if f["type"] == "CORS"]
    assert cors["cors"] == {
        "allowOrigins": ["https://console.imprun.dev"],
        "allowMethods": ["GET", "POST"],
        "allowHeaders": ["content-type", "x-api-key"],
        "maxAge": 600,
        "allowCredentials": False,
    }


# --- Listeners and certificates ---------------------------------------------------------------


def test_https_listeners():
    """An HTTPS listener terminates TLS with a core Secret certificateRef, which NGF resolves.

    Sources: `internal/controller/state/graph/gateway_listener.go`
    `createExternalReferencesForTLSSecretsResolver` (certificateRefs resolved as Secrets of the
    Gateway's namespace unless a namespace is given) (NGINX Gateway Fabric v2.6.7)."""
    (gateway,) = of_kind(render(demo()), "Gateway").values()
    https = next(li for li in gateway["spec"]["listeners"] if li["name"] == "https")
    assert https["tls"] == {
        "mode": "Terminate",
        "certificateRefs": [{"group": "", "kind": "Secret", "name": "api-imprun-dev-tls"}],
    }


def test_certificate_in_another_namespace_gets_a_reference_grant():
    """A certificateRef to another namespace needs a ReferenceGrant there from Gateways of the
    listener's namespace to that Secret (otherwise RefNotPermitted). NGF watches ReferenceGrant
    v1, or v1beta1 when the v1 CRD is missing; we write v1beta1, which every Gateway API CRD
    since v0.6 serves and converts.

    Sources: `internal/controller/state/graph/gateway_listener.go`
    `createExternalReferencesForTLSSecretsResolver` (cross-namespace ref checked with
    refAllowed(toSecret, fromGateway)); `internal/controller/state/graph/reference_grant.go`
    `toSecret` and `fromGateway` (group gateway.networking.k8s.io, kind Gateway, namespace);
    `internal/controller/manager.go` `registerControllers` (v1, else v1beta1 ReferenceGrant)
    (NGINX Gateway Fabric v2.6.7)."""
    manifests = render(expressible(specs.many_listeners_spec(CLASS)))
    (gateway,) = of_kind(manifests, "Gateway").values()
    https = next(li for li in gateway["spec"]["listeners"] if li["name"] == "https")
    (ref,) = https["tls"]["certificateRefs"]
    (grant,) = of_kind(manifests, "ReferenceGrant").values()
    assert grant["apiVersion"] == "gateway.networking.k8s.io/v1beta1"
    assert grant["metadata"]["namespace"] == ref["namespace"] == "cert-manager"
    assert grant["spec"]["from"] == [
        {"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": gateway["metadata"]["namespace"]}
    ]
    assert grant["spec"]["to"] == [{"group": "", "kind": "Secret", "name": ref["name"]}]


def test_tls_passthrough():
    """A TLS listener carries mode Passthrough, the only mode NGF accepts on TLS listeners.

    Sources: `internal/controller/state/graph/gateway_listener.go`
    `validateTLSFieldOnTLSListener` (TLS required, Mode must be Passthrough) (NGINX Gateway
    Fabric v2.6.7)."""
    (gateway,) = of_kind(render(expressible(specs.many_listeners_spec(CLASS))), "Gateway").values()
    listeners = {li["name"]: li for li in gateway["spec"]["listeners"]}
    assert listeners["mtls-passthrough"]["tls"] == {"mode": "Passthrough"}


# --- Backends, retries and balancing ----------------------------------------------------------


def test_each_endpoint_is_an_upstream_of_its_own_so_nginx_never_retries():
    """NGF makes one nginx upstream per Service port, with a server per endpoint, and sets no
    proxy_next_upstream, so NGINX would pass an idempotent request on to the next server after
    an error or a timeout: a retry that retry_attempts 0 forbids. Each IP endpoint is
    therefore a Service of its own (one EndpointSlice, one address), each referenced once with
    weight 1, so each upstream has a single server.

    Sources: `internal/controller/nginx/config/upstreams.go` `createUpstream` (one server per
    endpoint of the Service); `internal/controller/nginx/config/upstreams_template.go`
    `upstreamsTemplateText` (no proxy_next_upstream or retry setting);
    `internal/controller/nginx/config/policies/proxysettings/generator.go` `getProxySettings`
    (buffering and timeouts only) (NGINX Gateway Fabric v2.6.7)."""
    manifests = render(demo())
    services = of_kind(manifests, "Service")
    slices = of_kind(manifests, "EndpointSlice")
    route = routes(manifests)["payment-api-prod-42-payment-service-get-payment"]
    refs = route["spec"]["rules"][0]["backendRefs"]
    assert [(r["name"], r["weight"]) for r in refs] == [
        ("payment-api-prod-42-payment-service-primary", 1),
        ("payment-api-prod-42-payment-service-primary-2", 1),
    ]
    addresses = {}
    for ref in refs:
        assert services[ref["name"]]["spec"]["type"] == "ClusterIP"
        addresses[ref["name"]] = [
            address
            for s in slices.values()
            if s["metadata"]["labels"]["kubernetes.io/service-name"] == ref["name"]
            for endpoint in s["endpoints"]
            for address in endpoint["addresses"]
        ]
    assert addresses == {
        "payment-api-prod-42-payment-service-primary": ["10.0.1.10"],
        "payment-api-prod-42-payment-service-primary-2": ["10.0.1.11"],
    }
    assert of_kind(manifests, "UpstreamSettingsPolicy") == {}
    assert not CAPABILITY_MATRIX[CLASS][Feature.RETRIES].supported


def test_load_balancing_random():
    """Requests are spread over a backend's endpoints by the route: NGF puts the backendRefs of
    a rule in a split_clients keyed on $request_id with percentages from the weights, a random
    choice in proportion to each endpoint's weight.

    Sources: `internal/controller/nginx/config/split_clients.go`
    `createBackendGroupSplitClientDistributions` (percent of weight) and `backendGroupNeedsSplit`
    (more than one backend); `internal/controller/nginx/config/split_clients_template.go`
    `splitClientsTemplateText` (split_clients $request_id) (NGINX Gateway Fabric v2.6.7)."""
    spec = expressible(specs.regex_and_headers_spec(CLASS))
    manifests = render(spec)
    route = routes(manifests)["catalog-api-prod-42-catalog-service-item-by-id"]
    refs = sole_rule(route)["backendRefs"]
    assert len(refs) == 3 and {r["weight"] for r in refs} == {1}
    assert {r["port"] for r in refs} == {9000, 9001}
    assert of_kind(manifests, "UpstreamSettingsPolicy") == {}


def test_least_request_and_consistent_hash_are_refused():
    """least_conn and hash balance the servers of one upstream, and each endpoint is an
    upstream of its own here (see above): least_request and consistent_hash are refused at
    publish, with the reason.

    Sources: `internal/controller/nginx/config/upstreams.go` `createUpstream` (the balancing
    method is set per upstream) (NGINX Gateway Fabric v2.6.7)."""
    messages = unsupported_features(specs.demo_spec(CLASS), CLASS)
    (message,) = [m for m in messages if "'load_balancing'" in m]
    assert "backend 'primary' of service 'payment-service'" in message
    assert "proxy_next_upstream" in message


def test_external_https_backends():
    """An https backend is an ExternalName Service with a BackendTLSPolicy that targets it and
    verifies the host name against the system CAs; NGF resolves the name at run time (which
    needs the DNS resolver in NginxProxy, a documented prerequisite).

    Sources: `internal/controller/state/graph/backend_tls_policy.go`
    `validateBackendTLSPolicy`, `validateBackendTLSHostname` and
    `validateBackendTLSWellKnownCACerts` (System only);
    `internal/controller/state/dataplane/configuration.go` `resolveUpstreamEndpoints`
    (ExternalName: the name with Resolve);
    `internal/controller/state/graph/backend_refs.go` `checkExternalNameValidForGateways`
    (no DNS resolver, backend invalid) (NGINX Gateway Fabric v2.6.7)."""
    manifests = render(demo())
    service = of_kind(manifests, "Service")["payment-api-prod-42-refund-service-partner"]
    assert service["spec"]["type"] == "ExternalName"
    assert service["spec"]["externalName"] == "refunds.partner.example.com"
    (policy,) = of_kind(manifests, "BackendTLSPolicy").values()
    assert policy["spec"] == {
        "targetRefs": [{"group": "", "kind": "Service", "name": service["metadata"]["name"]}],
        "validation": {
            "hostname": "refunds.partner.example.com",
            "wellKnownCACertificates": "System",
        },
    }
    assert any("DNS resolver" in c for c in CONVENTIONS)


def test_https_backend_with_several_host_names_is_refused():
    """NGF marks every backend of a rule invalid unless all have the same BackendTLSPolicy
    configuration (hostname included), so an https backend of several host names, each
    verified against its own name, is refused at publish.

    Sources: `internal/controller/state/graph/backend_refs.go`
    `validateBackendTLSPolicyMatchingAllBackends` ("Backend TLS policies do not match for all
    backends") and `addBackendRefsToRules` (all backendRefs of the rule invalid) (NGINX
    Gateway Fabric v2.6.7)."""
    spec = demo()
    specs.find_service(spec, "refund-service")["backends"][0]["endpoints"].append(
        specs.endpoint("https://refunds-2.partner.example.com/api")
    )
    errors = translation_errors(spec)
    assert any(
        e.startswith("backend 'partner' of service 'refund-service': gateway class 'nginx'")
        and "same BackendTLSPolicy" in e
        for e in errors
    ), errors
    with pytest.raises(TranslationError):
        render(spec)


# --- Timeouts ---------------------------------------------------------------------------------


def test_backend_timeout_on_http_routes():
    """A backend timeout is a ProxySettingsPolicy on the route with connect, read and send
    timeouts in NGF's duration form, written as proxy_connect/read/send_timeout.

    Sources: `internal/controller/nginx/config/policies/proxysettings/generator.go`
    `getProxySettings` (Timeout to ProxyConnectTimeout, ProxyReadTimeout, ProxySendTimeout) and
    `proxySettingsTemplate`; `internal/controller/nginx/config/policies/proxysettings/validator.go`
    `validateTimeouts`; `internal/controller/nginx/config/validation/generic.go`
    `durationStringFmt` (NGINX Gateway Fabric v2.6.7)."""
    manifests = render(demo())
    policies = of_kind(manifests, "ProxySettingsPolicy")
    policy = policies["payment-api-prod-42-refund-service-create-refund"]
    assert targets(policy) == ["payment-api-prod-42-refund-service-create-refund"]
    assert policy["spec"]["targetRefs"][0]["kind"] == "HTTPRoute"
    assert policy["spec"]["timeout"] == {"connect": "30s", "read": "30s", "send": "30s"}
    assert all(NGF_DURATION.match(v) for v in policy["spec"]["timeout"].values())


def test_backend_timeout_on_grpc_services_is_refused():
    """gRPC locations proxy with grpc_pass, and ProxySettingsPolicy writes only proxy_*
    directives, which grpc_pass ignores: a backend timeout of a gRPC service would do nothing,
    so it is refused at publish with the reason.

    Sources: `internal/controller/nginx/config/servers_template.go` `serversTemplateText`
    (gRPC locations use grpc_pass; policies come in as includes);
    `internal/controller/nginx/config/policies/proxysettings/generator.go`
    `proxySettingsTemplate` (proxy_connect/read/send_timeout only) (NGINX Gateway Fabric
    v2.6.7)."""
    spec = expressible(specs.many_listeners_spec(CLASS))
    specs.find_service(spec, "order-service")["backends"][0]["timeout_seconds"] = 5
    errors = translation_errors(spec)
    assert any(
        e.startswith("gateway class 'nginx' cannot express feature 'backend_timeout'")
        and "backend 'grpc-pods' of service 'order-service'" in e
        and "grpc_pass" in e
        for e in errors
    ), errors
    without = render(expressible(specs.many_listeners_spec(CLASS)))
    assert of_kind(without, "ProxySettingsPolicy") == {}


# --- Rate limits ------------------------------------------------------------------------------


def test_rate_limit_counts_every_client_of_a_route_in_one_zone():
    """A rate limit is a RateLimitPolicy on the route with one rule: a constant key (one counter
    for every client), the rate in NGF's form, no burst (so never more than the limit in a
    period), answering 429. NGF names the zone after the policy and its rule, so the route's
    locations on every listener and hostname share it; limit_req goes into the route's
    external location only, so a request the njs match module redirects internally is counted
    once.

    Sources: `internal/controller/nginx/config/policies/ratelimit/generator.go`
    `getRateLimitSettings` (zone <ns>_rl_<policy>_rule<i>; burst only if set) and
    `GenerateForLocation` (no internal-location generator); `rateLimitReqTemplate`;
    `internal/controller/nginx/config/policies/ratelimit/validator.go` `validateNginxRate` and
    `validateLimitReqKey`; `internal/controller/nginx/config/servers.go` `createLocations`
    (policies of external locations from GenerateForLocation) (NGINX Gateway Fabric v2.6.7)."""
    manifests = render(demo())
    name = "payment-api-prod-42-refund-service-create-refund"
    policy = of_kind(manifests, "RateLimitPolicy")[name]
    assert targets(policy) == [name]
    (rule,) = policy["spec"]["rateLimit"]["local"]["rules"]
    # No burst and no delay options: exactly a key and a rate.
    assert rule == {"key": "route", "rate": "1000r/m"}
    assert NGF_RATE.match(rule["rate"]) and NGF_LIMIT_REQ_KEY.match(rule["key"])
    assert policy["spec"]["rateLimit"]["rejectCode"] == 429


def test_routes_sharing_a_path_share_their_policies():
    """NGF refuses a policy on a route when another route of the same gateway, hostname, port
    and path is not targeted by that policy (they share an nginx location). Routes of one path
    therefore get one RateLimitPolicy and one ProxySettingsPolicy targeting all of them, and a
    publish whose routes of one path have different limits or timeouts is refused.

    Sources: `internal/controller/state/graph/policies.go` `processPolicies`,
    `checkTargetRoutesForOverlap` and `checkForRouteOverlap` (TargetConflict on a shared
    gateway:hostname:port/path) and `markConflictedPolicies` (a second policy of a kind on a
    route is Conflicted) (NGINX Gateway Fabric v2.6.7)."""
    manifests = render(demo())
    shared = [
        "payment-api-prod-42-payment-service-create-payment",
        "payment-api-prod-42-payment-service-get-payment",
    ]
    for kind in ("RateLimitPolicy", "ProxySettingsPolicy"):
        policies = of_kind(manifests, kind)
        on_shared = [p for p in policies.values() if set(targets(p)) & set(shared)]
        assert len(on_shared) == 1 and targets(on_shared[0]) == shared, kind
        every_target = [t for p in policies.values() for t in targets(p)]
        assert len(every_target) == len(set(every_target)), kind
    spec = demo()
    other = specs.find_service(spec, "debug-service")
    other["routes"].append(
        specs.route("payments-probe", "/v1/payments", backend="echo", methods=("PUT",))
    )
    other["policies"].append(specs.policy("probe-limit", "rate_limit", requests=5, unit="Second"))
    errors = translation_errors(spec)
    assert any("match the same path" in e and "rate limits differ" in e for e in errors), errors
    assert any("match the same path" in e and "timeouts differ" in e for e in errors), errors


def test_api_keys_and_jwt_are_refused():
    """No key or token can open an nginx publish: NGF's AuthenticationFilter offers Basic,
    OIDC and JWT (the last two NGINX Plus only), so both auth modes are refused at publish.

    Sources: `apis/v1alpha1/authenticationfilter_types.go` `AuthenticationFilterSpec` and
    `AuthType` (Basic, OIDC, JWT) (NGINX Gateway Fabric v2.6.7)."""
    for mode, feature in (("apikey", "api_key_auth"), ("oauth2", "jwt_auth")):
        messages = unsupported_features(specs.demo_spec(CLASS, auth_mode=mode), CLASS)
        assert any(f"cannot express feature '{feature}'" in m for m in messages)


# --- The matrix and these contracts -----------------------------------------------------------

FEATURE_CONTRACTS = {
    Feature.PATH_EXACT: "test_path_exact",
    Feature.PATH_PREFIX: "test_path_prefix",
    Feature.PATH_REGEX: "test_path_regex_matches_the_whole_path",
    Feature.METHOD_MATCH: "test_method_match",
    Feature.HEADER_MATCH: "test_header_match",
    Feature.HEADER_REGEX_MATCH: "test_header_regex_match",
    Feature.GRPC_ROUTES: "test_grpc_routes",
    Feature.HTTPS_LISTENERS: "test_https_listeners",
    Feature.TLS_PASSTHROUGH: "test_tls_passthrough",
    Feature.PATH_REWRITE: "test_path_rewrite",
    Feature.BACKEND_TIMEOUT: "test_backend_timeout_on_http_routes",
    Feature.LOAD_BALANCING_RANDOM: "test_load_balancing_random",
    Feature.EXTERNAL_HTTPS_BACKENDS: "test_external_https_backends",
    Feature.RATE_LIMIT: "test_rate_limit_counts_every_client_of_a_route_in_one_zone",
    Feature.CORS: "test_cors",
    Feature.REQUEST_HEADERS: "test_request_headers",
}
SOURCE_CITATION = re.compile(
    r"`(internal|apis)/[\w/.-]+\.(go|js)`\s+`\w+`[\s\S]*\(NGINX\s+Gateway\s+Fabric\s+v2\.6\.7\)"
)


def test_every_supported_feature_has_a_contract_and_every_contract_a_source():
    """Meta: each feature the matrix marks supported for nginx has its contract test here, and
    every test of this module names the source file and function it relies on at the pinned
    tag (NGINX Gateway Fabric v2.6.7)."""
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
