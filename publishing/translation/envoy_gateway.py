"""Envoy Gateway (v1.9): Backend for endpoints, SecurityPolicy for CORS, IP allow-lists and
authentication, BackendTrafficPolicy for rate limits, retries, health checks, load balancing
and the timeouts a GRPCRoute has no field for, and the standard HTTPRoute timeouts."""

from __future__ import annotations

import ipaddress
from typing import Any

from .gateway_api import (
    API_KEY_HEADER,
    GatewayAPIDriver,
    RenderContext,
    backend_scheme,
    find_backend,
    gateway_duration,
    is_ip_address,
    manifest,
    route_target_ref,
    secret_data,
    service_route_refs,
    single_policy,
)
from .spec import BackendSpec, EndpointSpec, RevisionSpec, RouteSpec, ServiceSpec

ENVOY_GATEWAY_GROUP = "gateway.envoyproxy.io"
ENVOY_GATEWAY_VERSION = f"{ENVOY_GATEWAY_GROUP}/v1alpha1"

# SecurityPolicy jwt.providers[].audiences holds at most this many.
MAX_JWT_AUDIENCES = 8

# Retried only when the request cannot have reached the backend, so that retries are safe for
# every method (as Traefik and Kong retry).
RETRY_TRIGGERS = ["connect-failure", "refused-stream", "reset-before-request"]

_LOAD_BALANCERS: dict[str, dict[str, Any]] = {
    "least_request": {"type": "LeastRequest"},
    "random": {"type": "Random"},
    "consistent_hash": {"type": "ConsistentHash", "consistentHash": {"type": "SourceIP"}},
}


