"""Kong Ingress Controller (3.5, Kong OSS 3.9): KongPlugins attached to the routes by the
konghq.com/plugins annotation, KongConsumers with credential Secrets, KongUpstreamPolicy and
Service annotations for the backend settings.

What KIC 3.5 reads, and where a setting takes effect, is asserted with the source it comes from
in tests/publishing/contracts/test_kong.py.
"""

from __future__ import annotations

import re
from typing import Any

from .features import Feature, feature_refusal
from .gateway_api import (
    API_KEY_HEADER,
    GatewayAPIDriver,
    RenderContext,
    backend_scheme,
    find_backend,
    full_match_pattern,
    hostname_targets,
    manifest,
    request_header_changes,
    secret_data,
    service_objects,
    service_targets,
    single_policy,
)
from .spec import BackendSpec, ConsumerSpec, RevisionSpec, RouteSpec, ServiceSpec

KONG_VERSION = "configuration.konghq.com/v1"
KONG_BETA_VERSION = "configuration.konghq.com/v1beta1"

# KIC admits a KongConsumer only when its kubernetes.io/ingress.class annotation equals the
# controller's --ingress-class flag, whose default is "kong"; the GatewayClass name plays no
# part in it (a GatewayClass is matched by its controllerName).
KIC_INGRESS_CLASS = "kong"

PLUGINS_ANNOTATION = "konghq.com/plugins"

_ALGORITHMS = {"least_request": "least-connections", "consistent_hash": "consistent-hashing"}
# Policies whose plugins are listed on every route (Kong runs them by priority). The rate limit
# is not among them: a plugin listed on a route counts per Kong route, and KIC makes a Kong
# route per method rule.
_ROUTE_POLICY_PLUGINS = {"ip_allowlist": "ip-restriction", "cors": "cors"}

# request-transformer renders values that contain "$(...)" as Lua templates (or refuses them
# when untrusted Lua is off), and reads "name:value" with any run of colons as the separator.
_TEMPLATE_EXPRESSION = re.compile(r"\$\(.*\)")


def kong_regex_path(pattern: str) -> str:
    """The HTTPRoute regex path value for KIC: Kong anchors a regex path at the start only, and
    refuses one that does not begin with '/'. '/{0}' matches the empty string, so the value
    starts with '/' and still means the whole-path match of `pattern`."""
    return "/{0}" + full_match_pattern(pattern)


def _plugin_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    if kind == "rate_limit":
        # One counter per Kong service: the plugin hangs on the Kubernetes Service, and KIC
        # makes one Kong service per HTTPRoute or GRPCRoute rule group (see _rate_limit_anchor).
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


def _several_https_hosts(backend: BackendSpec) -> bool:
    return (
        backend_scheme(backend) == "https"
        and len({host for host, _port in hostname_targets(backend)}) > 1
    )


