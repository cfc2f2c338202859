"""Contract tests for the apisix class: for each feature the capability matrix marks supported,
the facts the APISIX ingress controller relies on in what the driver renders.

Sources, read at their pinned tags: controller = apache/apisix-ingress-controller 2.2.0 (its
CRDs are in ../shared/crds/apisix); APISIX = apache/apisix 3.17.0 (the data plane the
controller's Makefile CONFORMANCE_DATAPLANE_VERSION names). Each docstring names the file and
function a fact comes from. Where the gateway decides (which consumer a key belongs to, which
counter a request counts in), the test replays that decision as the cited function makes it.
"""

from __future__ import annotations

import base64
import re
import sys

import pytest

from publishing.translation import CAPABILITY_MATRIX, render_manifests, translation_errors
from publishing.translation.apisix import GATEWAY_PROXY_NAME, consumer_username
from publishing.translation.gateway_api import full_match_pattern
from tests.publishing import specs

CLASS = "apisix"


def render(spec: dict, *, revision: int = 1) -> list[dict]:
    return render_manifests(specs.expressible(spec, CLASS), revision=revision)


def objects(manifests: list[dict], kind: str) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def service_plugins(manifests: list[dict], route: dict, rule_index: int = 0) -> dict[str, dict]:
    """controller internal/adc/translator/httproute.go TranslateHTTPRoute makes an APISIX
    service per HTTPRoute rule and fillPluginFromExtensionRef copies the plugins of each
    PluginConfig the rule's ExtensionRef filters name (same namespace) into it (GRPCRoutes:
    grpcroute.go fillPluginsFromGRPCRouteFilters)."""
    configs = objects(manifests, "PluginConfig")
    plugins: dict[str, dict] = {}
    for item in route["spec"]["rules"][rule_index].get("filters", []):
        if item["type"] == "ExtensionRef":
            ref = item["extensionRef"]
            assert (ref["group"], ref["kind"]) == ("apisix.apache.org", "PluginConfig")
            for plugin in configs[ref["name"]]["spec"]["plugins"]:
                plugins[plugin["name"]] = plugin["config"]
    return plugins


def decoded(secret: dict) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


# --- The Gateway the controller programs ------------------------------------------------------


def test_the_gateway_names_the_gateway_proxy_the_controller_reads():
    """controller internal/controller/utils.go ProcessGatewayProxy reads only
    Gateway.spec.infrastructure.parametersRef of group apisix.apache.org and kind GatewayProxy,
    looked up in the Gateway's namespace; without one, no GatewayProxy is found and nothing is
    synced (internal/provider/apisix/provider.go buildConfig builds no config). The admin key
    comes from the GatewayProxy's Secret in that same namespace (internal/adc/translator/
    gatewayproxy.go TranslateGatewayProxyToConfig), which the operator provides; and
    internal/adc/client/client.go Client.Sync pushes each GatewayProxy's resources as a full
    sync without a label selector, so one GatewayProxy per APISIX is shared by every Gateway."""
    gateways = []
    for builder in (specs.demo_spec, specs.many_listeners_spec, specs.regex_and_headers_spec):
        manifests = render(builder(CLASS))
        (gateway,) = objects(manifests, "Gateway").values()
        gateways.append(gateway)
    for gateway in gateways:
        assert gateway["spec"]["infrastructure"] == {
            "parametersRef": {
                "group": "apisix.apache.org",
                "kind": "GatewayProxy",
                "name": GATEWAY_PROXY_NAME,
            }
        }
    assert GATEWAY_PROXY_NAME == "apisix-config"


# --- Routing ----------------------------------------------------------------------------------


def test_path_exact():
    """controller internal/adc/translator/httproute.go translateGatewayHTTPRouteMatch: Exact
    becomes the APISIX route uris [value]."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-create-payment"]
    assert route["spec"]["rules"][0]["matches"][0]["path"] == {
        "type": "Exact",
        "value": "/v1/payments",
    }


def test_path_prefix():
    """controller httproute.go translateGatewayHTTPRouteMatch: PathPrefix "<p>" becomes the
    uris "<p>" and "<p>/*", the Gateway API's prefix on segment boundaries."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-get-payment"]
    assert route["spec"]["rules"][0]["matches"][0]["path"] == {
        "type": "PathPrefix",
        "value": "/v1/payments",
    }


