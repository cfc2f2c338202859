"""Apache APISIX ingress controller (2.2, APISIX 3.17) in Gateway API mode: a PluginConfig per
route attached by an ExtensionRef filter, Consumers bound to the publish's Gateway with key
Secrets, a BackendTrafficPolicy per backend, and the Gateway pointing at the cluster's
GatewayProxy.

The Gateway API set is used rather than ApisixRoute/ApisixUpstream (v2): the Gateway, routes
and listeners then mean the same for every class. What the controller reads, and where a
setting takes effect, is asserted with the source it comes from in
tests/publishing/contracts/test_apisix.py.
"""

from __future__ import annotations

from typing import Any

from .features import Feature, feature_refusal
from .gateway_api import (
    API_KEY_HEADER,
    GatewayAPIDriver,
    RenderContext,
    backend_scheme,
    extension_ref_filter,
    full_match_pattern,
    hostname_targets,
    manifest,
    request_header_changes,
    route_name,
    secret_data,
    service_objects,
    service_targets,
    single_policy,
)
from .spec import (
    BackendSpec,
    ConsumerSpec,
    OAuth2Spec,
    RevisionSpec,
    RouteSpec,
    ServiceSpec,
)

APISIX_GROUP = "apisix.apache.org"
APISIX_VERSION = f"{APISIX_GROUP}/v1alpha1"

# The GatewayProxy every Gateway points at, in the publish namespace (the controller looks it up
# in the Gateway's own namespace). The operator creates it with the APISIX admin API endpoint
# and admin key: Imp-Gateway holds no APISIX admin credentials, and one GatewayProxy per
# APISIX keeps the controller's full syncs of one proxy from deleting another's routes.
GATEWAY_PROXY_NAME = "apisix-config"

_WINDOW_SECONDS = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400}


def consumer_username(namespace: str, name: str) -> str:
    """The APISIX consumer username the controller gives a Consumer object."""
    return f"{namespace}_{name}"


