"""Envoy Gateway (v1.9): Backend for endpoints, SecurityPolicy for CORS, IP allow-lists and
authentication, BackendTrafficPolicy for rate limits, retries, health checks and load
balancing, and the standard HTTPRoute timeouts."""

from __future__ import annotations

import ipaddress
from typing import Any

from .gateway_api import (
    API_KEY_HEADER,
    GatewayAPIDriver,
    RenderContext,
    TranslationError,
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
from .spec import BackendSpec, EndpointSpec, RouteSpec, ServiceSpec

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
        timeouts: dict[str, str] = {}
        if route["timeout_seconds"]:
            timeouts["request"] = gateway_duration(route["timeout_seconds"])
        if backend["timeout_seconds"]:
            seconds = backend["timeout_seconds"]
            if route["timeout_seconds"]:
                # The whole request cannot outlast the route timeout anyway, and the schema
                # refuses a longer backendRequest.
                seconds = min(seconds, route["timeout_seconds"])
            timeouts["backendRequest"] = gateway_duration(seconds)
        return timeouts or None

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
            if len(oauth2["audiences"]) > MAX_JWT_AUDIENCES:
                raise TranslationError(
                    [
                        f"oauth2: gateway class 'envoy-gateway' checks at most "
                        f"{MAX_JWT_AUDIENCES} audiences, the publish has "
                        f"{len(oauth2['audiences'])}"
                    ]
                )
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
            spec["rateLimit"] = {
                "type": "Local",
                "local": {
                    "rules": [{"limit": {"requests": config["requests"], "unit": config["unit"]}}]
                },
            }
        if backend["retry_attempts"]:
            spec["retry"] = {
                "numRetries": backend["retry_attempts"],
                "retryOn": {"triggers": RETRY_TRIGGERS},
            }
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
