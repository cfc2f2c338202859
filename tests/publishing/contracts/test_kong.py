"""Contract tests for the kong class: for each feature the capability matrix marks supported,
the facts Kong Ingress Controller relies on in what the driver renders.

Sources, read at their pinned tags: KIC = Kong/kubernetes-ingress-controller v3.5.13; Kong =
Kong/kong 3.9.1 (the Kong OSS image KIC 3.5.13's .github/test_dependencies.yaml tests with);
the CRDs come from Kong/kubernetes-configuration v1.5.3 (../shared/crds/kong). Each docstring
names the file and function a fact comes from. Where the gateway decides (which consumer a key
belongs to, which counter a request counts in), the test replays that decision as the cited
function makes it.
"""

from __future__ import annotations

import base64
import re
import sys

import pytest

from publishing.translation import CAPABILITY_MATRIX, render_manifests, translation_errors
from publishing.translation.kong import KIC_INGRESS_CLASS, kong_regex_path
from tests.publishing import specs

CLASS = "kong"
PLUGINS = "konghq.com/plugins"


def render(spec: dict, *, revision: int = 1) -> list[dict]:
    return render_manifests(specs.expressible(spec, CLASS), revision=revision)


def objects(manifests: list[dict], kind: str) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def annotation_list(manifest: dict, key: str = PLUGINS) -> list[str]:
    value = manifest["metadata"].get("annotations", {}).get(key, "")
    return [name for name in value.split(",") if name]


def route_plugins(manifests: list[dict], route: dict) -> list[dict]:
    """The KongPlugins KIC attaches to the Kong routes of `route`."""
    plugins = objects(manifests, "KongPlugin")
    return [plugins[name] for name in annotation_list(route)]


def decoded(secret: dict) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def single_service(name: str, *, protocol: str = "HTTP", policies=(), backends=None, routes=None):
    return specs.service(
        name,
        protocol=protocol,
        backends=backends or [specs.backend("pods", "10.1.0.5:8080")],
        routes=routes or [specs.route("all", "/", backend="pods")],
        policies=list(policies),
    )


# --- Routing ----------------------------------------------------------------------------------


def test_path_exact():
    """KIC subtranslator/httproute.go generateKongRoutePathFromHTTPRouteMatch turns an Exact
    match into the Kong regex path "~<value>$"; getRoutesFromMatches takes the path from each
    rule's match. The HTTPRoute therefore carries the spec path, unchanged, as type Exact, and
    attaches to the publish's Gateway, whose class KIC's gateway controller owns
    (controllers/gateway/gateway_controller.go reconciles Gateways of its GatewayClass)."""
    manifests = render(specs.demo_spec(CLASS))
    gateway = next(iter(objects(manifests, "Gateway").values()))
    assert gateway["spec"]["gatewayClassName"] == "kong"
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-create-payment"]
    assert route["spec"]["parentRefs"][0]["name"] == gateway["metadata"]["name"]
    assert {r["matches"][0]["path"]["type"] for r in route["spec"]["rules"]} == {"Exact"}
    assert {r["matches"][0]["path"]["value"] for r in route["spec"]["rules"]} == {"/v1/payments"}


