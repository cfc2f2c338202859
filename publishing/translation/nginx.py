"""NGINX Gateway Fabric (2.6, NGINX OSS): the standard HTTPRoute CORS filter, RateLimitPolicy,
ProxySettingsPolicy for backend timeouts, UpstreamSettingsPolicy for load balancing and
BackendTLSPolicy for https backends."""

from __future__ import annotations

from typing import Any

from .gateway_api import (
    GatewayAPIDriver,
    RenderContext,
    TranslationError,
    backend_tls_policies,
    find_backend,
    manifest,
    route_target_ref,
    service_objects,
    service_targets,
    single_policy,
    standard_cors_filter,
)
from .spec import BackendSpec, RouteSpec, ServiceSpec

NGINX_VERSION = "gateway.nginx.org/v1alpha1"

_METHODS = {"least_request": "least_conn", "random": "random", "consistent_hash": "hash consistent"}
_RATE_UNITS = {"Second": "s", "Minute": "m"}


def nginx_duration(seconds: int, where: str) -> str:
    """An NGF duration: one unit, at most four digits."""
    for unit, size in (("s", 1), ("m", 60), ("h", 3600)):
        if seconds % size == 0 and seconds // size <= 9999:
            return f"{seconds // size}{unit}"
    raise TranslationError(
        [
            f"{where}: timeout {seconds}s does not fit NGINX Gateway Fabric, which takes at most "
            "9999 seconds, or whole minutes or hours"
        ]
    )


class NginxDriver(GatewayAPIDriver):
    name = "nginx"

    def backend_objects(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        objects = service_objects(ctx, service, backend) + backend_tls_policies(
            ctx, service, backend
        )
        method = _METHODS.get(backend["load_balancing"])
        if method:
            spec: dict[str, Any] = {
                "targetRefs": [
                    {"group": "", "kind": "Service", "name": target.name}
                    for target in service_targets(ctx, service, backend)
                ],
                "loadBalancingMethod": method,
            }
            if backend["load_balancing"] == "consistent_hash":
                spec["hashMethodKey"] = "$remote_addr"
            objects.append(
                manifest(
                    ctx,
                    NGINX_VERSION,
                    "UpstreamSettingsPolicy",
                    ctx.names.name("UpstreamSettingsPolicy", service["name"], backend["name"]),
                    {"spec": spec},
                )
            )
        return objects

    def http_route_filters(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        return standard_cors_filter(service) + super().http_route_filters(
            ctx, service, route, backend
        )

    def service_objects(self, ctx: RenderContext, service: ServiceSpec) -> list[dict[str, Any]]:
        objects = []
        rate_limit = single_policy(service, "rate_limit")
        for route in service["routes"]:
            target = route_target_ref(ctx, service, route)
            if rate_limit:
                config = rate_limit["config"]
                rule = {
                    # One constant key: every client of the route shares the limit, as the
                    # other classes count.
                    "key": "route",
                    "rate": f"{config['requests']}r/{_RATE_UNITS[config['unit']]}",
                    "burst": config["requests"],
                    "noDelay": True,
                }
                objects.append(
                    manifest(
                        ctx,
                        NGINX_VERSION,
                        "RateLimitPolicy",
                        ctx.names.name("RateLimitPolicy", service["name"], route["name"]),
                        {
                            "spec": {
                                "targetRefs": [target],
                                "rateLimit": {"local": {"rules": [rule]}, "rejectCode": 429},
                            }
                        },
                    )
                )
            backend = find_backend(service, route["backend"])
            if backend["timeout_seconds"]:
                where = f"backend '{backend['name']}' of service '{service['name']}'"
                duration = nginx_duration(backend["timeout_seconds"], where)
                objects.append(
                    manifest(
                        ctx,
                        NGINX_VERSION,
                        "ProxySettingsPolicy",
                        ctx.names.name("ProxySettingsPolicy", service["name"], route["name"]),
                        {
                            "spec": {
                                "targetRefs": [target],
                                "timeout": {
                                    "connect": duration,
                                    "read": duration,
                                    "send": duration,
                                },
                            }
                        },
                    )
                )
        return objects