REGEX_SAMPLES = {
    r"/v2/items/[0-9]+": ["/v2/items/1", "/v2/items/12/x", "/x/v2/items/1", "/v2/items/"],
    r"/(a|b)/c": ["/a/c", "/b/c", "/a/c/d", "/b", "/x/b/c"],
    r"/files/.*\.pdf": ["/files/a.pdf", "/files/a.pdf.txt", "/files/.pdf"],
}


def test_path_regex():
    """controller httproute.go translateGatewayHTTPRouteMatch: a RegularExpression path becomes
    uris ["/*"] and the route var ["uri", "~~", value], a regex search anywhere in the path
    (lua-resty-expr's "~~" is ngx.re.find). The value sent is ^(?:pattern)$, so the route
    matches exactly the paths the whole pattern matches."""
    manifests = render(specs.regex_and_headers_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["catalog-api-prod-42-catalog-service-item-by-id"]
    assert route["spec"]["rules"][0]["matches"][0]["path"] == {
        "type": "RegularExpression",
        "value": full_match_pattern(r"/v2/items/[0-9]+"),
    }
    for pattern, paths in REGEX_SAMPLES.items():
        for path in paths:
            searched = re.search(full_match_pattern(pattern), path) is not None
            assert searched == bool(re.fullmatch(pattern, path)), (pattern, path)


def test_method_match():
    """controller httproute.go translateGatewayHTTPRouteMatch copies match.Method into the
    route's methods."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-get-payment"]
    assert [r["matches"][0]["method"] for r in route["spec"]["rules"]] == ["GET", "HEAD", "OPTIONS"]


def test_header_match():
    """controller httproute.go HeaderMatchToVars: an Exact header match becomes the route var
    ["http_<name with _>", "==", value]; grpcroute.go translateGRPCRouteHeaderMatchToVars uses
    the same function."""
    manifests = render(specs.many_listeners_spec(CLASS))
    route = objects(manifests, "GRPCRoute")["orders-prod-42-order-service-order-service"]
    assert route["spec"]["rules"][0]["matches"][0]["headers"] == [
        {"type": "Exact", "name": "x-tenant", "value": "imprun"}
    ]


def test_header_regex_match():
    """controller httproute.go HeaderMatchToVars: RegularExpression becomes the var operator
    "~~", for HTTPRoutes and GRPCRoutes alike."""
    manifests = render(specs.regex_and_headers_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["catalog-api-prod-42-catalog-service-beta-search"]
    headers = route["spec"]["rules"][0]["matches"][0]["headers"]
    assert {"type": "RegularExpression", "name": "user-agent", "value": ".*Mobile.*"} in headers


def test_grpc_routes():
    """controller internal/adc/translator/grpcroute.go TranslateGRPCRoute: translateGRPCURI
    makes the uri "/<service>/<method>", and the upstream scheme comes from the
    BackendTrafficPolicy (policies.go attachBackendTrafficPolicyToUpstream), else grpc."""
    manifests = render(specs.many_listeners_spec(CLASS))
    route = objects(manifests, "GRPCRoute")["orders-prod-42-order-service-create-order"]
    assert route["spec"]["rules"][0]["matches"][0]["method"] == {
        "type": "Exact",
        "service": "orders.v1.OrderService",
        "method": "CreateOrder",
    }
    policy = objects(manifests, "BackendTrafficPolicy")["orders-prod-42-order-service-grpc-pods"]
    assert policy["spec"]["scheme"] == "grpc"


def test_grpc_service_match():
    """controller grpcroute.go translateGRPCURI: a service without a method gives the uri
    "/<service>/*", every method of the service."""
    manifests = render(specs.many_listeners_spec(CLASS))
    route = objects(manifests, "GRPCRoute")["orders-prod-42-order-service-order-service"]
    assert route["spec"]["rules"][0]["matches"][0]["method"] == {
        "type": "Exact",
        "service": "orders.v1.OrderService",
    }


def test_https_listeners():
    """controller internal/adc/translator/gateway.go translateSecret reads the listener's
    tls.certificateRefs (core Secrets) into APISIX SSL objects for the listener's hostname."""
    manifests = render(specs.demo_spec(CLASS))
    (gateway,) = objects(manifests, "Gateway").values()
    https = next(item for item in gateway["spec"]["listeners"] if item["name"] == "https")
    assert https["tls"]["certificateRefs"] == [
        {"group": "", "kind": "Secret", "name": "api-imprun-dev-tls"}
    ]


def test_tls_passthrough():
    """controller internal/adc/translator/tlsroute.go TranslateTLSRoute serves TLSRoutes on the
    TLS listeners; the listener keeps mode Passthrough."""
    manifests = render(specs.many_listeners_spec(CLASS))
    (gateway,) = objects(manifests, "Gateway").values()
    listener = next(item for item in gateway["spec"]["listeners"] if item["protocol"] == "TLS")
    assert listener["tls"] == {"mode": "Passthrough"}


def test_path_rewrite():
    """controller httproute.go fillPluginFromURLRewriteFilter turns URLRewrite into
    proxy-rewrite: ReplacePrefixMatch with the rule's match path (one match per rule), and the
    hostname into the upstream Host."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-payment-events"]
    for rule in route["spec"]["rules"]:
        assert len(rule["matches"]) == 1
        assert rule["filters"][-1]["urlRewrite"]["path"] == {
            "type": "ReplacePrefixMatch",
            "replacePrefixMatch": "/events",
        }


# --- Backends ---------------------------------------------------------------------------------


def backend_policy(manifests: list[dict], service_name: str) -> dict:
    """controller internal/adc/translator/policies.go AttachBackendTrafficPolicyToUpstream finds
    the policy whose targetRefs name the backendRef's Service (core group, kind Service) in the
    route's namespace."""
    policies = objects(manifests, "BackendTrafficPolicy").values()
    (policy,) = [
        p
        for p in policies
        if {"group": "", "kind": "Service", "name": service_name} in p["spec"]["targetRefs"]
    ]
    return policy["spec"]


def test_backend_timeout():
    """controller policies.go attachBackendTrafficPolicyToUpstream copies timeout connect, send
    and read (whole seconds) to the upstream; APISIX balancer.lua hands them to nginx, whose
    limits are to connect and between two writes or two reads."""
    manifests = render(specs.demo_spec(CLASS))
    spec = backend_policy(manifests, "payment-api-prod-42-payment-service-primary")
    assert spec["timeout"] == {"connect": "10s", "send": "10s", "read": "10s"}


def test_retries():
    """controller policies.go attachBackendTrafficPolicyToUpstream copies retries; APISIX
    balancer.lua calls set_more_tries(retries) (nginx proxy_next_upstream default: error and
    timeout, never a sent POST/PATCH/LOCK). APISIX otherwise retries once per other node, so
    zero is stated too."""
    manifests = render(specs.demo_spec(CLASS))
    assert backend_policy(manifests, "payment-api-prod-42-payment-service-primary")["retries"] == 2
    assert backend_policy(manifests, "payment-api-prod-42-debug-service-echo")["retries"] == 0


def test_health_checks():
    """controller policies.go translateBTPActiveHealthCheck maps healthCheck.active."""
    manifests = render(specs.demo_spec(CLASS))
    active = backend_policy(manifests, "payment-api-prod-42-payment-service-primary")[
        "healthCheck"
    ]["active"]
    assert active["httpPath"] == "/healthz"
    assert active["healthy"]["interval"] == active["unhealthy"]["interval"] == "10s"


def test_load_balancing():
    """controller policies.go attachBackendTrafficPolicyToUpstream copies loadbalancer type,
    hashOn and key to the upstream."""
    manifests = render(specs.regex_and_headers_spec(CLASS))
    policy = backend_policy(manifests, "catalog-api-prod-42-catalog-service-search")
    assert policy["loadbalancer"] == {
        "type": "chash",
        "hashOn": "vars",
        "key": "remote_addr",
    }


def test_external_https_backends():
    """controller policies.go attachBackendTrafficPolicyToUpstream copies scheme and passHost.
    APISIX cli/ngx_tpl.lua sets proxy_ssl_name $upstream_host, and init.lua set_upstream_host
    keeps the client's Host with pass_host "pass": a backend of several DNS names gets
    passHost node (each node's own name); a single one gets its Host from the URLRewrite."""
    manifests = render(specs.demo_spec(CLASS))
    spec = backend_policy(manifests, "payment-api-prod-42-refund-service-partner")
    assert spec["scheme"] == "https" and "passHost" not in spec
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-refund-service-refund-status"]
    assert route["spec"]["rules"][0]["filters"][-1]["urlRewrite"]["hostname"] == (
        "refunds.partner.example.com"
    )
    demo = specs.demo_spec(CLASS)
    specs.find_service(demo, "refund-service")["backends"][0]["endpoints"].append(
        specs.endpoint("https://refunds-2.partner.example.com/api")
    )
    spec = backend_policy(render(demo), "payment-api-prod-42-refund-service-partner")
    assert spec["passHost"] == "node"


# --- Rate limits: one counter per route -------------------------------------------------------


def counter_keys(manifests: list[dict]) -> dict[str, set[str]]:
    """APISIX plugins/limit-count/init.lua gen_limit_key: with a group the counter is the
    group's, else the plugin's parent resource (here the APISIX service the controller makes
    per rule). Returns, per HTTPRoute, the counters its rules count in."""
    counters: dict[str, set[str]] = {}
    for route in (m for m in manifests if m["kind"] in ("HTTPRoute", "GRPCRoute")):
        for index, _rule in enumerate(route["spec"]["rules"]):
            limit = service_plugins(manifests, route, index).get("limit-count")
            if limit:
                key = limit.get("group") or f"service:{route['metadata']['name']}.{index}"
                counters.setdefault(route["metadata"]["name"], set()).add(key)
    return counters


def test_rate_limit():
    """The controller puts PluginConfig plugins on its per-rule APISIX service, so an ungrouped
    limit-count would count per method rule; the group names the route, so all the route's
    rules share one counter, and no two routes share one. policy local: per APISIX node."""
    manifests = render(specs.demo_spec(CLASS))
    counters = counter_keys(manifests)
    assert set(counters) == {
        name
        for name in objects(manifests, "HTTPRoute")
        if "payment-service" in name or "refund-service" in name
    }
    assert all(len(keys) == 1 for keys in counters.values())
    all_keys = [key for keys in counters.values() for key in keys]
    assert len(all_keys) == len(set(all_keys))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-get-payment"]
    limit = service_plugins(manifests, route)["limit-count"]
    assert limit == {
        "count": 100,
        "time_window": 60,
        "key_type": "constant",
        "key": "route",
        "group": "imp-gateway/payment-api-prod-42-payment-service-get-payment/100/60s",
        "rejected_code": 429,
        "policy": "local",
    }


def test_rate_limit_group_names_change_with_the_limit():
    """APISIX plugins/limit-count/init.lua check_schema refuses a grouped configuration that
    differs from the one cached under the group name ("group conf mismatched", for the
    lrucache's five minutes): a changed limit must get a new group name."""
    spec = specs.demo_spec(CLASS)
    before = counter_keys(render(spec))
    specs.find_service(spec, "payment-service")["policies"][0]["config"]["requests"] = 50
    after = counter_keys(render(spec))
    name = "payment-api-prod-42-payment-service-get-payment"
    assert before[name] != after[name]


def test_rate_limit_hour_day():
    """APISIX plugins/limit-count/init.lua schema: time_window is a number of seconds."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-refund-service-refund-status"]
    assert service_plugins(manifests, route)["limit-count"]["time_window"] == 3600


# --- Policies ---------------------------------------------------------------------------------


def test_cors():
    """controller httproute.go fillPluginFromExtensionRef: the PluginConfig's cors plugin
    reaches the route's APISIX service as is; APISIX cors (priority 4000) answers preflights
    before key-auth (2500) runs."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-get-payment"]
    cors = service_plugins(manifests, route)["cors"]
    assert cors["allow_origins"] == "https://console.imprun.dev"
    assert cors["max_age"] == 600