def test_path_prefix():
    """KIC subtranslator/httproute.go generateKongRoutePathFromHTTPRouteMatch: PathPrefix
    "<p>" becomes "~<p>$" and "<p>/", i.e. the prefix on segment boundaries the Gateway API
    defines; the value must be the plain path for that."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-get-payment"]
    assert {r["matches"][0]["path"]["type"] for r in route["spec"]["rules"]} == {"PathPrefix"}
    assert {r["matches"][0]["path"]["value"] for r in route["spec"]["rules"]} == {"/v1/payments"}


REGEX_SAMPLES = {
    r"/v2/items/[0-9]+": ["/v2/items/1", "/v2/items/12/x", "/x/v2/items/1", "/v2/items/"],
    r"/(a|b)/c": ["/a/c", "/b/c", "/a/c/d", "/b", "/x/b/c"],
    r"/files/.*\.pdf": ["/files/a.pdf", "/files/a.pdf.txt", "/files/.pdf"],
}


def kong_router_matches(value: str, path: str) -> bool:
    """Kong router/transform.lua (paths_to_atc / the traditional_compatible router): a regex path
    "~<re>" is matched as the Rust regex "^<re>" against the request path, i.e. anchored at the
    start only (Python's re agrees with Rust's regex on these patterns)."""
    return re.search("^" + value, path) is not None


def test_path_regex():
    """KIC subtranslator/httproute.go generateKongRoutePathFromHTTPRouteMatch sends a
    RegularExpression value as the Kong path "~<value>". Kong db/schema/typedefs.lua
    router_path refuses a regex path that does not start with "~/" (match_any "^~/") or that
    contains "//" (match_none), and validate_path_with_regexes compiles the rest as a PCRE;
    router/transform.lua anchors it at the start only. The value sent is "/{0}^(?:p)$": it
    starts with '/', and matches exactly the paths the whole pattern matches."""
    spec = specs.expressible(specs.regex_and_headers_spec(CLASS), CLASS)
    manifests = render(spec)
    route = objects(manifests, "HTTPRoute")["catalog-api-prod-42-catalog-service-item-by-id"]
    value = route["spec"]["rules"][0]["matches"][0]["path"]["value"]
    assert value == kong_regex_path(r"/v2/items/[0-9]+")
    assert ("~" + value).startswith("~/") and "//" not in value
    for pattern, paths in REGEX_SAMPLES.items():
        for path in paths:
            assert kong_router_matches(kong_regex_path(pattern), path) == bool(
                re.fullmatch(pattern, path)
            ), (pattern, path)
    # What Kong would refuse is refused at publish time, naming class and feature.
    item_by_id = specs.find_service(spec, "catalog-service")["routes"][1]
    assert item_by_id["name"] == "item-by-id"
    item_by_id["path"] = r"/a//b|/c"
    (error,) = translation_errors(spec)
    assert error.startswith("gateway class 'kong' cannot express feature 'path_regex' (used by ")


def test_method_match():
    """KIC subtranslator/httproute.go httpRouteMatchMeta.getKey groups matches into one Kong
    route by (HTTPRoute, method, headers, query) and getRoutesFromMatches copies match.Method
    into the Kong route's methods: each rule's single match carries one method."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-get-payment"]
    assert [r["matches"][0]["method"] for r in route["spec"]["rules"]] == ["GET", "HEAD", "OPTIONS"]
    assert all(len(rule["matches"]) == 1 for rule in route["spec"]["rules"])


