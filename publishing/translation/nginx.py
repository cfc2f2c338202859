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
    full_match_pattern,
    grpc_listeners,
    hostname_targets,
    http_listeners,
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

# A policy's targetRefs hold at most this many routes.
MAX_POLICY_TARGETS = 16

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


def _rate_limit(service: ServiceSpec) -> dict[str, Any] | None:
    policy = single_policy(service, "rate_limit")
    return policy["config"] if policy else None


def _same_rate_limits(group: list[tuple[ServiceSpec, RouteSpec]]) -> bool:
    limits = [_rate_limit(service) for service, _route in group]
    return all(limit == limits[0] for limit in limits)


def _backend_timeout(service: ServiceSpec, route: RouteSpec) -> int | None:
    """The backend timeout a ProxySettingsPolicy carries for a route (HTTP services only)."""
    if service["protocol"] != "HTTP":
        return None
    backend = next((b for b in service["backends"] if b["name"] == route["backend"]), None)
    return backend["timeout_seconds"] if backend else None


class NginxDriver(GatewayAPIDriver):
    name = "nginx"

    def class_errors(self, spec: RevisionSpec) -> list[str]:
        errors: list[str] = []
        for service in spec["services"]:
            for backend in service["backends"]:
                errors += self._backend_errors(service, backend)
            for route in service["routes"]:
                if service["protocol"] == "HTTP" and route["match_type"] == "RegularExpression":
                    errors += self._regex_errors(service, route)
        for group in self.path_groups(spec):
            errors += self.path_group_errors(group)
        return errors

    # Routes that share a path -------------------------------------------------------------------

    def _location_path(self, service: ServiceSpec, route: RouteSpec) -> str:
        if service["protocol"] == "GRPC":
            # NGINX Gateway Fabric turns a GRPCRoute method match into the path /service/method.
            return "/" + route["path"]
        return self.match_path(route)

    def path_groups(self, spec: RevisionSpec) -> list[list[tuple[ServiceSpec, RouteSpec]]]:
        """The routes of the publish grouped by shared paths (on a shared listener): NGINX
        Gateway Fabric serves the routes of one path from one nginx location, and refuses a
        policy on a route when another route of the same gateway, hostname, port and path is
        not targeted by it. Groups and their routes are in spec order."""
        listeners = {"HTTP": http_listeners(spec), "GRPC": grpc_listeners(spec)}
        members = [(service, route) for service in spec["services"] for route in service["routes"]]
        leader = list(range(len(members)))

        def find(index: int) -> int:
            while leader[index] != index:
                index = leader[index]
            return index

        owners: dict[tuple[str, str], int] = {}
        for index, (service, route) in enumerate(members):
            path = self._location_path(service, route)
            for listener in listeners[service["protocol"]]:
                owner = owners.setdefault((listener, path), index)
                # The smaller index leads, so each group keeps its first route first.
                first, second = sorted((find(owner), find(index)))
                leader[second] = first
        groups: dict[int, list[tuple[ServiceSpec, RouteSpec]]] = {}
        for index, member in enumerate(members):
            groups.setdefault(find(index), []).append(member)
        return list(groups.values())

    def path_group_errors(self, group: list[tuple[ServiceSpec, RouteSpec]]) -> list[str]:
        """Why the routes of one path group cannot share their policies (empty if they can)."""
        if len(group) < 2:
            return []
        names = ", ".join(
            f"'{route['name']}' of service '{service['name']}'" for service, route in group
        )
        errors = []
        if not _same_rate_limits(group):
            errors.append(
                f"routes {names} match the same path: gateway class 'nginx' counts one rate "
                "limit for all routes of a path (NGINX Gateway Fabric serves them from one "
                "location and refuses a policy that leaves one of them out), and their "
                "services' rate limits differ"
            )
        if len({_backend_timeout(service, route) for service, route in group}) > 1:
            errors.append(
                f"routes {names} match the same path: gateway class 'nginx' applies one "
                "backend timeout to all routes of a path (NGINX Gateway Fabric serves them "
                "from one location and refuses a policy that leaves one of them out), and "
                "their backends' timeouts differ"
            )
        if len(group) > MAX_POLICY_TARGETS and (
            _rate_limit(group[0][0]) or _backend_timeout(*group[0])
        ):
            errors.append(
                f"routes {names} match the same path: gateway class 'nginx' targets them with "
                f"one policy, which takes at most {MAX_POLICY_TARGETS} routes"
            )
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
                f"{where}: timeout {seconds}s does not fit gateway class 'nginx': NGINX "
                "Gateway Fabric takes at most 9999 seconds, or whole minutes or hours"
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

    def publish_objects(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """A RateLimitPolicy and a ProxySettingsPolicy per group of routes sharing a path (in
        the common case, per route), named after the group's first route."""
        objects = []
        for group in self.path_groups(ctx.spec):
            first_service, first_route = group[0]
            targets = [route_target_ref(ctx, service, route) for service, route in group]
            rate_limit = _rate_limit(first_service)
            if rate_limit:
                rule = {
                    # One constant key: every client of the routes shares the limit.
                    "key": "route",
                    # No burst: NGINX then admits requests evenly spaced at the rate, so no
                    # period ever sees more than the limit. A burst of the limit would let
                    # about twice the limit through in the first period (the burst, then the
                    # rate).
                    "rate": f"{rate_limit['requests']}r/{_RATE_UNITS[rate_limit['unit']]}",
                }
                objects.append(
                    manifest(
                        ctx,
                        NGINX_VERSION,
                        "RateLimitPolicy",
                        ctx.names.name(
                            "RateLimitPolicy", first_service["name"], first_route["name"]
                        ),
                        {
                            "spec": {
                                "targetRefs": targets,
                                "rateLimit": {"local": {"rules": [rule]}, "rejectCode": 429},
                            }
                        },
                    )
                )
            seconds = _backend_timeout(first_service, first_route)
            duration = nginx_duration(seconds) if seconds else None
            if duration:
                objects.append(
                    manifest(
                        ctx,
                        NGINX_VERSION,
                        "ProxySettingsPolicy",
                        ctx.names.name(
                            "ProxySettingsPolicy", first_service["name"], first_route["name"]
                        ),
                        {
                            "spec": {
                                "targetRefs": targets,
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

