"""Kong Ingress Controller (3.5, Kong OSS): KongPlugins attached to the routes by the
konghq.com/plugins annotation, KongConsumers with credential Secrets, KongUpstreamPolicy and
Service annotations for the backend settings."""

from __future__ import annotations

from typing import Any

from .gateway_api import (
    API_KEY_HEADER,
    GatewayAPIDriver,
    RenderContext,
    backend_scheme,
    manifest,
    secret_data,
    service_objects,
    single_policy,
)
from .spec import BackendSpec, ConsumerSpec, RouteSpec, ServiceSpec

KONG_VERSION = "configuration.konghq.com/v1"
KONG_BETA_VERSION = "configuration.konghq.com/v1beta1"

_ALGORITHMS = {"least_request": "least-connections", "consistent_hash": "consistent-hashing"}
# Policies in the order their plugins are listed on a route (Kong runs them by priority).
_POLICY_PLUGINS = {"ip_allowlist": "ip-restriction", "cors": "cors", "rate_limit": "rate-limiting"}


def _plugin_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    if kind == "rate_limit":
        # Counted per Kong service, and so per route: KIC makes a Kong service per route rule.
        return {
            config["unit"].lower(): config["requests"],
            "limit_by": "service",
            "policy": "local",
        }
    if kind == "cors":
        cors: dict[str, Any] = {
            "origins": config["allow_origins"],
            "methods": config["allow_methods"],
        }
        if config["allow_headers"]:
            cors["headers"] = config["allow_headers"]
        if config["expose_headers"]:
            cors["exposed_headers"] = config["expose_headers"]
        cors["max_age"] = config["max_age_seconds"]
        cors["credentials"] = config["allow_credentials"]
        return cors
    return {"allow": config["cidrs"]}