class APISIXDriver(GatewayAPIDriver):
    name = "apisix"

    # Refusals -----------------------------------------------------------------------------------

    def class_errors(self, spec: RevisionSpec) -> list[str]:
        errors = []
        oauth2 = spec["oauth2"]
        if spec["publish"]["auth_mode"] == "oauth2" and oauth2 and len(oauth2["audiences"]) > 1:
            errors.append(
                feature_refusal(
                    self.name,
                    Feature.JWT_AUTH,
                    [f"publish '{spec['publish']['name']}' (auth mode oauth2)"],
                    "openid-connect checks one audience (as its client id); the spec lists "
                    f"{len(oauth2['audiences'])}",
                )
            )
        places = []
        for service in spec["services"]:
            set_headers, _remove = request_header_changes(service)
            places += [
                f"header '{header}' of service '{service['name']}'"
                for header, value in set_headers.items()
                if "$" in value
            ]
        if places:
            errors.append(
                feature_refusal(
                    self.name,
                    Feature.REQUEST_HEADERS,
                    places,
                    "APISIX proxy-rewrite replaces '$name' in a header value with an nginx "
                    "variable",
                )
            )
        return errors

    # Gateway ------------------------------------------------------------------------------------

    def render(self, ctx: RenderContext) -> list[dict[str, Any]]:
        manifests = super().render(ctx)
        for item in manifests:
            if item["kind"] == "Gateway":
                # Without it the controller accepts nothing on the Gateway and syncs nothing.
                item["spec"]["infrastructure"] = {
                    "parametersRef": {
                        "group": APISIX_GROUP,
                        "kind": "GatewayProxy",
                        "name": GATEWAY_PROXY_NAME,
                    }
                }
        return manifests

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
        if scheme in ("https", "grpcs") and len({h for h, _p in hostname_targets(backend)}) > 1:
            # APISIX sends the upstream Host as the TLS SNI: with several DNS names each node
            # needs its own name, not the client's Host (one name gets it by URLRewrite).
            spec["passHost"] = "node"
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

    def route_object(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec
    ) -> dict[str, Any]:
        rendered = super().route_object(ctx, service, route)
        if route["match_type"] == "RegularExpression" and service["protocol"] == "HTTP":
            # The controller matches a regex path with the route var `uri ~~ value`, an
            # unanchored search: anchor both ends.
            for rule in rendered["spec"]["rules"]:
                for match in rule["matches"]:
                    match["path"] = {**match["path"], "value": full_match_pattern(route["path"])}
        return rendered

    def _plugin_config_name(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec
    ) -> str:
        return ctx.names.name("PluginConfig", service["name"], route["name"])

    def _plugins(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec
    ) -> list[dict[str, Any]]:
        """The plugins of one route. A PluginConfig per route, not per service: the rate limit
        counter is named after the route."""
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
            plugins.append(self._limit_count(ctx, service, route, rate_limit["config"]))
        auth_mode = ctx.spec["publish"]["auth_mode"]
        if auth_mode == "apikey":
            plugins += self._key_auth(ctx)
        elif auth_mode == "oauth2" and ctx.spec["oauth2"]:
            plugins.append(self._openid_connect(ctx.spec["oauth2"], ctx.spec["publish"]["name"]))
        return plugins

    def _limit_count(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, config: dict[str, Any]
    ) -> dict[str, Any]:
        window = _WINDOW_SECONDS[config["unit"]]
        # Without a group limit-count keeps a counter per APISIX service, and the controller
        # makes one per HTTPRoute rule (per method here). The group is the route's, so all its
        # rules share one counter; the limit is in its name because APISIX refuses a group
        # whose configuration differs from the one it cached under that name.
        group = f"{ctx.namespace}/{route_name(ctx, service, route)}/{config['requests']}/{window}s"
        return {
            "name": "limit-count",
            "config": {
                "count": config["requests"],
                "time_window": window,
                "key_type": "constant",
                "key": "route",
                "group": group,
                "rejected_code": 429,
                "policy": "local",
            },
        }

    def _key_auth(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """key-auth finds a key among every consumer of the APISIX; consumer-restriction then
        admits only this publish's consumers, so a key of one publish (product and environment)
        does not open another."""
        usernames = [
            consumer_username(ctx.namespace, self._consumer_name(ctx, consumer))
            for consumer in ctx.spec["consumers"]
        ]
        # The whitelist needs an entry; with no consumers it names one the controller never
        # composes (its usernames are "<namespace>_<name>"), so no key opens the routes.
        whitelist = usernames or [f"imp-gateway-publish-{ctx.spec['publish']['id']}-no-consumers"]
        return [
            {
                "name": "key-auth",
                # APISIX also reads the key from a query parameter when the header is missing;
                # it has the header's name.
                "config": {
                    "header": API_KEY_HEADER,
                    "query": API_KEY_HEADER,
                    "hide_credentials": True,
                },
            },
            {
                "name": "consumer-restriction",
                "config": {"type": "consumer_name", "whitelist": whitelist},
            },
        ]

    def _openid_connect(self, oauth2: OAuth2Spec, publish_name: str) -> dict[str, Any]:
        """Bearer JWTs verified against the issuer's keys: bearer_only with use_jwks needs no
        client secret, reads the JWKS URI from the issuer's discovery document, checks the
        issuer against valid_issuers and the audience against client_id."""
        issuer = oauth2["issuer"]
        audiences = oauth2["audiences"]
        claim_validator: dict[str, Any] = {"issuer": {"valid_issuers": [issuer]}}
        if audiences:
            claim_validator["audience"] = {"required": True, "match_with_client_id": True}
        return {
            "name": "openid-connect",
            "config": {
                # With no audience to check, the client id is only a required field.
                "client_id": audiences[0] if audiences else publish_name,
                "discovery": issuer.rstrip("/") + "/.well-known/openid-configuration",
                "bearer_only": True,
                "use_jwks": True,
                "claim_validator": claim_validator,
                "set_access_token_header": False,
                "set_id_token_header": False,
                "set_userinfo_header": False,
            },
        }

    def extension_filters(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        if not self._plugins(ctx, service, route):
            return []
        name = self._plugin_config_name(ctx, service, route)
        return [extension_ref_filter(APISIX_GROUP, "PluginConfig", name)]

    def service_objects(self, ctx: RenderContext, service: ServiceSpec) -> list[dict[str, Any]]:
        objects = []
        for route in service["routes"]:
            plugins = self._plugins(ctx, service, route)
            if plugins:
                objects.append(
                    manifest(
                        ctx,
                        APISIX_VERSION,
                        "PluginConfig",
                        self._plugin_config_name(ctx, service, route),
                        {"spec": {"plugins": plugins}},
                    )
                )
        return objects

    # Consumers ----------------------------------------------------------------------------------

    def _consumer_name(self, ctx: RenderContext, consumer: ConsumerSpec) -> str:
        return ctx.names.name("Consumer", "consumer", consumer["name"])

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
            ctx, APISIX_VERSION, "Consumer", self._consumer_name(ctx, consumer), {"spec": spec}
        )
        return [*secrets, consumer_object]