def test_request_headers():
    """controller httproute.go fillPluginFromHTTPRequestHeaderFilter turns RequestHeaderModifier
    into proxy-rewrite headers set/remove, for GRPCRoutes too (grpcroute.go
    fillPluginsFromGRPCRouteFilters). APISIX plugins/proxy-rewrite.lua resolves '$name' in
    header values (core/utils.lua resolve_var), so such values are refused."""
    spec = specs.many_listeners_spec(CLASS)
    specs.find_service(spec, "order-service")["policies"].append(
        specs.policy("trace", "request_headers", set={"x-via": "imp"}, remove=["x-debug"])
    )
    manifests = render(spec)
    route = objects(manifests, "GRPCRoute")["orders-prod-42-order-service-create-order"]
    assert {
        "type": "RequestHeaderModifier",
        "requestHeaderModifier": {
            "set": [{"name": "x-via", "value": "imp"}],
            "remove": ["x-debug"],
        },
    } in route["spec"]["rules"][0]["filters"]
    specs.find_service(spec, "order-service")["policies"][-1]["config"]["set"] = {"x-via": "$uri"}
    assert translation_errors(spec) == [
        "gateway class 'apisix' cannot express feature 'request_headers' (used by header "
        "'x-via' of service 'order-service'): APISIX proxy-rewrite replaces '$name' in a header "
        "value with an nginx variable"
    ]


