"""Revision specs for translator tests: the demo publish, edge cases, a reduction to what a
gateway class can express, and a hypothesis strategy of valid specs."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from hypothesis import strategies as st

from catalog.policies import clean_policy_config
from publishing.translation.features import CAPABILITY_MATRIX, Feature
from publishing.translation.nginx import NginxDriver
from publishing.translation.spec import SPEC_VERSION

DEMO_HOSTNAME = "payment-api.prod.kr-seoul.api.imprun.dev"


def listener(
    name: str,
    port: int,
    protocol: str,
    *,
    hostname: str | None = None,
    tls_mode: str | None = None,
    certificate: str | None = None,
    certificate_namespace: str | None = None,
) -> dict:
    return {
        "name": name,
        "port": port,
        "protocol": protocol,
        "hostname": hostname,
        "tls_mode": tls_mode,
        "certificate_ref": (
            {"namespace": certificate_namespace, "name": certificate} if certificate else None
        ),
    }


def endpoint(url: str) -> dict:
    """An EndpointSpec from 'host:port' or an http(s) URL, as publishing.services parses it."""
    scheme, _sep, rest = url.rpartition("://")
    scheme = scheme or "http"
    authority, slash, path = rest.partition("/")
    if authority.startswith("["):
        host, _bracket, port_text = authority[1:].partition("]:")
    else:
        host, _colon, port_text = authority.rpartition(":")
        if not _colon:
            host, port_text = authority, ""
    port = int(port_text) if port_text else (443 if scheme == "https" else 80)
    return {
        "scheme": scheme,
        "host": host,
        "port": port,
        "path": ("/" + path).rstrip("/") if slash else "",
    }


def backend(
    name: str,
    *urls: str,
    load_balancing: str = "round_robin",
    timeout_seconds: int | None = None,
    retry_attempts: int = 0,
    health_check: tuple[str, int] | None = None,
) -> dict:
    return {
        "name": name,
        "endpoints": [endpoint(url) for url in urls],
        "load_balancing": load_balancing,
        "timeout_seconds": timeout_seconds,
        "retry_attempts": retry_attempts,
        "health_check": (
            {"path": health_check[0], "interval_seconds": health_check[1]} if health_check else None
        ),
    }


def route(
    name: str,
    path: str,
    *,
    backend: str,
    match_type: str = "PathPrefix",
    methods: tuple[str, ...] = (),
    headers: tuple[tuple[str, str, str], ...] = (),
    rewrite: str | None = None,
    timeout_seconds: int | None = None,
) -> dict:
    return {
        "name": name,
        "path": path,
        "match_type": match_type,
        "methods": sorted(methods),
        "header_matches": [
            {"name": header, "value": value, "type": kind} for header, value, kind in headers
        ],
        "backend": backend,
        "rewrite_path_prefix": rewrite,
        "timeout_seconds": timeout_seconds,
    }


def policy(name: str, kind: str, **config: Any) -> dict:
    return {"name": name, "kind": kind, "config": clean_policy_config(kind, config)}


def service(
    name: str,
    *,
    backends: list[dict],
    routes: list[dict],
    policies: list[dict] | None = None,
    protocol: str = "HTTP",
) -> dict:
    return {
        "name": name,
        "version": "v1",
        "protocol": protocol,
        "backends": sorted(backends, key=lambda item: item["name"]),
        "routes": sorted(routes, key=lambda item: item["name"]),
        "policies": sorted(policies or [], key=lambda item: item["name"]),
    }


def revision_spec(
    *,
    services: list[dict],
    listeners: list[dict],
    gateway_class: str = "envoy-gateway",
    auth_mode: str = "none",
    consumers: list[dict] | None = None,
    oauth2: dict | None = None,
    hostnames: list[str] | None = None,
    environment: str = "prod",
    product: str = "payment-api",
    publish_id: int = 42,
    namespace: str = "imp-gateway",
    gateway_labels: dict[str, str] | None = None,
) -> dict:
    return {
        "spec_version": SPEC_VERSION,
        "publish": {
            "id": publish_id,
            "name": f"{product}-{environment}",
            "namespace": namespace,
            "tenant": "imprun",
            "environment": environment,
            "auth_mode": auth_mode,
            "hostnames": sorted(
                hostnames
                if hostnames is not None
                else [f"{product}.{environment}.kr-seoul.api.imprun.dev"]
            ),
            "product": {"slug": product, "name": "Payment API", "version": "1.4.0"},
        },
        "gateway": {
            "name": "gateway-envoy-prod",
            "gateway_class": gateway_class,
            "labels": dict(sorted((gateway_labels or {"imprun.dev/team": "platform"}).items())),
            "listeners": sorted(listeners, key=lambda item: (item["port"], item["name"])),
        },
        "services": sorted(services, key=lambda item: item["name"]),
        "oauth2": oauth2,
        "consumers": sorted(consumers or [], key=lambda item: item["name"]),
    }


def find_service(spec: dict, name: str) -> dict:
    return next(item for item in spec["services"] if item["name"] == name)


def demo_listeners() -> list[dict]:
    return [
        listener("http", 80, "HTTP"),
        listener("https", 443, "HTTPS", tls_mode="Terminate", certificate="api-imprun-dev-tls"),
    ]


def demo_consumers() -> list[dict]:
    return [
        {"name": "acme-corp", "api_keys": ["ak_live_7f3c9a1e5b2d4c6a"]},
        {"name": "globex", "api_keys": ["ak_live_0b1d2e3f4a5b6c7d", "ak_live_9e8d7c6b5a4f3e2d"]},
    ]


def demo_spec(gateway_class: str = "envoy-gateway", *, auth_mode: str = "apikey") -> dict:
    """The demo publish: payment-api in prod on kr-seoul, three services, API keys."""
    payment = service(
        "payment-service",
        backends=[
            backend(
                "primary",
                "10.0.1.10:8080",
                "10.0.1.11:8080",
                load_balancing="least_request",
                timeout_seconds=10,
                retry_attempts=2,
                health_check=("/healthz", 10),
            )
        ],
        routes=[
            route(
                "create-payment",
                "/v1/payments",
                backend="primary",
                match_type="Exact",
                methods=("POST",),
                timeout_seconds=15,
            ),
            route("get-payment", "/v1/payments", backend="primary", methods=("GET", "HEAD")),
            route(
                "payment-events",
                "/v1/events",
                backend="primary",
                methods=("GET",),
                headers=(("x-api-version", "2", "Exact"),),
                rewrite="/events",
            ),
        ],
        policies=[
            policy("burst-limit", "rate_limit", requests=100, unit="Minute"),
            policy(
                "web-cors",
                "cors",
                allow_origins=["https://console.imprun.dev"],
                allow_methods=["GET", "POST"],
                allow_headers=["content-type", "x-api-key"],
                max_age_seconds=600,
            ),
            policy("office-only", "ip_allowlist", cidrs=["10.0.0.0/8", "203.0.113.0/24"]),
            policy(
                "trace-headers",
                "request_headers",
                set={"x-imp-gateway": "payment-api"},
                remove=["x-debug"],
            ),
        ],
    )
    refund = service(
        "refund-service",
        backends=[
            backend(
                "partner",
                "https://refunds.partner.example.com/api",
                timeout_seconds=30,
                retry_attempts=1,
            )
        ],
        routes=[
            route("create-refund", "/v1/refunds", backend="partner", methods=("POST",)),
            route(
                "refund-status",
                "/v1/refunds/status",
                backend="partner",
                match_type="Exact",
                methods=("GET",),
            ),
        ],
        policies=[policy("hourly-quota", "rate_limit", requests=1000, unit="Hour")],
    )
    debug = service(
        "debug-service",
        backends=[backend("echo", "echo.debug.svc.cluster.local:8080")],
        routes=[route("echo", "/debug", backend="echo", methods=("GET",))],
    )
    return revision_spec(
        services=[payment, refund, debug],
        listeners=demo_listeners(),
        gateway_class=gateway_class,
        auth_mode=auth_mode,
        consumers=demo_consumers() if auth_mode == "apikey" else [],
        oauth2=demo_oauth2() if auth_mode == "oauth2" else None,
    )


def demo_oauth2() -> dict:
    return {
        "issuer": "https://auth.imprun.dev/realms/imprun",
        "jwks_uri": "https://auth.imprun.dev/realms/imprun/protocol/openid-connect/certs",
        "audiences": ["payment-api"],
    }


# --- Edge cases -------------------------------------------------------------------------------


def regex_and_headers_spec(gateway_class: str) -> dict:
    """Regex paths, exact and regex header matches, IPv6 endpoints, random balancing."""
    catalog = service(
        "catalog-service",
        backends=[
            backend(
                "pods",
                "10.2.0.5:9000",
                "[2001:db8::10]:9000",
                "[2001:db8::11]:9001",
                load_balancing="random",
            ),
            backend("search", "search.internal:7700", load_balancing="consistent_hash"),
        ],
        routes=[
            route(
                "item-by-id",
                r"/v2/items/[0-9]+",
                backend="pods",
                match_type="RegularExpression",
                methods=("GET",),
            ),
            route(
                "beta-search",
                "/v2/search",
                backend="search",
                headers=(
                    ("x-beta", "true", "Exact"),
                    ("user-agent", ".*Mobile.*", "RegularExpression"),
                ),
            ),
        ],
    )
    return revision_spec(
        services=[catalog],
        listeners=demo_listeners(),
        gateway_class=gateway_class,
        product="catalog-api",
    )


def many_listeners_spec(gateway_class: str) -> dict:
    """HTTP, HTTPS, a GRPC listener, TLS passthrough and TCP; gRPC and HTTP services; several
    hostnames; a certificate in another namespace."""
    orders = service(
        "order-service",
        backends=[backend("grpc-pods", "10.3.0.7:50051", "10.3.0.8:50051", retry_attempts=1)],
        routes=[
            route(
                "create-order",
                "orders.v1.OrderService/CreateOrder",
                backend="grpc-pods",
                match_type="Exact",
            ),
            route(
                "order-service",
                "orders.v1.OrderService",
                backend="grpc-pods",
                match_type="Exact",
                headers=(("x-tenant", "imprun", "Exact"),),
            ),
        ],
        protocol="GRPC",
        policies=[policy("grpc-limit", "rate_limit", requests=50, unit="Second")],
    )
    status = service(
        "status-service",
        backends=[backend("status", "status.internal:8080")],
        routes=[route("status", "/status", backend="status", match_type="Exact")],
    )
    return revision_spec(
        services=[orders, status],
        listeners=[
            listener("http", 80, "HTTP"),
            listener(
                "https",
                443,
                "HTTPS",
                tls_mode="Terminate",
                certificate="orders-tls",
                certificate_namespace="cert-manager",
            ),
            listener("grpc", 8443, "GRPC", tls_mode="Terminate", certificate="orders-tls"),
            listener(
                "mtls-passthrough",
                9443,
                "TLS",
                hostname="mtls.orders.imprun.dev",
                tls_mode="Passthrough",
            ),
            listener("raw-tcp", 9000, "TCP"),
        ],
        gateway_class=gateway_class,
        product="orders",
        hostnames=["orders.prod.kr-seoul.api.imprun.dev", "orders.imprun.dev"],
    )


def dev_environment_spec(gateway_class: str) -> dict:
    """The demo publish in dev: its prod-only policies are not in the snapshot, a dev-only
    rate limit is, and there is no authentication."""
    spec = demo_spec(gateway_class, auth_mode="none")
    spec["publish"]["environment"] = "dev"
    spec["publish"]["name"] = "payment-api-dev"
    spec["publish"]["hostnames"] = ["payment-api.dev.kr-seoul.api.imprun.dev"]
    payment = next(s for s in spec["services"] if s["name"] == "payment-service")
    payment["policies"] = [policy("dev-limit", "rate_limit", requests=10, unit="Second")]
    refund = next(s for s in spec["services"] if s["name"] == "refund-service")
    refund["policies"] = []
    return spec


def long_names_spec(gateway_class: str) -> dict:
    """Names at the 50-character model limits, so joined object names need truncating."""
    long_service = "settlement-reconciliation-batch-service-" + "x" * 10
    long_backend = "primary-settlement-reconciliation-backend-" + "y" * 8
    long_route = "reconcile-settlements-for-merchant-accounts-" + "z" * 6
    return revision_spec(
        services=[
            service(
                long_service,
                backends=[
                    backend(
                        long_backend,
                        "10.9.0.1:8080",
                        "ledger.internal:8080",
                        "ledger-2.internal:8080",
                    )
                ],
                routes=[route(long_route, "/v1/reconcile", backend=long_backend)],
            )
        ],
        listeners=demo_listeners(),
        gateway_class=gateway_class,
        product="settlement-reconciliation-platform",
        environment="staging",
    )


# --- Reduction to what a class can express ----------------------------------------------------


def expressible(spec: dict, gateway_class: str) -> dict:
    """A copy of `spec` for `gateway_class`, without what the class cannot express."""
    spec = copy.deepcopy(spec)
    spec["gateway"]["gateway_class"] = gateway_class
    matrix = CAPABILITY_MATRIX[gateway_class]

    def can(feature: Feature) -> bool:
        return matrix[feature].supported

    if (
        not can(Feature.API_KEY_AUTH)
        and spec["publish"]["auth_mode"] == "apikey"
        or (not can(Feature.JWT_AUTH) and spec["publish"]["auth_mode"] == "oauth2")
    ):
        spec["publish"]["auth_mode"] = "none"
        spec["consumers"] = []
        spec["oauth2"] = None
    if gateway_class == "apisix" and spec["oauth2"]:
        # openid-connect checks one audience.
        spec["oauth2"]["audiences"] = spec["oauth2"]["audiences"][:1]
    for service_spec in spec["services"]:
        routes = []
        for route_spec in service_spec["routes"]:
            if route_spec["match_type"] == "RegularExpression" and not can(Feature.PATH_REGEX):
                continue
            if (
                service_spec["protocol"] == "GRPC"
                and "/" not in route_spec["path"]
                and not can(Feature.GRPC_SERVICE_MATCH)
            ):
                continue
            if not can(Feature.HEADER_REGEX_MATCH) or (
                # KIC compares GRPCRoute header values literally.
                gateway_class == "kong" and service_spec["protocol"] == "GRPC"
            ):
                route_spec["header_matches"] = [
                    h for h in route_spec["header_matches"] if h["type"] == "Exact"
                ]
            if not can(Feature.ROUTE_TIMEOUT):
                route_spec["timeout_seconds"] = None
            routes.append(route_spec)
        service_spec["routes"] = routes
        for backend_spec in service_spec["backends"]:
            if not can(Feature.BACKEND_TIMEOUT):
                backend_spec["timeout_seconds"] = None
            if not can(Feature.RETRIES):
                backend_spec["retry_attempts"] = 0
            if not can(Feature.HEALTH_CHECKS):
                backend_spec["health_check"] = None
            lb = backend_spec["load_balancing"]
            if (lb == "random" and not can(Feature.LOAD_BALANCING_RANDOM)) or (
                lb in ("least_request", "consistent_hash") and not can(Feature.LOAD_BALANCING)
            ):
                backend_spec["load_balancing"] = "round_robin"
        kinds = {
            "rate_limit": Feature.RATE_LIMIT,
            "cors": Feature.CORS,
            "request_headers": Feature.REQUEST_HEADERS,
            "ip_allowlist": Feature.IP_ALLOWLIST,
        }
        policies = []
        for policy_spec in service_spec["policies"]:
            if not can(kinds[policy_spec["kind"]]):
                continue
            if (
                policy_spec["kind"] == "rate_limit"
                and policy_spec["config"]["unit"] in ("Hour", "Day")
                and not can(Feature.RATE_LIMIT_HOUR_DAY)
            ):
                policy_spec["config"]["unit"] = "Minute"
            policies.append(policy_spec)
        service_spec["policies"] = policies
        for backend_spec in service_spec["backends"]:
            _within_class_limits(gateway_class, service_spec, backend_spec)
    if gateway_class == "nginx":
        _one_policy_per_nginx_path(spec)
    spec["services"] = [s for s in spec["services"] if s["routes"]]
    return spec


def _within_class_limits(gateway_class: str, service_spec: dict, backend_spec: dict) -> None:
    """What a class's own spec_errors refuse beyond the matrix, changed into what it takes."""
    endpoints = backend_spec["endpoints"]
    if gateway_class == "envoy-gateway":
        # Backends need names of two labels and no loopback addresses.
        for endpoint in endpoints:
            host = endpoint["host"]
            if "." not in host and ":" not in host:
                endpoint["host"] = f"{host}.internal"
    if gateway_class == "nginx":
        if service_spec["protocol"] == "GRPC":
            backend_spec["timeout_seconds"] = None
        if endpoints and endpoints[0]["scheme"] == "https":
            # One host name per https backend (one BackendTLSPolicy per route rule).
            first = endpoints[0]["host"]
            backend_spec["endpoints"] = [e for e in endpoints if e["host"] == first]