class KongDriver(GatewayAPIDriver):
    name = "kong"

    def _acl_group(self, ctx: RenderContext) -> str:
        return f"imp-gateway-publish-{ctx.spec['publish']['id']}"

    # Backends -----------------------------------------------------------------------------------

    def _upstream_policy_name(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> str | None:
        if backend["load_balancing"] in _ALGORITHMS or backend["health_check"]:
            return ctx.names.name("KongUpstreamPolicy", service["name"], backend["name"])
        return None

    def backend_objects(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        https = backend_scheme(backend) == "https"
        protocol = (
            ("grpcs" if https else "grpc")
            if service["protocol"] == "GRPC"
            else ("https" if https else "http")
        )
        # Kong retries 5 times by default: state the spec's count, zero included.
        annotations = {
            "konghq.com/protocol": protocol,
            "konghq.com/retries": str(backend["retry_attempts"]),
        }
        if https:
            annotations["konghq.com/tls-verify"] = "true"
        if backend["timeout_seconds"]:
            milliseconds = str(backend["timeout_seconds"] * 1000)
            for timeout in ("connect-timeout", "read-timeout", "write-timeout"):
                annotations[f"konghq.com/{timeout}"] = milliseconds
        policy_name = self._upstream_policy_name(ctx, service, backend)
        objects = []
        if policy_name:
            annotations["konghq.com/upstream-policy"] = policy_name
            objects.append(self._upstream_policy(ctx, backend, policy_name))
        return service_objects(ctx, service, backend, annotations=annotations) + objects

    def _upstream_policy(
        self, ctx: RenderContext, backend: BackendSpec, name: str
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        if backend["load_balancing"] in _ALGORITHMS:
            spec["algorithm"] = _ALGORITHMS[backend["load_balancing"]]
            if backend["load_balancing"] == "consistent_hash":
                spec["hashOn"] = {"input": "ip"}
        if backend["health_check"]:
            check = backend["health_check"]
            interval = check["interval_seconds"]
            spec["healthchecks"] = {
                "active": {
                    "type": backend_scheme(backend),
                    "httpPath": check["path"],
                    "healthy": {"interval": interval, "successes": 1, "httpStatuses": [200]},
                    "unhealthy": {"interval": interval, "httpFailures": 3, "timeouts": 3},
                }
            }
        return manifest(ctx, KONG_BETA_VERSION, "KongUpstreamPolicy", name, {"spec": spec})

    # Routes -------------------------------------------------------------------------------------

    def route_annotations(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec
    ) -> dict[str, str] | None:
        plugins = []
        if ctx.spec["publish"]["auth_mode"] == "apikey":
            plugins += [self._plugin_name(ctx, "key-auth"), self._plugin_name(ctx, "acl")]
        for kind in _POLICY_PLUGINS:
            policy = single_policy(service, kind)
            if policy:
                plugins.append(ctx.names.name("KongPlugin", service["name"], policy["name"]))
        if not plugins:
            return None
        return {"konghq.com/plugins": ",".join(plugins)}

    def _plugin_name(self, ctx: RenderContext, plugin: str) -> str:
        return ctx.names.name("KongPlugin", plugin)

    # Plugins and consumers --------------------------------------------------------------------

    def service_objects(self, ctx: RenderContext, service: ServiceSpec) -> list[dict[str, Any]]:
        plugins = []
        for kind, plugin in _POLICY_PLUGINS.items():
            policy = single_policy(service, kind)
            if policy:
                plugins.append(
                    manifest(
                        ctx,
                        KONG_VERSION,
                        "KongPlugin",
                        ctx.names.name("KongPlugin", service["name"], policy["name"]),
                        {"plugin": plugin, "config": _plugin_config(kind, policy["config"])},
                    )
                )
        return plugins

    def publish_objects(self, ctx: RenderContext) -> list[dict[str, Any]]:
        if ctx.spec["publish"]["auth_mode"] != "apikey":
            return []
        objects = [
            manifest(
                ctx,
                KONG_VERSION,
                "KongPlugin",
                self._plugin_name(ctx, "key-auth"),
                {
                    "plugin": "key-auth",
                    "config": {"key_names": [API_KEY_HEADER], "hide_credentials": True},
                },
            ),
            # key-auth accepts the key of any consumer in Kong; the ACL admits only this
            # publish's consumers, so a key for one product does not open another.
            manifest(
                ctx,
                KONG_VERSION,
                "KongPlugin",
                self._plugin_name(ctx, "acl"),
                {
                    "plugin": "acl",
                    "config": {"allow": [self._acl_group(ctx)], "hide_groups_header": True},
                },
            ),
        ]
        for consumer in ctx.spec["consumers"]:
            objects += self._consumer_objects(ctx, consumer)
        return objects

    def _consumer_objects(self, ctx: RenderContext, consumer: ConsumerSpec) -> list[dict[str, Any]]:
        secrets = [
            self._credential_secret(
                ctx,
                ctx.names.name("Secret", "consumer", consumer["name"], "key", str(index + 1)),
                "key-auth",
                {"key": key},
            )
            for index, key in enumerate(consumer["api_keys"])
        ]
        secrets.append(
            self._credential_secret(
                ctx,
                ctx.names.name("Secret", "consumer", consumer["name"], "acl"),
                "acl",
                {"group": self._acl_group(ctx)},
            )
        )
        name = ctx.names.name("KongConsumer", "consumer", consumer["name"])
        kong_consumer = manifest(
            ctx,
            KONG_VERSION,
            "KongConsumer",
            name,
            # Kong usernames are global to the gateway: the publish-scoped object name keeps
            # consumers of different publishes apart.
            {
                "username": name,
                "credentials": [secret["metadata"]["name"] for secret in secrets],
            },
            annotations={"kubernetes.io/ingress.class": ctx.gateway_class_name},
        )
        return [*secrets, kong_consumer]

    def _credential_secret(
        self, ctx: RenderContext, name: str, credential: str, values: dict[str, str]
    ) -> dict[str, Any]:
        return manifest(
            ctx,
            "v1",
            "Secret",
            name,
            {"type": "Opaque", "data": secret_data(values)},
            labels={"konghq.com/credential": credential},
        )
