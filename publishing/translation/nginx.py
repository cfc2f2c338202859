"""NGINX Gateway Fabric (2.6, NGINX OSS): the standard HTTPRoute CORS filter, RateLimitPolicy,
ProxySettingsPolicy for backend timeouts and BackendTLSPolicy for https backends.

Each IP endpoint of a backend is a Service of its own, so that each NGINX upstream has a
single server: NGINX passes an idempotent request on to the next server of an upstream after an
error or a timeout (proxy_next_upstream, which no NGINX Gateway Fabric API sets), a retry that
`retry_attempts` 0 forbids. The route spreads requests over the endpoints' Services at random
(split_clients on the request id), in proportion to their weights.
"""

from __future__ import annotations

import re
from typing import Any

from .gateway_api import (
    MAX_BACKEND_REFS,
    MAX_PATH_LENGTH,
    GatewayAPIDriver,
    RenderContext,
    backend_tls_policies,
    find_backend,
    full_match_pattern,
    hostname_targets,
    manifest,
    route_target_ref,
    service_backend_refs,
    service_objects,
    single_policy,
    standard_cors_filter,
)
from .spec import BackendSpec, RevisionSpec, RouteSpec, ServiceSpec

NGINX_VERSION = "gateway.nginx.org/v1alpha1"

_RATE_UNITS = {"Second": "s", "Minute": "m"}

# What NGINX Gateway Fabric accepts in a regex location (validatePathInRegexMatch): a path that
# starts with '/' and has no whitespace, '{', '}' or ';' (they would end the location).
_LOCATION_FORBIDDEN = re.compile(r"[\s{};]")


def nginx_duration(seconds: int) -> str | None:
    """An NGF duration: one unit, at most four digits; None when `seconds` has no such form."""
    for unit, size in (("s", 1), ("m", 60), ("h", 3600)):
        if seconds % size == 0 and seconds // size <= 9999:
            return f"{seconds // size}{unit}"
    return None


def location_pattern(pattern: str) -> str:
    """The HTTPRoute value of a RegularExpression path for NGINX Gateway Fabric, which writes
    `location ~ ^<value>` and requires the value to start with '/'. The optional slash followed
    by '^' (start of the path, where only an empty match of the slash can be) keeps the
    whole-path meaning of full_match_pattern: `^/?^(?:pattern)$` matches what `pattern` alone
    matches against the whole path."""
    return "/?" + full_match_pattern(pattern)


class NginxDriver(GatewayAPIDriver):
    name = "nginx"

    def spec_errors(self, spec: RevisionSpec) -> list[str]:
        errors: list[str] = []
        for service in spec["services"]:
            for backend in service["backends"]:
                errors += self._backend_errors(service, backend)
            for route in service["routes"]:
                if service["protocol"] == "HTTP" and route["match_type"] == "RegularExpression":
                    errors += self._regex_errors(service, route)
        return errors

    def _backend_errors(self, service: ServiceSpec, backend: BackendSpec) -> list[str]:
        where = f"backend '{backend['name']}' of service '{service['name']}'"
        errors = []
        seconds = backend["timeout_seconds"]
        if seconds and service["protocol"] == "GRPC":
            errors.append(
                f"gateway class 'nginx' cannot express feature 'backend_timeout' (used by "
                f"{where}, a gRPC service): ProxySettingsPolicy sets proxy_*_timeout, which "
                "NGINX does not apply to gRPC locations (they use grpc_pass and grpc_*_timeout, "
                "which no NGINX Gateway Fabric API sets)"
            )
        elif seconds and nginx_duration(seconds) is None:
            errors.append(
                f"{where}: timeout {seconds}s does not fit NGINX Gateway Fabric, which takes "
                "at most 9999 seconds, or whole minutes or hours"
            )
        hosts = {host for host, _port in hostname_targets(backend)}
        if backend["endpoints"] and backend["endpoints"][0]["scheme"] == "https" and len(hosts) > 1:
            errors.append(
                f"{where}: gateway class 'nginx' verifies an https backend against one host "
                f"name, and this one has {len(hosts)} ({', '.join(sorted(hosts))}): NGINX "
                "Gateway Fabric needs the same BackendTLSPolicy for every backend of a route "
                "rule; split it into one backend per host name"
            )
        addresses = {(e["host"], e["port"]) for e in backend["endpoints"]}
        if len(addresses) > MAX_BACKEND_REFS:
            errors.append(
                f"{where}: gateway class 'nginx' routes to each endpoint through a Service of "
                f"its own, and a route rule takes at most {MAX_BACKEND_REFS} of them"
            )
        return errors

    def _regex_errors(self, service: ServiceSpec, route: RouteSpec) -> list[str]:
        where = f"route '{route['name']}' of service '{service['name']}'"
        if _LOCATION_FORBIDDEN.search(route["path"]):
            return [
                f"{where}: gateway class 'nginx' cannot match the regular expression "
                f"'{route['path']}': NGINX Gateway Fabric writes it into an nginx location, "
                "which takes no whitespace, '{', '}' or ';' (write repetitions such as {2,4} "
                "out)"
            ]
        if len(location_pattern(route["path"])) > MAX_PATH_LENGTH:
            return [
                f"{where}: the regular expression, anchored for gateway class 'nginx', is "
                f"longer than {MAX_PATH_LENGTH} characters"
            ]
        return []

    # Backends -----------------------------------------------------------------------------------

    def backend_objects(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        return service_objects(ctx, service, backend, one_per_endpoint=True) + (
            backend_tls_policies(ctx, service, backend, one_per_endpoint=True)
        )

    def backend_refs(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        return service_backend_refs(ctx, service, backend, one_per_endpoint=True)

    # Routes -------------------------------------------------------------------------------------

    def match_path(self, route: RouteSpec) -> str:
        if route["match_type"] == "RegularExpression":
            return location_pattern(route["path"])
        return route["path"]

    def http_route_filters(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        return standard_cors_filter(service) + super().http_route_filters(
            ctx, service, route, backend
        )

    # Policies -----------------------------------------------------------------------------------

    def service_objects(self, ctx: RenderContext, service: ServiceSpec) -> list[dict[str, Any]]:
        objects = []
        rate_limit = single_policy(service, "rate_limit")
        for route in service["routes"]:
            target = route_target_ref(ctx, service, route)
            if rate_limit:
                config = rate_limit["config"]
                rule = {
                    # One constant key: every client of the route shares the limit.
                    "key": "route",
                    # No burst: NGINX then admits requests evenly spaced at the rate, so no
                    # period ever sees more than the limit. A burst of the limit would let
                    # about twice the limit through in the first period (the burst, then the
                    # rate).
                    "rate": f"{config['requests']}r/{_RATE_UNITS[config['unit']]}",
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
            duration = nginx_duration(backend["timeout_seconds"] or 0)
            if backend["timeout_seconds"] and duration and service["protocol"] == "HTTP":
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