def test_header_match():
    """KIC subtranslator/httproute.go convertGatewayMatchHeadersToKongRouteMatchHeaders keeps an
    Exact value as is and refuses the whole HTTPRoute when one header name appears twice in a
    match; subtranslator/grpcroute.go GenerateKongRoutesFromGRPCRouteRule copies GRPCRoute
    header values into the Kong route's headers."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-payment-events"]
    headers = route["spec"]["rules"][0]["matches"][0]["headers"]
    assert headers == [{"type": "Exact", "name": "x-api-version", "value": "2"}]
    grpc = objects(render(specs.many_listeners_spec(CLASS)), "GRPCRoute")
    match = grpc["orders-prod-42-order-service-order-service"]["spec"]["rules"][0]["matches"][0]
    assert match["headers"] == [{"type": "Exact", "name": "x-tenant", "value": "imprun"}]
    for route in objects(manifests, "HTTPRoute").values():
        for rule in route["spec"]["rules"]:
            names = [h["name"].lower() for h in rule["matches"][0].get("headers", [])]
            assert len(names) == len(set(names))


def test_header_regex_match():
    """KIC subtranslator/httproute.go convertGatewayMatchHeadersToKongRouteMatchHeaders turns an
    HTTPRoute RegularExpression header match into the Kong regex value "~*<value>", but
    subtranslator/grpcroute.go GenerateKongRoutesFromGRPCRouteRule appends hmatch.Value to the
    Kong route's headers whatever hmatch.Type is: on Kong's traditional routers a GRPCRoute
    regex would be compared literally, so the class refuses it."""
    manifests = render(specs.regex_and_headers_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["catalog-api-prod-42-catalog-service-beta-search"]
    headers = route["spec"]["rules"][0]["matches"][0]["headers"]
    assert {"type": "RegularExpression", "name": "user-agent", "value": ".*Mobile.*"} in headers
    spec = specs.many_listeners_spec(CLASS)
    route_spec = specs.find_service(spec, "order-service")["routes"][1]
    route_spec["header_matches"] = [
        {"name": "x-tenant", "value": "imp.*", "type": "RegularExpression"}
    ]
    assert translation_errors(spec) == [
        "gateway class 'kong' cannot express feature 'header_regex_match' (used by route "
        "'order-service' of service 'order-service'): KIC 3.5 compares GRPCRoute header values "
        "literally on Kong's traditional routers, whatever the match type"
    ]


def test_grpc_routes():
    """KIC subtranslator/grpcroute.go GenerateKongRoutesFromGRPCRouteRule builds the Kong path
    "~/<service>/<method>" from an Exact method match; translate_grpcroute.go
    getProtocolForKongService then picks grpc or grpcs from the listener, and
    kongstate/service.go Service.override lets the Kubernetes Service's konghq.com/protocol
    annotation decide the upstream protocol."""
    manifests = render(specs.many_listeners_spec(CLASS))
    route = objects(manifests, "GRPCRoute")["orders-prod-42-order-service-create-order"]
    method = route["spec"]["rules"][0]["matches"][0]["method"]
    assert method == {"type": "Exact", "service": "orders.v1.OrderService", "method": "CreateOrder"}
    backend = route["spec"]["rules"][0]["backendRefs"][0]["name"]
    service = objects(manifests, "Service")[backend]
    assert service["metadata"]["annotations"]["konghq.com/protocol"] == "grpc"


def test_grpc_service_match():
    """KIC subtranslator/grpcroute.go getGRPCMatchDefaults: an Exact match without a method gets
    the method "", so the Kong path is "~/<service>/", which Kong anchors at the start only:
    every method of the service."""
    manifests = render(specs.many_listeners_spec(CLASS))
    route = objects(manifests, "GRPCRoute")["orders-prod-42-order-service-order-service"]
    method = route["spec"]["rules"][0]["matches"][0]["method"]
    assert method == {"type": "Exact", "service": "orders.v1.OrderService"}


def test_https_listeners():
    """KIC controllers/gateway/gateway_utils.go reads listener.TLS.CertificateRefs (Secrets, a
    ReferenceGrant for another namespace) and translator/translate_certs.go turns them into
    Kong certificates for the listener's hostname."""
    manifests = render(specs.demo_spec(CLASS))
    gateway = next(iter(objects(manifests, "Gateway").values()))
    https = next(item for item in gateway["spec"]["listeners"] if item["name"] == "https")
    assert https["protocol"] == "HTTPS"
    assert https["tls"] == {
        "mode": "Terminate",
        "certificateRefs": [{"group": "", "kind": "Secret", "name": "api-imprun-dev-tls"}],
    }


def test_tls_passthrough():
    """KIC controllers/gateway/route_utils.go: TLSRoutes attach only to TLS listeners whose mode
    is Passthrough, and translator/translate_tlsroute.go isTLSRoutePassthrough reads the mode
    from the listener."""
    manifests = render(specs.many_listeners_spec(CLASS))
    gateway = next(iter(objects(manifests, "Gateway").values()))
    listener = next(item for item in gateway["spec"]["listeners"] if item["protocol"] == "TLS")
    assert listener["tls"] == {"mode": "Passthrough"}