def _is_loopback(host: str) -> bool:
    address = ipaddress.ip_address(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        # Envoy Gateway unmaps IPv4-mapped addresses before its loopback check.
        address = address.ipv4_mapped
    return address.is_loopback


def _endpoint_errors(service: ServiceSpec, backend: BackendSpec) -> list[str]:
    """Endpoints a Backend refuses (Envoy Gateway's validateBackend outside host mode), which
    would leave every route of the backend without an upstream."""
    where = f"backend '{backend['name']}' of service '{service['name']}'"
    errors = []
    for endpoint in backend["endpoints"]:
        host = endpoint["host"]
        if is_ip_address(host):
            if _is_loopback(host):
                errors.append(
                    f"{where}: endpoint '{host}' is a loopback address; gateway class "
                    "'envoy-gateway' refuses loopback Backend endpoints (they would reach the "
                    "Envoy pod itself)"
                )
        elif "." not in host:
            errors.append(
                f"{where}: endpoint host '{host}' is a single DNS label; gateway class "
                "'envoy-gateway' needs a name of at least two labels in a Backend (use the "
                "Service's full name, e.g. 'name.namespace.svc.cluster.local')"
            )
    return errors


def request_timeouts(route: RouteSpec, backend: BackendSpec) -> tuple[int | None, int | None]:
    """(whole request, each attempt) in seconds, None for no limit of ours (0 disables Envoy's
    own 15-second default).

    A route timeout bounds the whole request, retries included; a backend timeout bounds each
    attempt. Without retries there is one attempt, so the request ends at the smaller of the
    two. With retries each attempt gets the backend timeout (Envoy's per-try timeout), and
    without a route timeout the whole request is bounded by its attempts alone."""
    route_seconds = route["timeout_seconds"]
    backend_seconds = backend["timeout_seconds"]
    if backend_seconds and backend["retry_attempts"]:
        return (route_seconds or 0, backend_seconds)
    limits = [seconds for seconds in (route_seconds, backend_seconds) if seconds]
    return (min(limits) if limits else None, None)


def _is_ip(endpoint: EndpointSpec) -> bool:
    return is_ip_address(endpoint["host"])


def _backend_groups(backend: BackendSpec) -> list[list[EndpointSpec]]:
    """A Backend holds either DNS names or IP addresses, never both: one group of each."""
    fqdn = [endpoint for endpoint in backend["endpoints"] if not _is_ip(endpoint)]
    ips = [endpoint for endpoint in backend["endpoints"] if _is_ip(endpoint)]
    return [group for group in (fqdn, ips) if group]


def _endpoint(endpoint: EndpointSpec) -> dict[str, Any]:
    if _is_ip(endpoint):
        address = ipaddress.ip_address(endpoint["host"])
        # The Backend schema's IPv6 pattern accepts the full form, not every compressed one.
        text = address.exploded if address.version == 6 else str(address)
        return {"ip": {"address": text, "port": endpoint["port"]}}
    return {"fqdn": {"hostname": endpoint["host"], "port": endpoint["port"]}}


class EnvoyGatewayDriver(GatewayAPIDriver):
    name = "envoy-gateway"

    def class_errors(self, spec: RevisionSpec) -> list[str]:
        errors = []
        for service in spec["services"]:
            for backend in service["backends"]:
                errors += _endpoint_errors(service, backend)
        oauth2 = spec["oauth2"]
        if spec["publish"]["auth_mode"] == "oauth2" and oauth2:
            if len(oauth2["audiences"]) > MAX_JWT_AUDIENCES:
                errors.append(
                    f"oauth2: gateway class 'envoy-gateway' checks at most {MAX_JWT_AUDIENCES} "
                    f"audiences, the publish has {len(oauth2['audiences'])}"
                )
        return errors

    # Backends -----------------------------------------------------------------------------------

    def _backend_names(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> list[tuple[str, list[EndpointSpec]]]:
        groups = _backend_groups(backend)
        return [
            (
                ctx.names.name(
                    "Backend",
                    service["name"],
                    backend["name"],
                    *([str(index + 1)] if index else []),
                ),
                group,
            )
            for index, group in enumerate(groups)
        ]

    def backend_objects(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        objects = []
        for name, endpoints in self._backend_names(ctx, service, backend):
            spec: dict[str, Any] = {"endpoints": [_endpoint(e) for e in endpoints]}
            if backend_scheme(backend) == "https":
                spec["tls"] = {
                    "wellKnownCACertificates": "System",
                    "autoSNIFromEndpointHostname": True,
                }
            objects.append(manifest(ctx, ENVOY_GATEWAY_VERSION, "Backend", name, {"spec": spec}))
        return objects

    def backend_refs(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        backends = self._backend_names(ctx, service, backend)
        # Weights keep traffic even per endpoint across a backend's two Backend objects.
        return [
            {
                "group": ENVOY_GATEWAY_GROUP,
                "kind": "Backend",
                "name": name,
                "weight": len(endpoints) if len(backends) > 1 else 1,
            }
            for name, endpoints in backends
        ]

    # Routes -------------------------------------------------------------------------------------

    def route_timeouts(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, backend: BackendSpec
    ) -> dict[str, str] | None:
        whole, per_attempt = request_timeouts(route, backend)
        if whole is None:
            return None
        if per_attempt is None and backend["timeout_seconds"]:
            # Without retries Envoy Gateway makes backendRequest the route timeout
            # (processRouteTimeout); it is the smaller one, so both read as the spec says.
            timeouts = {"backendRequest": gateway_duration(whole)}
            if route["timeout_seconds"]:
                timeouts = {"request": gateway_duration(route["timeout_seconds"]), **timeouts}
            return timeouts
        # With retries a backendRequest would become the limit of all attempts together
        # (Envoy Gateway applies it as the route timeout when the rule has no retry of its
        # own): the BackendTrafficPolicy carries the per-attempt timeout instead.
        return {"request": gateway_duration(whole)}

    # Policies -----------------------------------------------------------------------------------

    def service_objects(self, ctx: RenderContext, service: ServiceSpec) -> list[dict[str, Any]]:
        objects = []
        security = self._security_policy(ctx, service)
        if security:
            objects.append(security)
        for route in service["routes"]:
            traffic = self._backend_traffic_policy(ctx, service, route)
            if traffic:
                objects.append(traffic)
        return objects

    def _security_policy(self, ctx: RenderContext, service: ServiceSpec) -> dict[str, Any] | None:
        spec: dict[str, Any] = {}
        cors = single_policy(service, "cors")
        if cors:
            config = cors["config"]
            cors_spec: dict[str, Any] = {
                "allowOrigins": config["allow_origins"],
                "allowMethods": config["allow_methods"],
            }
            if config["allow_headers"]:
                cors_spec["allowHeaders"] = config["allow_headers"]
            if config["expose_headers"]:
                cors_spec["exposeHeaders"] = config["expose_headers"]
            cors_spec["maxAge"] = gateway_duration(config["max_age_seconds"])
            cors_spec["allowCredentials"] = config["allow_credentials"]
            spec["cors"] = cors_spec
        publish = ctx.spec["publish"]
        if publish["auth_mode"] == "apikey":
            spec["apiKeyAuth"] = {
                "credentialRefs": [
                    {"group": "", "kind": "Secret", "name": self._consumer_secret_name(ctx, c)}
                    for c in ctx.spec["consumers"]
                    if c["api_keys"]
                ],
                "extractFrom": [{"headers": [API_KEY_HEADER]}],
                # The key is the consumer's secret: the backend has no use for it.
                "sanitize": True,
            }
        elif publish["auth_mode"] == "oauth2":
            oauth2 = ctx.spec["oauth2"]
            provider: dict[str, Any] = {"name": "oauth2", "issuer": oauth2["issuer"]}
            if oauth2["audiences"]:
                provider["audiences"] = oauth2["audiences"]
            provider["remoteJWKS"] = {"uri": oauth2["jwks_uri"]}
            spec["jwt"] = {"providers": [provider]}
        allowlist = single_policy(service, "ip_allowlist")
        if allowlist:
            spec["authorization"] = {
                "defaultAction": "Deny",
                "rules": [
                    {
                        "name": allowlist["name"],
                        "action": "Allow",
                        "principal": {"clientCIDRs": allowlist["config"]["cidrs"]},
                    }
                ],
            }
        if not spec:
            return None
        return manifest(
            ctx,
            ENVOY_GATEWAY_VERSION,
            "SecurityPolicy",
            ctx.names.name("SecurityPolicy", service["name"]),
            {"spec": {"targetRefs": service_route_refs(ctx, service), **spec}},
        )

    def _backend_traffic_policy(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec
    ) -> dict[str, Any] | None:
        # One policy per route: Envoy Gateway applies a single BackendTrafficPolicy per target,
        # so the service's rate limit and the route's backend settings travel together.
        backend = find_backend(service, route["backend"])
        spec: dict[str, Any] = {}
        rate_limit = single_policy(service, "rate_limit")
        if rate_limit:
            config = rate_limit["config"]
            # Global and shared: one counter for every xDS route of the policy, so for every
            # listener, hostname and rule (method) of the route, across Envoy replicas. A local
            # limit keeps a token bucket per xDS route (per listener, hostname and rule), so
            # clients would see a multiple of the limit.
            spec["rateLimit"] = {
                "global": {
                    "rules": [
                        {
                            "limit": {"requests": config["requests"], "unit": config["unit"]},
                            "shared": True,
                        }
                    ]
                }
            }
        whole, per_attempt = request_timeouts(route, backend)
        if service["protocol"] == "GRPC" and whole is not None:
            # A GRPCRoute has no timeouts field; the policy's request timeout becomes the
            # route timeout of the GRPCRoute's xDS routes.
            spec["timeout"] = {"http": {"requestTimeout": gateway_duration(whole)}}
        if backend["retry_attempts"]:
            retry: dict[str, Any] = {
                "numRetries": backend["retry_attempts"],
                "retryOn": {"triggers": RETRY_TRIGGERS},
            }
            if per_attempt:
                retry["perRetry"] = {"timeout": gateway_duration(per_attempt)}
            spec["retry"] = retry
        if backend["health_check"]:
            check = backend["health_check"]
            spec["healthCheck"] = {
                "active": {
                    "type": "HTTP",
                    "interval": gateway_duration(check["interval_seconds"]),
                    "http": {"path": check["path"], "expectedStatuses": [200]},
                }
            }
        if backend["load_balancing"] in _LOAD_BALANCERS:
            spec["loadBalancer"] = _LOAD_BALANCERS[backend["load_balancing"]]
        if not spec:
            return None
        return manifest(
            ctx,
            ENVOY_GATEWAY_VERSION,
            "BackendTrafficPolicy",
            ctx.names.name("BackendTrafficPolicy", service["name"], route["name"]),
            {"spec": {"targetRefs": [route_target_ref(ctx, service, route)], **spec}},
        )

    # Consumers ----------------------------------------------------------------------------------

    def _consumer_secret_name(self, ctx: RenderContext, consumer: dict) -> str:
        return ctx.names.name("Secret", "consumer", consumer["name"])

    def publish_objects(self, ctx: RenderContext) -> list[dict[str, Any]]:
        if ctx.spec["publish"]["auth_mode"] != "apikey":
            return []
        secrets = []
        for consumer in ctx.spec["consumers"]:
            if not consumer["api_keys"]:
                continue
            # apiKeyAuth reads every key of the Secret as a client id and its value as the API
            # key; a consumer with several keys (rotation) gets numbered client ids.
            data = {
                consumer["name"] + (f".{index + 1}" if index else ""): key
                for index, key in enumerate(consumer["api_keys"])
            }
            secrets.append(
                manifest(
                    ctx,
                    "v1",
                    "Secret",
                    self._consumer_secret_name(ctx, consumer),
                    {"type": "Opaque", "data": secret_data(data)},
                )
            )
        return secrets
