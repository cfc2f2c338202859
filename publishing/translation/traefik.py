"""Traefik Proxy (v3.7): Middlewares (traefik.io/v1alpha1) attached to the routes through
ExtensionRef filters, and BackendTLSPolicy for https backends.

Traefik Proxy has no API-key or JWT middleware (those are Traefik Hub features); forwardAuth
only delegates to an authentication service, which Imp-Gateway does not run, so both auth modes
are refused rather than approximated (see features.CAPABILITY_MATRIX).
"""

from __future__ import annotations

from typing import Any

from .gateway_api import (
    GatewayAPIDriver,
    RenderContext,
    backend_tls_policies,
    extension_ref_filter,
    manifest,
    service_objects,
    single_policy,
)
from .spec import BackendSpec, PolicySpec, RouteSpec, ServiceSpec

TRAEFIK_GROUP = "traefik.io"
TRAEFIK_VERSION = f"{TRAEFIK_GROUP}/v1alpha1"

_PERIODS = {"Second": "1s", "Minute": "1m", "Hour": "1h", "Day": "24h"}
# Policies in the order their middlewares run: refuse foreign clients first, then answer CORS
# preflights, then count.
_POLICY_ORDER = ("ip_allowlist", "cors", "rate_limit")


def _middleware_spec(policy: PolicySpec) -> dict[str, Any]:
    config = policy["config"]
    if policy["kind"] == "ip_allowlist":
        return {"ipAllowList": {"sourceRange": config["cidrs"]}}
    if policy["kind"] == "cors":
        headers: dict[str, Any] = {
            "accessControlAllowOriginList": config["allow_origins"],
            "accessControlAllowMethods": config["allow_methods"],
        }
        if config["allow_headers"]:
            headers["accessControlAllowHeaders"] = config["allow_headers"]
        if config["expose_headers"]:
            headers["accessControlExposeHeaders"] = config["expose_headers"]
        headers["accessControlMaxAge"] = config["max_age_seconds"]
        headers["accessControlAllowCredentials"] = config["allow_credentials"]
        headers["addVaryHeader"] = True
        return {"headers": headers}
    return {
        "rateLimit": {
            "average": config["requests"],
            "period": _PERIODS[config["unit"]],
            "burst": config["requests"],
            # Grouping by host puts every client of the route in one bucket, as the other
            # classes count (Traefik groups by client IP by default).
            "sourceCriterion": {"requestHost": True},
        }
    }


class TraefikDriver(GatewayAPIDriver):
    name = "traefik"

    def _retry_name(self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec) -> str:
        return ctx.names.name("Middleware", service["name"], backend["name"], "retry")

    def backend_objects(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        objects = service_objects(ctx, service, backend) + backend_tls_policies(
            ctx, service, backend
        )
        if backend["retry_attempts"]:
            objects.append(
                manifest(
                    ctx,
                    TRAEFIK_VERSION,
                    "Middleware",
                    self._retry_name(ctx, service, backend),
                    # attempts counts the first try too; retries happen only before the
                    # backend received the request.
                    {"spec": {"retry": {"attempts": backend["retry_attempts"] + 1}}},
                )
            )
        return objects

    def _policies(self, service: ServiceSpec) -> list[PolicySpec]:
        return [
            policy for kind in _POLICY_ORDER if (policy := single_policy(service, kind)) is not None
        ]

    def _policy_middleware_name(
        self, ctx: RenderContext, service: ServiceSpec, policy: PolicySpec
    ) -> str:
        return ctx.names.name("Middleware", service["name"], policy["name"])

    def extension_filters(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        names = [self._policy_middleware_name(ctx, service, p) for p in self._policies(service)]
        if backend["retry_attempts"]:
            names.append(self._retry_name(ctx, service, backend))
        return [extension_ref_filter(TRAEFIK_GROUP, "Middleware", name) for name in names]

    def service_objects(self, ctx: RenderContext, service: ServiceSpec) -> list[dict[str, Any]]:
        return [
            manifest(
                ctx,
                TRAEFIK_VERSION,
                "Middleware",
                self._policy_middleware_name(ctx, service, policy),
                {"spec": _middleware_spec(policy)},
            )
            for policy in self._policies(service)
        ]