def test_path_rewrite():
    """KIC subtranslator/httproute.go generateRequestTransformerForURLRewritePrefixMatch and
    ...FullPath turn URLRewrite into a request-transformer; the prefix rewrite reads the path
    of the rule's single match (the Gateway API CEL rule forbids several matches with
    ReplacePrefixMatch), which one rule per method keeps true."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-payment-events"]
    for rule in route["spec"]["rules"]:
        assert len(rule["matches"]) == 1
        assert rule["filters"][-1]["urlRewrite"]["path"] == {
            "type": "ReplacePrefixMatch",
            "replacePrefixMatch": "/events",
        }


def test_backend_timeout():
    """KIC kongstate/service.go Service.overrideConnectTimeout/overrideReadTimeout/
    overrideWriteTimeout read konghq.com/connect-timeout, read-timeout and write-timeout
    (milliseconds) from every Kubernetes Service behind a Kong service; Kong init.lua
    balancer() hands them to ngx.balancer set_timeouts, nginx's limits to connect and between
    two writes or two reads."""
    manifests = render(specs.demo_spec(CLASS))
    for name, seconds in (
        ("payment-api-prod-42-payment-service-primary", 10),
        ("payment-api-prod-42-refund-service-partner", 30),
    ):
        annotations = objects(manifests, "Service")[name]["metadata"]["annotations"]
        for key in ("connect-timeout", "read-timeout", "write-timeout"):
            assert annotations[f"konghq.com/{key}"] == str(seconds * 1000)


def test_retries():
    """KIC kongstate/service.go Service.overrideRetries reads konghq.com/retries; Kong init.lua
    balancer() calls set_more_tries(retries) on the first try, and Kong's nginx templates keep
    nginx's proxy_next_upstream default (error timeout, never a sent POST/PATCH/LOCK). Kong's
    own default is 5 retries, so zero is stated too."""
    manifests = render(specs.demo_spec(CLASS))
    services = objects(manifests, "Service")
    assert services["payment-api-prod-42-payment-service-primary"]["metadata"]["annotations"][
        "konghq.com/retries"
    ] == "2"
    assert services["payment-api-prod-42-debug-service-echo"]["metadata"]["annotations"][
        "konghq.com/retries"
    ] == "0"


def test_health_checks():
    """KIC kongstate/kongupstreampolicy.go GetKongUpstreamPolicyForServices finds the policy
    named by konghq.com/upstream-policy on the Services (the same one on all of them) and
    translateActiveHealthcheck maps healthchecks.active."""
    manifests = render(specs.demo_spec(CLASS))
    service = objects(manifests, "Service")["payment-api-prod-42-payment-service-primary"]
    policy_name = service["metadata"]["annotations"]["konghq.com/upstream-policy"]
    active = objects(manifests, "KongUpstreamPolicy")[policy_name]["spec"]["healthchecks"]["active"]
    assert active["httpPath"] == "/healthz"
    assert active["healthy"]["interval"] == active["unhealthy"]["interval"] == 10


def test_load_balancing():
    """KIC kongstate/kongupstreampolicy.go TranslateKongUpstreamPolicy copies algorithm and
    translateHashOn maps hashOn.input "ip"."""
    manifests = render(specs.regex_and_headers_spec(CLASS))
    policies = objects(manifests, "KongUpstreamPolicy")
    assert policies["catalog-api-prod-42-catalog-service-search"]["spec"] == {
        "algorithm": "consistent-hashing",
        "hashOn": {"input": "ip"},
    }


def test_external_https_backends():
    """KIC kongstate/service.go Service.overrideProtocol and overrideTLSVerify read
    konghq.com/protocol and konghq.com/tls-verify. Kong templates/nginx_kong.lua sets
    proxy_ssl_name $upstream_host, so the SNI is the upstream Host; KIC
    subtranslator/httproute.go generateKongstateHTTPRoute sets preserve_host on every route, and
    kongstate/route.go Route.overridePreserveHost lets konghq.com/preserve-host false undo it,
    after which Kong runloop/balancer/init.lua set_host_header gives each target its own name.
    One DNS name gets its Host from the URLRewrite hostname instead."""
    manifests = render(specs.demo_spec(CLASS))
    service = objects(manifests, "Service")["payment-api-prod-42-refund-service-partner"]
    assert service["spec"]["externalName"] == "refunds.partner.example.com"
    annotations = service["metadata"]["annotations"]
    assert annotations["konghq.com/protocol"] == "https"
    assert annotations["konghq.com/tls-verify"] == "true"
    refund = objects(manifests, "HTTPRoute")["payment-api-prod-42-refund-service-refund-status"]
    assert "konghq.com/preserve-host" not in refund["metadata"]["annotations"]
    assert refund["spec"]["rules"][0]["filters"][-1]["urlRewrite"]["hostname"] == (
        "refunds.partner.example.com"
    )
    spec = specs.demo_spec(CLASS)
    specs.find_service(spec, "refund-service")["backends"][0]["endpoints"].append(
        specs.endpoint("https://refunds-2.partner.example.com/api")
    )
    refund = objects(render(spec), "HTTPRoute")["payment-api-prod-42-refund-service-refund-status"]
    assert refund["metadata"]["annotations"]["konghq.com/preserve-host"] == "false"
    assert "hostname" not in refund["spec"]["rules"][0]["filters"][-1]["urlRewrite"]


# --- Rate limits: one counter per route -------------------------------------------------------


def kong_services(manifests: list[dict]) -> dict[str, list[dict]]:
    """KIC subtranslator/httproute.go groupRulesFromHTTPRoutesByKongServiceName with the
    default --combined-services-from-different-httproutes=false (cmd/rootcmd/config/cli.go):
    the rules of one HTTPRoute that share backendRefs become one Kong service; each GRPCRoute
    rule becomes one (translate_grpcroute.go ingressRulesFromGRPCRoute; with Kong's
    expressions router, ingressRulesFromGRPCRouteWithPriority makes one per hostname, as the
    matrix says). Returns the Kong services by name with the Kubernetes Services behind each."""
    services = objects(manifests, "Service")
    kong: dict[str, list[dict]] = {}
    for route in (m for m in manifests if m["kind"] in ("HTTPRoute", "GRPCRoute")):
        groups: dict[str, list[str]] = {}
        for index, rule in enumerate(route["spec"]["rules"]):
            key = repr(rule["backendRefs"])
            groups.setdefault(key, [f"{route['metadata']['name']}.{index}"])
            backends = [services[ref["name"]] for ref in rule["backendRefs"]]
            kong[groups[key][0]] = backends
    return kong


def rate_limit_counters(manifests: list[dict]) -> dict[str, list[str]]:
    """KIC kongstate/kongstate.go getPluginRelations: a plugin named on a Kubernetes Service is
    related to every Kong service built on that Service, and buildPlugins makes one plugin per
    relation; Kong plugins/rate-limiting/policies/init.lua get_local_key counts per
    (route_id, service_id) of the plugin instance. Returns, per counter, the Kong services
    counting in it."""
    plugins = objects(manifests, "KongPlugin")
    counters: dict[str, list[str]] = {}
    for kong_service, backends in kong_services(manifests).items():
        for backend in backends:
            for name in annotation_list(backend):
                if plugins[name]["plugin"] == "rate-limiting":
                    counters.setdefault(f"service:{kong_service}", []).append(kong_service)
    return counters


def test_rate_limit():
    """The rate-limiting plugin is named on one Service per backend and on no route: a plugin
    named on a route would count per Kong route, and KIC makes one Kong route per method rule
    (subtranslator/httproute.go httpRouteMatchMeta.getKey), so a route with GET and HEAD would
    allow twice the limit. Counting per Kong service gives each route one counter whatever its
    methods and listeners; limit_by service and policy local keep it per Kong node."""
    manifests = render(specs.demo_spec(CLASS))
    plugins = objects(manifests, "KongPlugin")
    burst = plugins["payment-api-prod-42-payment-service-burst-limit"]
    assert burst["plugin"] == "rate-limiting"
    assert burst["config"] == {"minute": 100, "limit_by": "service", "policy": "local"}
    for route in (m for m in manifests if m["kind"] == "HTTPRoute"):
        assert all(p["plugin"] != "rate-limiting" for p in route_plugins(manifests, route))
    counters = rate_limit_counters(manifests)
    payment_routes = [
        name
        for name in objects(manifests, "HTTPRoute")
        if name.startswith("payment-api-prod-42-payment-service-")
    ]
    # One counter per route of the limited services, every method rule of a route in it.
    for route_name in payment_routes:
        assert [key for key in counters if key == f"service:{route_name}.0"] == [
            f"service:{route_name}.0"
        ]
    assert len(counters) == len(payment_routes) + 2  # and the refund service's two routes
    # Exactly one Service of a backend carries it, else KIC would relate it twice to one Kong
    # service and Kong would refuse the duplicate plugin.
    spec = specs.long_names_spec(CLASS)
    spec["services"][0]["policies"] = [specs.policy("limit", "rate_limit", requests=5)]
    long = render(spec)
    carrying = [s for s in objects(long, "Service").values() if annotation_list(s)]
    assert len(objects(long, "Service")) == 3 and len(carrying) == 1


def test_rate_limit_hour_day():
    """Kong plugins/rate-limiting/schema.lua has the periods second, minute, hour, day, month and
    year, each a number of requests."""
    manifests = render(specs.demo_spec(CLASS))
    quota = objects(manifests, "KongPlugin")["payment-api-prod-42-refund-service-hourly-quota"]
    assert quota["config"]["hour"] == 1000


# --- Policies ---------------------------------------------------------------------------------


def test_cors():
    """KIC kongstate/kongstate.go getPluginRelations relates a plugin named in a route object's
    konghq.com/plugins annotation to each Kong route built from it; Kong plugins/cors (priority
    2000) answers preflights before key-auth (1250) runs."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-get-payment"]
    cors = next(p for p in route_plugins(manifests, route) if p["plugin"] == "cors")
    assert cors["config"]["origins"] == ["https://console.imprun.dev"]
    assert cors["config"]["max_age"] == 600


