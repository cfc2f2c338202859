"""Apache APISIX ingress controller (2.2) in Gateway API mode: PluginConfig attached to the
routes by ExtensionRef filters, Consumers bound to the publish's Gateway with key Secrets, and a
BackendTrafficPolicy per backend.

The Gateway API set is used rather than ApisixRoute/ApisixUpstream (v2): the Gateway, routes
and listeners then mean the same for every class, and APISIX 2.x scopes Consumers to a Gateway,
which keeps the keys of one publish away from another's routes.
"""

from __future__ import annotations

from typing import Any

from .gateway_api import (
    API_KEY_HEADER,
    GatewayAPIDriver,
    RenderContext,
    backend_scheme,
    extension_ref_filter,
    manifest,
    secret_data,
    service_objects,
    service_targets,
    single_policy,
)
from .spec import BackendSpec, ConsumerSpec, RouteSpec, ServiceSpec

APISIX_GROUP = "apisix.apache.org"
APISIX_VERSION = f"{APISIX_GROUP}/v1alpha1"

_WINDOW_SECONDS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400}


def _plugins(ctx: RenderContext, service: ServiceSpec) -> list[dict[str, Any]]:
    plugins = []
    allowlist = single_policy(service, "ip_allowlist")
    if allowlist:
        plugins.append(
            {"name": "ip-restriction", "config": {"whitelist": allowlist["config"]["cidrs"]}}
        )
    cors = single_policy(service, "cors")
    if cors:
        config = cors["config"]
        cors_config: dict[str, Any] = {
            "allow_origins": ",".join(config["allow_origins"]),
            "allow_methods": ",".join(config["allow_methods"]),
        }
        if config["allow_headers"]:
            cors_config["allow_headers"] = ",".join(config["allow_headers"])
        if config["expose_headers"]:
            cors_config["expose_headers"] = ",".join(config["expose_headers"])
        cors_config["max_age"] = config["max_age_seconds"]
        cors_config["allow_credential"] = config["allow_credentials"]
        plugins.append({"name": "cors", "config": cors_config})
    rate_limit = single_policy(service, "rate_limit")
    if rate_limit:
        config = rate_limit["config"]
        plugins.append(
            {
                "name": "limit-count",
                "config": {
                    "count": config["requests"],
                    "time_window": _WINDOW_SECONDS[config["unit"]],
                    # One counter for all clients of the route, as the other classes count.
                    "key_type": "constant",
                    "key": "route",
                    "rejected_code": 429,
                    "policy": "local",
                },
            }
        )
    if ctx.spec["publish"]["auth_mode"] == "apikey":
        plugins.append(
            {"name": "key-auth", "config": {"header": API_KEY_HEADER, "hide_credentials": True}}
        )
    return plugins


class APISIXDriver(GatewayAPIDriver):
    name = "apisix"

    # Backends -----------------------------------------------------------------------------------

    def backend_objects(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        scheme = backend_scheme(backend)
        if service["protocol"] == "GRPC":
            scheme = "grpcs" if scheme == "https" else "grpc"
        # APISIX retries on the next node by default: state the spec's count, zero included.
        spec: dict[str, Any] = {
            "targetRefs": [
                {"group": "", "kind": "Service", "name": target.name}
                for target in service_targets(ctx, service, backend)
            ],
            "scheme": scheme,
            "retries": backend["retry_attempts"],
        }
        if backend["timeout_seconds"]:
            seconds = f"{backend['timeout_seconds']}s"
            spec["timeout"] = {"connect": seconds, "send": seconds, "read": seconds}
        if backend["load_balancing"] == "least_request":
            spec["loadbalancer"] = {"type": "least_conn"}
        elif backend["load_balancing"] == "consistent_hash":
            spec["loadbalancer"] = {"type": "chash", "hashOn": "vars", "key": "remote_addr"}
        if backend["health_check"]:
            check = backend["health_check"]
            interval = f"{check['interval_seconds']}s"
            spec["healthCheck"] = {
                "active": {
                    "type": backend_scheme(backend),
                    "httpPath": check["path"],
                    "healthy": {"interval": interval, "successes": 1, "httpCodes": [200]},
                    "unhealthy": {"interval": interval, "httpFailures": 3},
                }
            }
        policy = manifest(
            ctx,
            APISIX_VERSION,
            "BackendTrafficPolicy",
            ctx.names.name("BackendTrafficPolicy", service["name"], backend["name"]),
            {"spec": spec},
        )
        return [*service_objects(ctx, service, backend), policy]

    # Routes and plugins -----------------------------------------------------------------------

    def _plugin_config_name(self, ctx: RenderContext, service: ServiceSpec) -> str | None:
        if not _plugins(ctx, service):
            return None
        return ctx.names.name("PluginConfig", service["name"])

    def extension_filters(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        name = self._plugin_config_name(ctx, service)
        return [extension_ref_filter(APISIX_GROUP, "PluginConfig", name)] if name else []

    def service_objects(self, ctx: RenderContext, service: ServiceSpec) -> list[dict[str, Any]]:
        name = self._plugin_config_name(ctx, service)
        if not name:
            return []
        return [
            manifest(
                ctx,
                APISIX_VERSION,
                "PluginConfig",
                name,
                {"spec": {"plugins": _plugins(ctx, service)}},
            )
        ]

    # Consumers ----------------------------------------------------------------------------------

    def publish_objects(self, ctx: RenderContext) -> list[dict[str, Any]]:
        if ctx.spec["publish"]["auth_mode"] != "apikey":
            return []
        objects: list[dict[str, Any]] = []
        for consumer in ctx.spec["consumers"]:
            objects += self._consumer_objects(ctx, consumer)
        return objects

    def _consumer_objects(self, ctx: RenderContext, consumer: ConsumerSpec) -> list[dict[str, Any]]:
        secrets = [
            manifest(
                ctx,
                "v1",
                "Secret",
                ctx.names.name("Secret", "consumer", consumer["name"], "key", str(index + 1)),
                {"type": "Opaque", "data": secret_data({"key": key})},
            )
            for index, key in enumerate(consumer["api_keys"])
        ]
        credentials = [
            {
                "type": "key-auth",
                "name": f"key-{index + 1}",
                "secretRef": {"name": secret["metadata"]["name"]},
            }
            for index, secret in enumerate(secrets)
        ]
        spec: dict[str, Any] = {"gatewayRef": {"name": ctx.gateway_name}}
        if credentials:
            spec["credentials"] = credentials
        consumer_object = manifest(
            ctx,
            APISIX_VERSION,
            "Consumer",
            ctx.names.name("Consumer", "consumer", consumer["name"]),
            {"spec": spec},
        )
        return [*secrets, consumer_object]