def test_ip_allowlist():
    """APISIX plugins/ip-restriction.lua takes the allowed CIDRs as whitelist."""
    manifests = render(specs.demo_spec(CLASS))
    route = objects(manifests, "HTTPRoute")["payment-api-prod-42-payment-service-get-payment"]
    assert service_plugins(manifests, route)["ip-restriction"] == {
        "whitelist": ["10.0.0.0/8", "203.0.113.0/24"]
    }


# --- API keys: a key opens only its own publish and environment -------------------------------


def apisix_consumers(cluster: list[dict]) -> dict[str, list[str]]:
    """controller internal/controller/utils.go MatchConsumerGatewayRef keeps a Consumer whose
    gatewayRef names a Gateway of the controller's class; internal/adc/translator/consumer.go
    TranslateConsumerV1alpha1 names it adc.ComposeConsumerName(namespace, name) ("<ns>_<name>")
    and turns each credential Secret's data into the credential config. All consumers of every
    Gateway go to the one APISIX. Returns the keys per consumer username."""
    gateways = {
        (m["metadata"]["namespace"], m["metadata"]["name"])
        for m in cluster
        if m["kind"] == "Gateway"
    }
    secrets = {
        (m["metadata"]["namespace"], m["metadata"]["name"]): m
        for m in cluster
        if m["kind"] == "Secret"
    }
    consumers: dict[str, list[str]] = {}
    for consumer in (m for m in cluster if m["kind"] == "Consumer"):
        namespace = consumer["metadata"]["namespace"]
        assert (namespace, consumer["spec"]["gatewayRef"]["name"]) in gateways
        username = consumer_username(namespace, consumer["metadata"]["name"])
        assert username not in consumers
        consumers[username] = [
            decoded(secrets[(namespace, credential["secretRef"]["name"])])["key"]
            for credential in consumer["spec"].get("credentials", [])
            if credential["type"] == "key-auth"
        ]
    return consumers