def test_request_headers():
    """KIC subtranslator/httproute.go generateRequestHeaderModifierKongPlugin turns an HTTPRoute
    RequestHeaderModifier into request-transformer replace+add (set) and remove, but
    subtranslator/grpcroute.go GenerateKongRoutesFromGRPCRouteRule never reads rule.Filters:
    gRPC services get the same request-transformer as a KongPlugin named on the GRPCRoute.
    Kong plugins/request-transformer/access.lua transform_headers applies remove, replace (a
    header present) and add (a header absent), and renders '$(...)' values as templates, so
    those are refused."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-get-payment"]
    modifier = route["spec"]["rules"][0]["filters"][0]
    assert modifier == {
        "type": "RequestHeaderModifier",
        "requestHeaderModifier": {
            "set": [{"name": "x-imp-gateway", "value": "payment-api"}],
            "remove": ["x-debug"],
        },
    }
    spec = specs.many_listeners_spec(CLASS)
    specs.find_service(spec, "order-service")["policies"].append(
        specs.policy("trace", "request_headers", set={"x-via": "imp"}, remove=["x-debug"])
    )
    manifests = render(spec)
    for route in objects(manifests, "GRPCRoute").values():
        assert all("filters" not in rule for rule in route["spec"]["rules"])
        transformer = next(
            p for p in route_plugins(manifests, route) if p["plugin"] == "request-transformer"
        )
        assert transformer["config"] == {
            "remove": {"headers": ["x-debug"]},
            "replace": {"headers": ["x-via:imp"]},
            "add": {"headers": ["x-via:imp"]},
        }
    specs.find_service(spec, "order-service")["policies"][-1]["config"]["set"] = {
        "x-via": "$(os.exit())"
    }
    (error,) = translation_errors(spec)
    assert error.startswith(
        "gateway class 'kong' cannot express feature 'request_headers' (used by header 'x-via' "
        "of service 'order-service')"
    )


def test_ip_allowlist():
    """Kong plugins/ip-restriction/schema.lua takes the allowed CIDRs as config.allow; the
    plugin is named on every route of the service (kongstate.go getPluginRelations)."""
    manifests = render(specs.demo_spec(CLASS))
    for name, route in objects(manifests, "HTTPRoute").items():
        if "payment-service" in name:
            allow = next(
                p for p in route_plugins(manifests, route) if p["plugin"] == "ip-restriction"
            )
            assert allow["config"] == {"allow": ["10.0.0.0/8", "203.0.113.0/24"]}


# --- API keys: a key opens only its own publish and environment -------------------------------


def admitted_consumers(manifests: list[dict]) -> list[dict]:
    """KIC controllers/configuration/zz_generated.controllers.go KongV1KongConsumerReconciler
    .Reconcile drops a KongConsumer unless controllers/utils/utils.go MatchesIngressClass
    finds kubernetes.io/ingress.class equal to --ingress-class (annotations.DefaultIngressClass
    "kong"); a classless one counts only when that IngressClass is the cluster default."""
    return [
        m
        for m in manifests
        if m["kind"] == "KongConsumer"
        and m["metadata"]["annotations"].get("kubernetes.io/ingress.class") == "kong"
    ]


def credentials(manifests: list[dict], consumer: dict) -> list[tuple[str, dict[str, str]]]:
    """KIC kongstate/kongstate.go FillConsumersAndCredentials reads each Secret named in
    KongConsumer.credentials from the consumer's namespace; util/credential.go
    ExtractKongCredentialType takes the type from the konghq.com/credential label, and every
    data key becomes a credential field. controllers/configuration/secret_controller.go
    shouldReconcileSecret caches Secrets carrying that label."""
    secrets = objects(manifests, "Secret")
    found = []
    for name in consumer["credentials"]:
        secret = secrets[name]
        assert secret["metadata"]["namespace"] == consumer["metadata"]["namespace"]
        found.append((secret["metadata"]["labels"]["konghq.com/credential"], decoded(secret)))
    return found


def kong_admits(cluster: list[dict], route: dict, key: str) -> bool:
    """Kong plugins/key-auth/handler.lua looks the key up among all consumers of the Kong
    (key_names headers only, since key_in_query and key_in_body are off); plugins/acl then
    admits a consumer only when one of its acl credentials' groups is in config.allow."""
    plugins = {p["plugin"]: p for p in route_plugins(cluster, route)}
    if "key-auth" not in plugins:
        return True
    for consumer in admitted_consumers(cluster):
        creds = credentials(cluster, consumer)
        if ("key-auth", {"key": key}) in creds:
            groups = {fields["group"] for kind, fields in creds if kind == "acl"}
            return bool(groups & set(plugins["acl"]["config"]["allow"]))
    return False