class KongDriver(GatewayAPIDriver):
    name = "kong"

    def _acl_group(self, ctx: RenderContext) -> str:
        return f"imp-gateway-publish-{ctx.spec['publish']['id']}"

    # Refusals -----------------------------------------------------------------------------------

    def class_errors(self, spec: RevisionSpec) -> list[str]:
        refused: dict[Feature, tuple[list[str], str]] = {}

        def refuse(feature: Feature, where: str, reason: str) -> None:
            places, _reason = refused.setdefault(feature, ([], reason))
            if where not in places:
                places.append(where)

        for service in spec["services"]:
            for route in service["routes"]:
                where = f"route '{route['name']}' of service '{service['name']}'"
                if service["protocol"] == "GRPC" and any(
                    header["type"] == "RegularExpression" for header in route["header_matches"]
                ):
                    refuse(
                        Feature.HEADER_REGEX_MATCH,
                        where,
                        "KIC 3.5 compares GRPCRoute header values literally on Kong's "
                        "traditional routers, whatever the match type",
                    )
                if route["match_type"] == "RegularExpression" and "//" in route["path"]:
                    refuse(Feature.PATH_REGEX, where, "Kong refuses a route path containing '//'")
            set_headers, _remove = request_header_changes(service)
            for header, value in set_headers.items():
                if _TEMPLATE_EXPRESSION.search(value) or value.startswith(":"):
                    refuse(
                        Feature.REQUEST_HEADERS,
                        f"header '{header}' of service '{service['name']}'",
                        "Kong's request-transformer reads '$(...)' in a value as a Lua template "
                        "and drops colons that start one",
                    )
        return [
            feature_refusal(self.name, feature, places, reason)
            for feature, (places, reason) in sorted(
                refused.items(), key=lambda item: list(Feature).index(item[0])
            )
        ]

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
        services = service_objects(ctx, service, backend, annotations=annotations)
        rate_limit = single_policy(service, "rate_limit")
        if rate_limit:
            self._rate_limit_anchor(ctx, service, backend, services, rate_limit["name"])
        return services + objects

    def _rate_limit_anchor(
        self,
        ctx: RenderContext,
        service: ServiceSpec,
        backend: BackendSpec,
        services: list[dict[str, Any]],
        policy_name: str,
    ) -> None:
        """Hangs the rate-limiting plugin on the backend's first Service. KIC attaches a plugin
        named on a Service to every Kong service built from a route rule group that uses the
        Service, once per Kong service: with one Service annotated per backend, each HTTPRoute
        or GRPCRoute (a spec route) gets one counter, whatever its methods and listeners."""
        first = service_targets(ctx, service, backend)[0].name
        for item in services:
            if item["kind"] == "Service" and item["metadata"]["name"] == first:
                annotations = {
                    **item["metadata"].get("annotations", {}),
                    PLUGINS_ANNOTATION: ctx.names.name("KongPlugin", service["name"], policy_name),
                }
                item["metadata"]["annotations"] = dict(sorted(annotations.items()))

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

    def route_object(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec
    ) -> dict[str, Any]:
        rendered = super().route_object(ctx, service, route)
        if route["match_type"] == "RegularExpression" and service["protocol"] == "HTTP":
            for rule in rendered["spec"]["rules"]:
                for match in rule["matches"]:
                    match["path"] = {**match["path"], "value": kong_regex_path(route["path"])}
        return rendered

    def grpc_route_filters(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        # KIC 3.5 never reads GRPCRoute filters: header changes go in a request-transformer
        # plugin named in the route's annotation instead (route_annotations).
        return self.extension_filters(ctx, service, route, backend)

    def route_annotations(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec
    ) -> dict[str, str] | None:
        plugins = []
        if ctx.spec["publish"]["auth_mode"] == "apikey":
            plugins += [self._plugin_name(ctx, "key-auth"), self._plugin_name(ctx, "acl")]
        for kind in _ROUTE_POLICY_PLUGINS:
            policy = single_policy(service, kind)
            if policy:
                plugins.append(ctx.names.name("KongPlugin", service["name"], policy["name"]))
        if self._grpc_header_plugin(service):
            plugins.append(self._grpc_header_plugin_name(ctx, service))
        annotations = {}
        if plugins:
            annotations[PLUGINS_ANNOTATION] = ",".join(plugins)
        if service["protocol"] == "HTTP" and _several_https_hosts(
            find_backend(service, route["backend"])
        ):
            # KIC preserves the client's Host on HTTPRoutes, and Kong sends the upstream Host
            # as the TLS SNI: an https backend of several DNS names needs each endpoint's own
            # name, which Kong sets when the route does not preserve the Host.
            annotations["konghq.com/preserve-host"] = "false"
        return annotations or None

    def _plugin_name(self, ctx: RenderContext, plugin: str) -> str:
        return ctx.names.name("KongPlugin", plugin)

    # Plugins and consumers --------------------------------------------------------------------

    def _grpc_header_plugin(self, service: ServiceSpec) -> dict[str, Any] | None:
        """request-transformer for a gRPC service's header changes: a set is a replace plus an
        add (replace changes a header that is there, add one that is not)."""
        if service["protocol"] != "GRPC":
            return None
        set_headers, remove = request_header_changes(service)
        if not set_headers and not remove:
            return None
        pairs = [f"{name}:{value}" for name, value in set_headers.items()]
        config: dict[str, Any] = {}
        if remove:
            config["remove"] = {"headers": remove}
        if pairs:
            config["replace"] = {"headers": pairs}
            config["add"] = {"headers": pairs}
        return config

    def _grpc_header_plugin_name(self, ctx: RenderContext, service: ServiceSpec) -> str:
        return ctx.names.name("KongPlugin", service["name"], "request-headers")

    def service_objects(self, ctx: RenderContext, service: ServiceSpec) -> list[dict[str, Any]]:
        plugins = []
        for kind, plugin in (*_ROUTE_POLICY_PLUGINS.items(), ("rate_limit", "rate-limiting")):
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
        header_config = self._grpc_header_plugin(service)
        if header_config:
            plugins.append(
                manifest(
                    ctx,
                    KONG_VERSION,
                    "KongPlugin",
                    self._grpc_header_plugin_name(ctx, service),
                    {"plugin": "request-transformer", "config": header_config},
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
                    # The key travels in the header only: key-auth also reads the query string
                    # by default, where keys end up in access logs.
                    "config": {
                        "key_names": [API_KEY_HEADER],
                        "key_in_header": True,
                        "key_in_query": False,
                        "key_in_body": False,
                        "hide_credentials": True,
                    },
                },
            ),
            # key-auth accepts the key of any consumer in Kong; the ACL admits only this
            # publish's consumers, so a key for one publish (product and environment) does not
            # open another.
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
            annotations={"kubernetes.io/ingress.class": KIC_INGRESS_CLASS},
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