def apisix_admits(cluster: list[dict], route: dict, key: str) -> bool:
    """APISIX plugins/key-auth.lua find_consumer looks the key up among all consumers
    (consumer.find_consumer); plugins/consumer-restriction.lua (type consumer_name) then admits
    only a consumer whose name is in whitelist."""
    plugins = service_plugins(cluster, route)
    if "key-auth" not in plugins:
        return True
    owner = next((name for name, keys in apisix_consumers(cluster).items() if key in keys), None)
    restriction = plugins["consumer-restriction"]
    assert restriction["type"] == "consumer_name"
    return owner is not None and owner in restriction["whitelist"]


def test_api_key_auth():
    """key-auth reads the x-api-key header (and, APISIX's key-auth.lua find_consumer has no
    switch for it, the x-api-key query parameter) and strips it; every route of the publish
    lists the publish's consumers in consumer-restriction."""
    manifests = render(specs.demo_spec(CLASS))
    usernames = set(apisix_consumers(manifests))
    assert usernames == {
        "imp-gateway_payment-api-prod-42-consumer-acme-corp",
        "imp-gateway_payment-api-prod-42-consumer-globex",
    }
    for route in objects(manifests, "HTTPRoute").values():
        plugins = service_plugins(manifests, route)
        assert plugins["key-auth"] == {
            "header": "x-api-key",
            "query": "x-api-key",
            "hide_credentials": True,
        }
        assert set(plugins["consumer-restriction"]["whitelist"]) == usernames