def test_api_key_auth():
    """The key-auth plugin reads the x-api-key header only (Kong plugins/key-auth/schema.lua
    defaults key_in_query to true); KongConsumers carry the class KIC admits whatever the
    GatewayClass is named, and usernames (global in Kong) carry the publish's base name."""
    manifests = render_manifests(
        specs.expressible(specs.demo_spec(CLASS), CLASS),
        revision=1,
        capabilities={"gateway_class_names": {"kong": "kong-public"}},
    )
    gateway = next(iter(objects(manifests, "Gateway").values()))
    assert gateway["spec"]["gatewayClassName"] == "kong-public"
    consumers = objects(manifests, "KongConsumer")
    assert len(admitted_consumers(manifests)) == len(consumers) == 2
    assert KIC_INGRESS_CLASS == "kong"
    assert all(c["username"].startswith("payment-api-prod-42-") for c in consumers.values())
    key_auth = objects(manifests, "KongPlugin")["payment-api-prod-42-key-auth"]["config"]
    assert key_auth["key_names"] == ["x-api-key"]
    assert (key_auth["key_in_header"], key_auth["key_in_query"], key_auth["key_in_body"]) == (
        True,
        False,
        False,
    )
    for route in objects(manifests, "HTTPRoute").values():
        names = [p["plugin"] for p in route_plugins(manifests, route)]
        assert {"key-auth", "acl"} <= set(names)


