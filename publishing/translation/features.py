"""What a revision spec asks of a gateway, and what each gateway class can express.

`CAPABILITY_MATRIX` is the one source that publish validation, the drivers and
docs/gateway-classes.md read. Regenerate the document after changing it:

    python -c "from publishing.translation import render_capability_matrix_markdown as md; \
print(md(), end='')" > docs/gateway-classes.md
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .spec import RevisionSpec

GATEWAY_CLASSES = ("envoy-gateway", "kong", "apisix", "traefik", "nginx")

LONG_RATE_LIMIT_UNITS = ("Hour", "Day")


class Feature(StrEnum):
    PATH_EXACT = "path_exact"
    PATH_PREFIX = "path_prefix"
    PATH_REGEX = "path_regex"
    METHOD_MATCH = "method_match"
    HEADER_MATCH = "header_match"
    HEADER_REGEX_MATCH = "header_regex_match"
    GRPC_ROUTES = "grpc_routes"
    GRPC_SERVICE_MATCH = "grpc_service_match"
    HTTPS_LISTENERS = "https_listeners"
    TLS_PASSTHROUGH = "tls_passthrough"
    PATH_REWRITE = "path_rewrite"
    ROUTE_TIMEOUT = "route_timeout"
    BACKEND_TIMEOUT = "backend_timeout"
    RETRIES = "retries"
    HEALTH_CHECKS = "health_checks"
    LOAD_BALANCING = "load_balancing"
    LOAD_BALANCING_RANDOM = "load_balancing_random"
    EXTERNAL_HTTPS_BACKENDS = "external_https_backends"
    RATE_LIMIT = "rate_limit"
    RATE_LIMIT_HOUR_DAY = "rate_limit_hour_day"
    CORS = "cors"
    REQUEST_HEADERS = "request_headers"
    IP_ALLOWLIST = "ip_allowlist"
    API_KEY_AUTH = "api_key_auth"
    JWT_AUTH = "jwt_auth"


FEATURE_DESCRIPTIONS: dict[Feature, str] = {
    Feature.PATH_EXACT: "route path matched exactly",
    Feature.PATH_PREFIX: "route path matched by prefix",
    Feature.PATH_REGEX: "route path matched by a regular expression",
    Feature.METHOD_MATCH: "route limited to HTTP methods",
    Feature.HEADER_MATCH: "route matching a request header exactly",
    Feature.HEADER_REGEX_MATCH: "route matching a request header by a regular expression",
    Feature.GRPC_ROUTES: "gRPC service routed by package.Service/Method",
    Feature.GRPC_SERVICE_MATCH: "gRPC route matching every method of a service",
    Feature.HTTPS_LISTENERS: "listener terminating TLS with a certificate",
    Feature.TLS_PASSTHROUGH: "TLS listener in Passthrough mode (for TLSRoutes of the cluster)",
    Feature.PATH_REWRITE: "path prefix rewrite, or an endpoint URL with a base path",
    Feature.ROUTE_TIMEOUT: "timeout for the whole request of a route",
    Feature.BACKEND_TIMEOUT: "timeout for each request to a backend",
    Feature.RETRIES: "retries of requests that did not reach a backend",
    Feature.HEALTH_CHECKS: "active HTTP health checks of backend endpoints",
    Feature.LOAD_BALANCING: "least-request or consistent-hash (client IP) load balancing",
    Feature.LOAD_BALANCING_RANDOM: "random load balancing",
    Feature.EXTERNAL_HTTPS_BACKENDS: "https:// endpoints (TLS to the backend)",
    Feature.RATE_LIMIT: "rate limit policy (requests per route and unit, for all clients)",
    Feature.RATE_LIMIT_HOUR_DAY: "rate limit counted per hour or per day",
    Feature.CORS: "CORS policy",
    Feature.REQUEST_HEADERS: "request headers set or removed before forwarding",
    Feature.IP_ALLOWLIST: "client IP allow-list policy",
    Feature.API_KEY_AUTH: "auth mode apikey: API keys of the subscribed consumers",
    Feature.JWT_AUTH: "auth mode oauth2: JWT checked against issuer, audiences and JWKS URI",
}


@dataclass(frozen=True)
class Support:
    """Whether a gateway class can express a feature, and with which object (or why not)."""

    supported: bool
    note: str


def _yes(note: str) -> Support:
    return Support(True, note)


def _no(note: str) -> Support:
    return Support(False, note)


_STANDARD_ROUTING = {
    Feature.PATH_EXACT: _yes("HTTPRoute path match Exact"),
    Feature.PATH_PREFIX: _yes("HTTPRoute path match PathPrefix"),
    Feature.METHOD_MATCH: _yes("HTTPRoute match method"),
    Feature.HEADER_MATCH: _yes("HTTPRoute/GRPCRoute header match Exact"),
    Feature.GRPC_ROUTES: _yes("GRPCRoute"),
    Feature.GRPC_SERVICE_MATCH: _yes("GRPCRoute method match with the service only"),
    Feature.HTTPS_LISTENERS: _yes("Gateway HTTPS listener with certificateRefs"),
    Feature.PATH_REWRITE: _yes("HTTPRoute URLRewrite filter"),
    Feature.REQUEST_HEADERS: _yes("HTTPRoute/GRPCRoute RequestHeaderModifier filter"),
}

CAPABILITY_MATRIX: dict[str, dict[Feature, Support]] = {
    "envoy-gateway": {
        **_STANDARD_ROUTING,
        Feature.PATH_REGEX: _yes(
            "HTTPRoute path match RegularExpression: Envoy matches the whole path against the "
            "RE2 pattern (safe_regex)"
        ),
        Feature.HEADER_REGEX_MATCH: _yes(
            "header match RegularExpression (RE2, matching the whole value)"
        ),
        Feature.TLS_PASSTHROUGH: _yes("Gateway TLS listener, mode Passthrough (TLSRoute v1)"),
        Feature.ROUTE_TIMEOUT: _yes(
            "HTTPRoute rule timeouts.request; for GRPCRoutes, which have no timeouts field, "
            "BackendTrafficPolicy timeout.http.requestTimeout"
        ),
        Feature.BACKEND_TIMEOUT: _yes(
            "HTTPRoute rule timeouts.backendRequest (GRPCRoute: BackendTrafficPolicy "
            "requestTimeout) for the single attempt; with retries, BackendTrafficPolicy "
            "retry.perRetry.timeout for each attempt"
        ),
        Feature.RETRIES: _yes(
            "BackendTrafficPolicy retry on connect-failure, refused-stream, reset-before-request"
        ),
        Feature.HEALTH_CHECKS: _yes("BackendTrafficPolicy healthCheck.active"),
        Feature.LOAD_BALANCING: _yes(
            "BackendTrafficPolicy loadBalancer LeastRequest / ConsistentHash SourceIP"
        ),
        Feature.LOAD_BALANCING_RANDOM: _yes("BackendTrafficPolicy loadBalancer Random"),
        Feature.EXTERNAL_HTTPS_BACKENDS: _yes(
            "Backend (gateway.envoyproxy.io) with tls, verified with the system CAs"
        ),
        Feature.RATE_LIMIT: _yes(
            "BackendTrafficPolicy rateLimit global, shared: one counter per route in Envoy "
            "Gateway's rate limit service (a local limit would count per listener, hostname "
            "and rule)"
        ),
        Feature.RATE_LIMIT_HOUR_DAY: _yes("BackendTrafficPolicy rateLimit global unit Hour/Day"),
        Feature.CORS: _yes("SecurityPolicy cors"),
        Feature.IP_ALLOWLIST: _yes("SecurityPolicy authorization, clientCIDRs"),
        Feature.API_KEY_AUTH: _yes(
            "SecurityPolicy apiKeyAuth on the publish's routes, with a Secret per consumer "
            "(client id: key)"
        ),
        Feature.JWT_AUTH: _yes("SecurityPolicy jwt, remoteJWKS"),
    },
    "kong": {
        **_STANDARD_ROUTING,
        Feature.PATH_REGEX: _yes(
            "HTTPRoute path match RegularExpression, sent as /{0}^(?:pattern)$ since Kong "
            "anchors a regex path at the start and needs it to begin with '/' (a pattern with "
            "'//' is refused)"
        ),
        Feature.HEADER_REGEX_MATCH: _yes(
            "HTTPRoute header match RegularExpression; refused on gRPC routes, whose header "
            "values KIC 3.5 compares literally on Kong's traditional routers"
        ),
        Feature.REQUEST_HEADERS: _yes(
            "HTTPRoute RequestHeaderModifier filter; for gRPC a KongPlugin request-transformer "
            "on the GRPCRoute, since KIC 3.5 ignores GRPCRoute filters (values with '$(...)' "
            "or a leading ':' are refused)"
        ),
        Feature.TLS_PASSTHROUGH: _yes(
            "Gateway TLS listener, mode Passthrough (KIC 3.5 attaches TLSRoute v1alpha2 only)"
        ),
        Feature.ROUTE_TIMEOUT: _no(
            "Kong has no timeout for a whole request; KIC maps only timeouts.backendRequest"
        ),
        Feature.BACKEND_TIMEOUT: _yes(
            "Service annotations konghq.com/connect-timeout, read-timeout, write-timeout (nginx "
            "semantics: the limit to connect, and between two writes or two reads, not for the "
            "whole response)"
        ),
        Feature.RETRIES: _yes(
            "Service annotation konghq.com/retries: the next endpoint is tried after a "
            "connection error or timeout; a POST, PATCH or LOCK only when it was not sent yet"
        ),
        Feature.HEALTH_CHECKS: _yes("KongUpstreamPolicy healthchecks.active"),
        Feature.LOAD_BALANCING: _yes(
            "KongUpstreamPolicy algorithm least-connections / consistent-hashing on ip"
        ),
        Feature.LOAD_BALANCING_RANDOM: _no(
            "Kong upstreams balance round-robin, consistent-hashing, least-connections, "
            "latency or sticky-sessions; none is random"
        ),
        Feature.EXTERNAL_HTTPS_BACKENDS: _yes(
            "ExternalName Service annotated konghq.com/protocol https and konghq.com/tls-verify; "
            "Kong sends the upstream Host as SNI, so an https backend of several DNS names "
            "routes with konghq.com/preserve-host false (each endpoint gets its own name)"
        ),
        Feature.RATE_LIMIT: _yes(
            "KongPlugin rate-limiting (limit_by service, policy local) named on the backend's "
            "first Service: one counter per route on each Kong node (shared by the routes of a "
            "backend if KIC runs with --combined-services-from-different-httproutes; one per "
            "hostname of a gRPC route if Kong runs router_flavor expressions)"
        ),
        Feature.RATE_LIMIT_HOUR_DAY: _yes("KongPlugin rate-limiting hour/day"),
        Feature.CORS: _yes("KongPlugin cors"),
        Feature.IP_ALLOWLIST: _yes("KongPlugin ip-restriction"),
        Feature.API_KEY_AUTH: _yes(
            "KongPlugin key-auth (header only) and acl allowing the publish's group; "
            "KongConsumer with key-auth and acl credential Secrets"
        ),
        Feature.JWT_AUTH: _no(
            "the OSS jwt plugin verifies keys stored on consumers and cannot fetch a JWKS URI; "
            "openid-connect is a Kong Enterprise plugin"
        ),
    },
    "apisix": {
        **_STANDARD_ROUTING,
        Feature.PATH_REGEX: _yes(
            "HTTPRoute path match RegularExpression, sent as ^(?:pattern)$ since the controller "
            "searches the path with route vars uri ~~"
        ),
        Feature.HEADER_REGEX_MATCH: _yes("header match RegularExpression (route vars ~~)"),
        Feature.REQUEST_HEADERS: _yes(
            "HTTPRoute/GRPCRoute RequestHeaderModifier filter (proxy-rewrite; values with '$' "
            "are refused, APISIX reads them as nginx variables)"
        ),
        Feature.TLS_PASSTHROUGH: _yes("Gateway TLS listener, mode Passthrough (TLSRoute v1)"),
        Feature.ROUTE_TIMEOUT: _no(
            "APISIX times out per upstream request only; its Gateway API translation ignores "
            "HTTPRoute timeouts"
        ),
        Feature.BACKEND_TIMEOUT: _yes(
            "BackendTrafficPolicy (apisix.apache.org) timeout connect/send/read (nginx "
            "semantics: the limit to connect, and between two writes or two reads)"
        ),
        Feature.RETRIES: _yes(
            "BackendTrafficPolicy (apisix.apache.org) retries: the next endpoint is tried after "
            "a connection error or timeout; a POST, PATCH or LOCK only when it was not sent yet"
        ),
        Feature.HEALTH_CHECKS: _yes("BackendTrafficPolicy (apisix.apache.org) healthCheck"),
        Feature.LOAD_BALANCING: _yes(
            "BackendTrafficPolicy (apisix.apache.org) loadbalancer least_conn / chash on "
            "remote_addr"
        ),
        Feature.LOAD_BALANCING_RANDOM: _no(
            "APISIX balances roundrobin, chash, ewma or least_conn; none is random"
        ),
        Feature.EXTERNAL_HTTPS_BACKENDS: _yes(
            "BackendTrafficPolicy (apisix.apache.org) scheme https (passHost node for several "
            "DNS names, since APISIX sends the upstream Host as SNI); the certificate is not "
            "verified, since the policy has no TLS verification setting"
        ),
        Feature.RATE_LIMIT: _yes(
            "PluginConfig limit-count, policy local, grouped per route: one counter per route "
            "on each APISIX node"
        ),
        Feature.RATE_LIMIT_HOUR_DAY: _yes("PluginConfig limit-count time_window"),
        Feature.CORS: _yes("PluginConfig cors"),
        Feature.IP_ALLOWLIST: _yes("PluginConfig ip-restriction"),
        Feature.API_KEY_AUTH: _yes(
            "PluginConfig key-auth (x-api-key header, else the x-api-key query parameter) and "
            "consumer-restriction listing the publish's consumers; Consumer (v1alpha1) bound to "
            "the Gateway, key Secrets"
        ),
        Feature.JWT_AUTH: _yes(
            "PluginConfig openid-connect, bearer_only with use_jwks (APISIX 3.17): the keys come "
            "from the jwks_uri of the issuer's discovery document, which must be the spec's "
            "JWKS URI; at most one audience, checked as the client id"
        ),
    },
    "traefik": {
        **_STANDARD_ROUTING,
        Feature.PATH_REGEX: _yes("HTTPRoute path match RegularExpression (PathRegexp)"),
        Feature.HEADER_REGEX_MATCH: _yes("header match RegularExpression (HeaderRegexp)"),
        Feature.TLS_PASSTHROUGH: _yes("Gateway TLS listener, mode Passthrough (TLSRoute)"),
        Feature.ROUTE_TIMEOUT: _no(
            "Traefik v3.7 accepts but ignores HTTPRoute timeouts (traefik/traefik#11902)"
        ),
        Feature.BACKEND_TIMEOUT: _no(
            "ServersTransport forwarding timeouts cannot be attached to Gateway API backends, "
            "and HTTPRoute timeouts are ignored"
        ),
        Feature.RETRIES: _yes("Middleware retry (ExtensionRef filter)"),
        Feature.HEALTH_CHECKS: _no(
            "health checks belong to IngressRoute/TraefikService services, not to Gateway API "
            "backends"
        ),
        Feature.LOAD_BALANCING: _no(
            "Gateway API backends are balanced weighted round-robin; the strategy option "
            "belongs to IngressRoute/TraefikService services"
        ),
        Feature.LOAD_BALANCING_RANDOM: _no(
            "Gateway API backends are balanced weighted round-robin"
        ),
        Feature.EXTERNAL_HTTPS_BACKENDS: _yes(
            "ExternalName Service and BackendTLSPolicy, verified with the system CAs"
        ),
        Feature.RATE_LIMIT: _yes("Middleware rateLimit (ExtensionRef filter)"),
        Feature.RATE_LIMIT_HOUR_DAY: _yes("Middleware rateLimit period 1h/24h"),
        Feature.CORS: _yes("Middleware headers accessControl* (ExtensionRef filter)"),
        Feature.IP_ALLOWLIST: _yes("Middleware ipAllowList (ExtensionRef filter)"),
        Feature.API_KEY_AUTH: _no(
            "Traefik Proxy has no API-key middleware (a Traefik Hub feature); forwardAuth "
            "would need an external auth service that Imp-Gateway does not run"
        ),
        Feature.JWT_AUTH: _no(
            "Traefik Proxy has no JWT middleware (a Traefik Hub feature); forwardAuth would "
            "need an external auth service that Imp-Gateway does not run"
        ),
    },
    "nginx": {
        **_STANDARD_ROUTING,
        Feature.PATH_REGEX: _yes(
            "HTTPRoute path match RegularExpression, sent as /?^(?:pattern)$ since NGINX "
            "Gateway Fabric writes `location ~ ^<value>` (PCRE) and needs a leading '/'; "
            "patterns with whitespace, '{', '}' or ';' are refused"
        ),
        Feature.HEADER_REGEX_MATCH: _yes(
            "header match RegularExpression (a JavaScript RegExp searched in each "
            "comma-separated value: anchor it with ^ and $ to match whole values)"
        ),
        Feature.GRPC_SERVICE_MATCH: _no(
            "GRPCRoute method matches need both the service and the method"
        ),
        Feature.TLS_PASSTHROUGH: _yes("Gateway TLS listener, mode Passthrough (TLSRoute)"),
        Feature.ROUTE_TIMEOUT: _no(
            "NGINX has no timeout for a whole request, and NGINX Gateway Fabric ignores "
            "HTTPRoute timeouts"
        ),
        Feature.BACKEND_TIMEOUT: _yes(
            "ProxySettingsPolicy timeout for HTTP services (proxy_connect/read/send_timeout: "
            "the limit between two reads, not for the whole response); refused for gRPC "
            "services, whose locations use grpc_pass and grpc_*_timeout, which no NGINX "
            "Gateway Fabric API sets. Routes that share a path need the same backend timeout "
            "(one nginx location, one policy)"
        ),
        Feature.RETRIES: _no(
            "NGINX Gateway Fabric has no retry setting (and NGINX's own passing on of requests "
            "to another server of an upstream is ruled out by one upstream per endpoint)"
        ),
        Feature.HEALTH_CHECKS: _no("active health checks need NGINX Plus"),
        Feature.LOAD_BALANCING: _no(
            "each endpoint is an upstream of its own, since NGINX passes idempotent requests "
            "on to another server of an upstream after an error or a timeout "
            "(proxy_next_upstream, which no NGINX Gateway Fabric API sets); least_conn and hash "
            "need the endpoints in one upstream"
        ),
        Feature.LOAD_BALANCING_RANDOM: _yes(
            "the route splits requests over the endpoints' Services at random, in proportion "
            "to their weights (split_clients on $request_id)"
        ),
        Feature.EXTERNAL_HTTPS_BACKENDS: _yes(
            "ExternalName Service and BackendTLSPolicy, verified with the system CAs "
            "(ExternalName needs the DNS resolver set in NginxProxy); one host name per https "
            "backend, since NGINX Gateway Fabric needs the same BackendTLSPolicy for every "
            "backend of a route rule"
        ),
        Feature.RATE_LIMIT: _yes(
            "RateLimitPolicy local, one zone per route, without burst: requests are admitted "
            "evenly spaced at the rate (N per minute: one every 60/N seconds). Routes that "
            "share a path share one nginx location, so they share one policy and count "
            "together; routes of a path whose services' limits differ are refused"
        ),
        Feature.RATE_LIMIT_HOUR_DAY: _no("RateLimitPolicy rates are per second or per minute"),
        Feature.CORS: _yes("HTTPRoute CORS filter"),
        Feature.IP_ALLOWLIST: _no(
            "NGINX Gateway Fabric has no client IP policy; only raw nginx configuration "
            "through SnippetsFilter, which is disabled by default"
        ),
        Feature.API_KEY_AUTH: _no("AuthenticationFilter supports Basic, JWT and OIDC only"),
        Feature.JWT_AUTH: _no(
            "AuthenticationFilter JWT needs NGINX Plus and, in v2.6, cannot check the issuer "
            "or the audiences"
        ),
    },
}


def _policy_feature(kind: str) -> Feature:
    return {
        "rate_limit": Feature.RATE_LIMIT,
        "cors": Feature.CORS,
        "request_headers": Feature.REQUEST_HEADERS,
        "ip_allowlist": Feature.IP_ALLOWLIST,
    }[kind]


def required_features(spec: RevisionSpec) -> dict[Feature, list[str]]:
    """Each feature the spec uses, with where it is used ("route 'x' of service 'y'")."""
    used: dict[Feature, list[str]] = {}

    def use(feature: Feature, where: str) -> None:
        places = used.setdefault(feature, [])
        if where not in places:
            places.append(where)

    gateway = spec["gateway"]
    for listener in gateway["listeners"]:
        where = f"listener '{listener['name']}' of gateway '{gateway['name']}'"
        if listener["protocol"] == "HTTPS" or (
            listener["protocol"] == "GRPC" and listener["tls_mode"] == "Terminate"
        ):
            use(Feature.HTTPS_LISTENERS, where)
        if listener["protocol"] == "TLS" and listener["tls_mode"] == "Passthrough":
            use(Feature.TLS_PASSTHROUGH, where)
    for service in spec["services"]:
        service_name = service["name"]
        if service["protocol"] == "GRPC":
            use(Feature.GRPC_ROUTES, f"service '{service_name}'")
        for route in service["routes"]:
            where = f"route '{route['name']}' of service '{service_name}'"
            if service["protocol"] == "GRPC" and "/" not in route["path"]:
                use(Feature.GRPC_SERVICE_MATCH, where)
            if service["protocol"] == "HTTP":
                use(
                    {
                        "Exact": Feature.PATH_EXACT,
                        "PathPrefix": Feature.PATH_PREFIX,
                        "RegularExpression": Feature.PATH_REGEX,
                    }[route["match_type"]],
                    where,
                )
                if route["methods"]:
                    use(Feature.METHOD_MATCH, where)
            for header in route["header_matches"]:
                use(
                    Feature.HEADER_REGEX_MATCH
                    if header["type"] == "RegularExpression"
                    else Feature.HEADER_MATCH,
                    where,
                )
            if route["rewrite_path_prefix"]:
                use(Feature.PATH_REWRITE, where)
            if route["timeout_seconds"]:
                use(Feature.ROUTE_TIMEOUT, where)
        for backend in service["backends"]:
            where = f"backend '{backend['name']}' of service '{service_name}'"
            if backend["timeout_seconds"]:
                use(Feature.BACKEND_TIMEOUT, where)
            if backend["retry_attempts"]:
                use(Feature.RETRIES, where)
            if backend["health_check"]:
                use(Feature.HEALTH_CHECKS, where)
            if backend["load_balancing"] in ("least_request", "consistent_hash"):
                use(Feature.LOAD_BALANCING, where)
            if backend["load_balancing"] == "random":
                use(Feature.LOAD_BALANCING_RANDOM, where)
            if any(endpoint["scheme"] == "https" for endpoint in backend["endpoints"]):
                use(Feature.EXTERNAL_HTTPS_BACKENDS, where)
            if any(endpoint["path"] for endpoint in backend["endpoints"]):
                use(Feature.PATH_REWRITE, where)
        for policy in service["policies"]:
            where = f"policy '{policy['name']}' of service '{service_name}'"
            use(_policy_feature(policy["kind"]), where)
            if policy["kind"] == "rate_limit" and policy["config"]["unit"] in (
                LONG_RATE_LIMIT_UNITS
            ):
                use(Feature.RATE_LIMIT_HOUR_DAY, where)
    publish = spec["publish"]
    auth_where = f"publish '{publish['name']}' (auth mode {publish['auth_mode']})"
    if publish["auth_mode"] == "apikey":
        use(Feature.API_KEY_AUTH, auth_where)
    elif publish["auth_mode"] == "oauth2":
        use(Feature.JWT_AUTH, auth_where)
    return {feature: used[feature] for feature in Feature if feature in used}


def unsupported_features(spec: RevisionSpec, gateway_class: str) -> list[str]:
    """One message per feature the spec uses that `gateway_class` cannot express; empty when
    the class can express everything."""
    if gateway_class not in CAPABILITY_MATRIX:
        return [f"unknown gateway class '{gateway_class}'; known: {', '.join(GATEWAY_CLASSES)}"]
    matrix = CAPABILITY_MATRIX[gateway_class]
    return [
        feature_refusal(gateway_class, feature, places, matrix[feature].note)
        for feature, places in required_features(spec).items()
        if not matrix[feature].supported
    ]


def feature_refusal(gateway_class: str, feature: Feature, places: list[str], reason: str) -> str:
    """The message refusing `feature` of `gateway_class` where the spec uses it."""
    return (
        f"gateway class '{gateway_class}' cannot express feature '{feature}' "
        f"(used by {', '.join(places)}): {reason}"
    )


# What a feature means, whichever class renders it: each class either makes these hold or
# refuses the feature at publish time. Rendered into the document; tests/publishing/contracts/
# checks them against each class's controller.
SEMANTICS = (
    "**API keys** open only their own publish, that is one product in one environment: a "
    "consumer's keys are referenced only by the authentication objects of the publish it "
    "subscribed to, and those attach only to that publish's routes.",
    "**Rate limits**: a limit of N requests per unit lets at most N requests through per unit "
    "to each route of its service, counted together over the route's methods, listeners and "
    "hostnames, for all clients. envoy-gateway counts across gateway replicas in fixed windows "
    "of the unit (its rate limit service); the other classes count on each gateway replica. "
    "nginx admits the N requests evenly spaced through the unit, so it refuses bursts that a "
    "fixed window would let through, and counts the routes that share a path together (they "
    "are one nginx location; routes of one path with different limits are refused).",
    "**Regular-expression paths** match when the whole request path (without the query "
    "string) matches the RE2 pattern, as if it were written `^(?:pattern)$`; classes whose "
    "matcher searches or anchors only the start are sent the anchored form.",
    "**Timeouts**: a route timeout bounds the whole request as the client sees it, retries "
    "included; a backend timeout bounds each attempt to the backend (on nginx, each wait for "
    "the backend: to connect, to send, between two reads). When neither is set, the class's "
    "defaults apply (envoy-gateway: 15 seconds for the whole request; nginx: 60 seconds for "
    "each wait).",
    "**Retries**: `retry_attempts` is the number of retries after the first attempt, made only "
    "when the request cannot have reached the backend (connection failures, streams refused "
    "before the request), so they are safe for every method; with 0 the gateway sends each "
    "request to the backend once (nginx: but see its note on DNS names with several "
    "addresses).",
)

# What every class's translation assumes of the cluster and of API clients; rendered into the
# document beside the matrix.
CONVENTIONS = (
    "API keys travel in the `x-api-key` request header; gateways strip it before forwarding.",
    "An IP allow-list checks the client address the gateway sees; behind a load balancer, "
    "configure the class to trust X-Forwarded-For or PROXY protocol.",
    "Backend endpoints named by IP address become a selector-less Service with EndpointSlices; "
    "each DNS name becomes an ExternalName Service (EndpointSlices of type FQDN have no defined "
    "meaning). A backend with a single DNS name also gets its Host header.",
    "TCP listeners and TLS listeners are rendered as the template declares them; Imp-Gateway "
    "attaches no routes to them (it publishes HTTP and gRPC services).",
    "A route limited to some methods also matches CORS preflights (OPTIONS with "
    "Access-Control-Request-Method) when its service has a CORS policy.",
    "A listener certificate in another namespace gets a ReferenceGrant there, from the "
    "Gateways of the publish namespace to that one Secret; the agent writes it with the "
    "`imp-gateway-agent-reference-grants` role, bound in that namespace.",
    "envoy-gateway: the Backend API must be enabled (extensionApis.enableBackend), and rate "
    "limits need Envoy Gateway's global rate limit service (EnvoyGateway rateLimit.backend, "
    "Redis); without it the rate-limited routes answer 500.",
    "kong: KIC runs with its default --ingress-class kong: KongConsumers carry "
    "kubernetes.io/ingress.class: kong, and KIC ignores consumers of another class.",
    "apisix: the operator creates a GatewayProxy named apisix-config in the publish namespace "
    "with the APISIX admin API endpoint and admin key (from a Secret there); every Gateway's "
    "infrastructure.parametersRef names it. One GatewayProxy per APISIX: the controller fully "
    "syncs each GatewayProxy's resources, so two pointing at one APISIX delete each other's.",
    "traefik: the Kubernetes CRD provider must be enabled for Middleware filters.",
    "nginx: ExternalName Services need the DNS resolver configured in NginxProxy.",
    "nginx: each IP endpoint of a backend is a Service of its own, so requests are spread over "
    "the endpoints at random in proportion to their weights, not in strict rotation. A DNS name "
    "that resolves to several addresses stays one upstream, across whose addresses NGINX may "
    "pass an idempotent request on after an error or a timeout.",
)


def render_capability_matrix_markdown() -> str:
    """docs/gateway-classes.md: the capability matrix with the object behind each cell."""
    lines = [
        "# Gateway classes",
        "",
        "<!-- Generated from publishing/translation/features.py; do not edit. Regenerate with:",
        '     python -c "from publishing.translation import render_capability_matrix_markdown '
        "as md; print(md(), end='')\" > docs/gateway-classes.md -->",
        "",
        "What each gateway class can express, and with which Kubernetes object. Publishing a "
        "spec that uses a feature its gateway class cannot express fails with an error that "
        "names the class, the feature and where the spec uses it; nothing is dropped silently.",
        "",
        "Versions: Gateway API v1.6.1, Envoy Gateway v1.9, Kong Ingress Controller 3.5 "
        "(kubernetes-configuration v1.5.3, Kong OSS), APISIX ingress controller 2.2 (Gateway "
        "API mode), Traefik Proxy v3.7, NGINX Gateway Fabric 2.6 (NGINX OSS).",
        "",
        "| feature | " + " | ".join(GATEWAY_CLASSES) + " |",
        "|---|" + "---|" * len(GATEWAY_CLASSES),
    ]
    for feature in Feature:
        cells = [
            "yes" if CAPABILITY_MATRIX[gateway_class][feature].supported else "**no**"
            for gateway_class in GATEWAY_CLASSES
        ]
        lines.append(f"| `{feature}` | " + " | ".join(cells) + " |")
    lines += ["", "## What a feature means on every class", ""]
    lines += [f"- {semantic}" for semantic in SEMANTICS]
    lines += ["", "## Conventions and cluster prerequisites", ""]
    lines += [f"- {convention}" for convention in CONVENTIONS]
    lines += ["", "## Features", ""]
    lines += [f"- `{feature}`: {FEATURE_DESCRIPTIONS[feature]}" for feature in Feature]
    for gateway_class in GATEWAY_CLASSES:
        lines += ["", f"## {gateway_class}", ""]
        for feature in Feature:
            support = CAPABILITY_MATRIX[gateway_class][feature]
            verdict = "yes" if support.supported else "**no**"
            lines.append(f"- `{feature}`: {verdict}, {support.note}")
    return "\n".join(lines) + "\n"