def _one_policy_per_nginx_path(spec: dict) -> None:
    """Keep only the first route of a path whose routes NGINX Gateway Fabric could not cover
    with one rate limit and one backend timeout."""
    driver = NginxDriver()
    for group in driver.path_groups(spec):
        if len(group) > 1 and driver.path_group_errors(group):
            for service_spec, route_spec in group[1:]:
                service_spec["routes"] = [r for r in service_spec["routes"] if r is not route_spec]


# --- Hypothesis: valid specs ------------------------------------------------------------------

_LABEL = st.from_regex(r"\A[a-z][a-z0-9]{0,7}(-[a-z0-9]{1,5}){0,2}\Z")
_SEGMENT = st.from_regex(r"\A[a-z0-9][a-z0-9._~-]{0,7}\Z").filter(
    lambda s: s not in (".", "..") and not s.endswith(".")
)
_HEADER_NAME = st.from_regex(r"\Ax-[a-z0-9]{1,8}(-[a-z0-9]{1,6})?\Z")
_HEADER_VALUE = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9 ._:/=-]{0,15}\Z").map(str.rstrip)
_REGEXES = st.sampled_from(
    [r".*Mobile.*", r"^v[0-9]+$", r"[a-f0-9]{8}", r"(alpha|beta)-[0-9]+", r"\d{2,4}"]
)
_PATH_REGEXES = st.sampled_from(
    [r"/v[0-9]+/items/[0-9]+", r"/files/.*\.pdf", r"/users/[a-z0-9-]+/orders", r"/(a|b)/c"]
)
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_GRPC_IDENT = st.from_regex(r"\A[a-z][a-z0-9_]{0,6}\Z")
_GRPC_METHOD = st.from_regex(r"\A[A-Z][A-Za-z0-9_]{0,9}\Z")