def test_api_key_auth_opens_only_its_own_publish_and_environment():
    """Two publishes on one Kong (prod and dev of one product, and another product): each key
    opens the routes of its publish and no other, although key-auth finds keys across every
    consumer of the Kong."""
    prod = specs.demo_spec(CLASS)
    dev = specs.demo_spec(CLASS)
    dev["publish"].update(id=43, environment="dev", name="payment-api-dev")
    dev["consumers"] = [{"name": "acme-corp", "api_keys": ["ak_test_dev_only_1"]}]
    other = specs.demo_spec(CLASS)
    other["publish"].update(id=44, name="refund-api-prod")
    other["consumers"] = [{"name": "acme-corp", "api_keys": ["ak_live_other_product"]}]
    cluster = render(prod) + render(dev) + render(other)
    by_publish: dict[str, list[dict]] = {}
    for item in cluster:
        if item["kind"] == "HTTPRoute":
            by_publish.setdefault(item["metadata"]["labels"]["imp-gateway.io/publish"], []).append(
                item
            )
    keys = {
        "42": "ak_live_7f3c9a1e5b2d4c6a",
        "43": "ak_test_dev_only_1",
        "44": "ak_live_other_product",
    }
    for publish, routes in by_publish.items():
        for key_publish, key in keys.items():
            for route in routes:
                assert kong_admits(cluster, route, key) == (publish == key_publish), (
                    publish,
                    key_publish,
                    route["metadata"]["name"],
                )
    usernames = [c["username"] for c in admitted_consumers(cluster)]
    assert len(usernames) == len(set(usernames)), "Kong usernames are global"


# --- The matrix and these tests stay in step --------------------------------------------------


def test_every_supported_feature_has_a_contract_test():
    module = sys.modules[__name__]
    for feature, support in CAPABILITY_MATRIX[CLASS].items():
        if support.supported:
            assert callable(getattr(module, f"test_{feature}", None)), feature


@pytest.mark.parametrize(
    "feature", [f for f, s in CAPABILITY_MATRIX[CLASS].items() if not s.supported]
)
def test_unsupported_features_are_refused(feature):
    """What the matrix refuses is refused at publish time, naming class and feature."""
    spec = specs.demo_spec(CLASS, auth_mode="oauth2")
    specs.find_service(spec, "payment-service")["routes"][0]["timeout_seconds"] = 5
    specs.find_service(spec, "payment-service")["backends"][0]["load_balancing"] = "random"
    messages = translation_errors(spec)
    prefix = f"gateway class 'kong' cannot express feature '{feature}'"
    assert any(message.startswith(prefix) for message in messages)