def test_api_key_auth_opens_only_its_own_publish_and_environment():
    """Two publishes of one product (prod, dev) and another product on one APISIX: each key
    opens the routes of its publish and no other; a publish without consumers opens to none."""
    prod = specs.demo_spec(CLASS)
    dev = specs.demo_spec(CLASS)
    dev["publish"].update(id=43, environment="dev", name="payment-api-dev")
    dev["consumers"] = [{"name": "acme-corp", "api_keys": ["ak_test_dev_only_1"]}]
    empty = specs.demo_spec(CLASS)
    empty["publish"].update(id=44, name="refund-api-prod")
    empty["consumers"] = []
    cluster = render(prod) + render(dev) + render(empty)
    keys = {"42": "ak_live_7f3c9a1e5b2d4c6a", "43": "ak_test_dev_only_1"}
    for route in (m for m in cluster if m["kind"] == "HTTPRoute"):
        publish = route["metadata"]["labels"]["imp-gateway.io/publish"]
        for key_publish, key in keys.items():
            assert apisix_admits(cluster, route, key) == (publish == key_publish), (
                route["metadata"]["name"],
                key_publish,
            )


def test_jwt_auth():
    """APISIX plugins/openid-connect.lua: check_schema needs client_id and discovery but no
    client_secret with bearer_only and use_jwks; introspect() verifies the bearer token with
    the keys of the discovery document's jwks_uri and the issuers in
    claim_validator.issuer.valid_issuers; the rewrite phase then demands the aud claim
    (audience.required) and that it equals or includes client_id (match_with_client_id). One
    audience is all it can check, so more are refused."""
    spec = specs.expressible(specs.demo_spec(CLASS, auth_mode="oauth2"), CLASS)
    manifests = render(spec)
    for route in objects(manifests, "HTTPRoute").values():
        oidc = service_plugins(manifests, route)["openid-connect"]
        assert oidc["bearer_only"] is True and oidc["use_jwks"] is True
        assert "client_secret" not in oidc
        assert oidc["discovery"] == (
            "https://auth.imprun.dev/realms/imprun/.well-known/openid-configuration"
        )
        assert oidc["claim_validator"] == {
            "issuer": {"valid_issuers": ["https://auth.imprun.dev/realms/imprun"]},
            "audience": {"required": True, "match_with_client_id": True},
        }
        assert oidc["client_id"] == "payment-api"
    spec["oauth2"]["audiences"] = ["payment-api", "refund-api"]
    assert translation_errors(spec) == [
        "gateway class 'apisix' cannot express feature 'jwt_auth' (used by publish "
        "'payment-api-prod' (auth mode oauth2)): openid-connect checks one audience (as its "
        "client id); the spec lists 2"
    ]


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
    spec = specs.demo_spec(CLASS)
    specs.find_service(spec, "payment-service")["routes"][0]["timeout_seconds"] = 5
    specs.find_service(spec, "payment-service")["backends"][0]["load_balancing"] = "random"
    prefix = f"gateway class 'apisix' cannot express feature '{feature}'"
    assert any(message.startswith(prefix) for message in translation_errors(spec))