@st.composite
def _path(draw: st.DrawFn) -> str:
    segments = draw(st.lists(_SEGMENT, min_size=0, max_size=3))
    return "/" + "/".join(segments)


@st.composite
def _ip(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return str(ipaddress.IPv4Address(draw(st.integers(0x0A000001, 0x0AFFFFFE))))
    return str(
        ipaddress.IPv6Address(draw(st.integers(0x20010DB8 << 96, (0x20010DB8 << 96) + 2**32)))
    )


@st.composite
def _backend(draw: st.DrawFn, name: str, grpc: bool) -> dict:
    scheme = draw(st.sampled_from(["http", "https"]))
    base = "" if grpc or not draw(st.booleans()) else "/" + draw(_SEGMENT)
    endpoints = []
    for _index in range(draw(st.integers(1, 3))):
        if scheme == "https" or draw(st.booleans()):
            host = ".".join(draw(st.lists(_LABEL, min_size=1, max_size=3)))
        else:
            host = draw(_ip())
        endpoints.append(
            {"scheme": scheme, "host": host, "port": draw(st.integers(1, 65535)), "path": base}
        )
    health = None
    if draw(st.booleans()):
        health = {"path": draw(_path()), "interval_seconds": draw(st.integers(1, 300))}
    return {
        "name": name,
        "endpoints": endpoints,
        "load_balancing": draw(
            st.sampled_from(["round_robin", "least_request", "random", "consistent_hash"])
        ),
        "timeout_seconds": draw(st.none() | st.integers(1, 3600)),
        "retry_attempts": draw(st.integers(0, 10)),
        "health_check": health,
    }


@st.composite
def _headers(draw: st.DrawFn) -> list[dict]:
    names = draw(st.lists(_HEADER_NAME, max_size=2, unique=True))
    headers = []
    for name in names:
        if draw(st.booleans()):
            headers.append({"name": name, "value": draw(_REGEXES), "type": "RegularExpression"})
        else:
            headers.append({"name": name, "value": draw(_HEADER_VALUE), "type": "Exact"})
    return sorted(headers, key=lambda m: (m["name"].lower(), m["value"]))


@st.composite
def _http_route(draw: st.DrawFn, name: str, backends: list[dict]) -> dict:
    match_type = draw(st.sampled_from(["Exact", "PathPrefix", "RegularExpression"]))
    plain = [b["name"] for b in backends if not b["endpoints"][0]["path"]]
    if match_type == "RegularExpression" and not plain:
        match_type = "PathPrefix"
    choices = plain if match_type == "RegularExpression" else [b["name"] for b in backends]
    path = draw(_PATH_REGEXES) if match_type == "RegularExpression" else draw(_path())
    rewrite = None
    if match_type == "PathPrefix" and draw(st.booleans()):
        rewrite = draw(_path())
    return {
        "name": name,
        "path": path,
        "match_type": match_type,
        "methods": sorted(draw(st.lists(st.sampled_from(_METHODS), max_size=3, unique=True))),
        "header_matches": draw(_headers()),
        "backend": draw(st.sampled_from(choices)),
        "rewrite_path_prefix": rewrite,
        "timeout_seconds": draw(st.none() | st.integers(1, 3600)),
    }


@st.composite
def _grpc_route(draw: st.DrawFn, name: str, backends: list[dict]) -> dict:
    package = ".".join(draw(st.lists(_GRPC_IDENT, min_size=1, max_size=2)))
    path = f"{package}.{draw(_GRPC_METHOD)}Service"
    if draw(st.booleans()):
        path += "/" + draw(_GRPC_METHOD)
    return {
        "name": name,
        "path": path,
        "match_type": "Exact",
        "methods": [],
        "header_matches": draw(_headers()),
        "backend": draw(st.sampled_from([b["name"] for b in backends])),
        "rewrite_path_prefix": None,
        "timeout_seconds": None,
    }


@st.composite
def _policies(draw: st.DrawFn, grpc: bool) -> list[dict]:
    kinds = draw(
        st.lists(
            st.sampled_from(
                ["rate_limit", "request_headers", "ip_allowlist"] + ([] if grpc else ["cors"])
            ),
            unique=True,
            max_size=4,
        )
    )
    policies = []
    for index, kind in enumerate(kinds):
        if kind == "rate_limit":
            config: dict[str, Any] = {
                "requests": draw(st.integers(1, 100000)),
                "unit": draw(st.sampled_from(["Second", "Minute", "Hour", "Day"])),
            }
        elif kind == "cors":
            credentials = draw(st.booleans())
            origins = draw(
                st.lists(
                    _LABEL.map(lambda label: f"https://{label}.example.com"),
                    min_size=1,
                    max_size=2,
                    unique=True,
                )
            )
            if not credentials and draw(st.booleans()):
                origins = ["*"]
            config = {
                "allow_origins": origins,
                "allow_methods": draw(st.lists(st.sampled_from(_METHODS), max_size=3, unique=True)),
                "allow_headers": draw(st.lists(_HEADER_NAME, max_size=2, unique=True)),
                "expose_headers": draw(st.lists(_HEADER_NAME, max_size=2, unique=True)),
                "max_age_seconds": draw(st.integers(0, 86400)),
                "allow_credentials": credentials,
            }
        elif kind == "request_headers":
            set_names = draw(st.lists(_HEADER_NAME, max_size=2, unique=True))
            config = {
                "set": {name: draw(_HEADER_VALUE) for name in set_names},
                "remove": draw(
                    st.lists(_HEADER_NAME, min_size=0 if set_names else 1, max_size=2, unique=True)
                ),
            }
        else:
            config = {
                "cidrs": draw(
                    st.lists(
                        st.sampled_from(
                            ["10.0.0.0/8", "192.168.1.0/24", "203.0.113.7/32", "2001:db8::/32"]
                        ),
                        min_size=1,
                        max_size=3,
                        unique=True,
                    )
                )
            }
        policies.append(
            {"name": f"policy-{index}", "kind": kind, "config": clean_policy_config(kind, config)}
        )
    return policies


@st.composite
def _service(draw: st.DrawFn, name: str, grpc: bool) -> dict:
    backends = [
        draw(_backend(f"backend-{index}", grpc)) for index in range(draw(st.integers(1, 2)))
    ]
    make_route = _grpc_route if grpc else _http_route
    routes = [
        draw(make_route(f"route-{index}", backends)) for index in range(draw(st.integers(1, 3)))
    ]
    return {
        "name": name,
        "version": "v1",
        "protocol": "GRPC" if grpc else "HTTP",
        "backends": backends,
        "routes": routes,
        "policies": draw(_policies(grpc)),
    }


@st.composite
def revision_specs(draw: st.DrawFn, gateway_class: str) -> dict:
    """Valid specs, reduced to what `gateway_class` can express."""
    product = draw(_LABEL)
    environment = draw(st.sampled_from(["dev", "staging", "prod"]))
    services = []
    for index in range(draw(st.integers(1, 3))):
        services.append(draw(_service(f"svc-{index}", grpc=draw(st.booleans()))))
    listeners = [listener("http", 80, "HTTP")]
    if draw(st.booleans()) or any(s["protocol"] == "GRPC" for s in services):
        listeners.append(
            listener(
                "https",
                443,
                "HTTPS",
                tls_mode="Terminate",
                certificate="wildcard-tls",
                certificate_namespace=draw(st.sampled_from([None, "cert-manager"])),
            )
        )
    if draw(st.booleans()):
        listeners.append(
            listener("grpc", 8443, "GRPC", tls_mode="Terminate", certificate="wildcard-tls")
        )
    if draw(st.booleans()):
        listeners.append(listener("passthrough", 9443, "TLS", tls_mode="Passthrough"))
    auth_mode = draw(st.sampled_from(["none", "apikey", "oauth2"]))
    consumers = []
    if auth_mode == "apikey":
        names = draw(st.lists(_LABEL, max_size=3, unique=True))
        consumers = [
            {
                "name": name,
                "api_keys": sorted(
                    draw(
                        st.lists(
                            st.from_regex(r"\Aak_[A-Za-z0-9]{8,24}\Z"), max_size=2, unique=True
                        )
                    )
                ),
            }
            for name in names
        ]
    oauth2 = None
    if auth_mode == "oauth2":
        oauth2 = {
            "issuer": f"https://{draw(_LABEL)}.example.com/realms/{draw(_LABEL)}",
            "jwks_uri": f"https://{draw(_LABEL)}.example.com/certs",
            "audiences": sorted(draw(st.lists(_LABEL, max_size=3, unique=True))),
        }
    hostnames = [f"{product}.{environment}.kr-seoul.api.imprun.dev"]
    if draw(st.booleans()):
        hostnames.append(f"{product}.imprun.dev")
    spec = revision_spec(
        services=services,
        listeners=listeners,
        gateway_class=gateway_class,
        auth_mode=auth_mode,
        consumers=consumers,
        oauth2=oauth2,
        hostnames=hostnames,
        environment=environment,
        product=product,
        publish_id=draw(st.integers(1, 10**6)),
        namespace=draw(_LABEL),
    )
    return expressible(spec, gateway_class)
