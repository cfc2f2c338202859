"""The translator: a pure function from a revision spec to the Kubernetes manifests of one
gateway class. The server validates and previews with it; the agent applies what it returns.

No ORM and no I/O: the same spec, revision and capabilities always give the same manifests,
sorted in `APPLY_ORDER`.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from .apisix import APISIXDriver
from .envoy_gateway import EnvoyGatewayDriver
from .features import (
    CAPABILITY_MATRIX,
    GATEWAY_CLASSES,
    Feature,
    Support,
    render_capability_matrix_markdown,
    required_features,
    unsupported_features,
)
from .gateway_api import RenderContext, TranslationError, spec_errors
from .kong import KongDriver
from .naming import ObjectNames, publish_base_name
from .nginx import NginxDriver
from .spec import SPEC_VERSION, Capabilities, RevisionSpec
from .traefik import TraefikDriver

__all__ = [
    "APPLY_ORDER",
    "CAPABILITY_MATRIX",
    "DRIVERS",
    "GATEWAY_CLASSES",
    "Driver",
    "Feature",
    "Support",
    "TranslationError",
    "render_capability_matrix_markdown",
    "render_manifests",
    "required_features",
    "translation_errors",
    "unsupported_features",
]


class Driver(Protocol):
    """Renders the manifests of one gateway class (unsorted; render_manifests sorts)."""

    name: str

    def class_errors(self, spec: RevisionSpec) -> list[str]: ...

    def render(self, ctx: RenderContext) -> list[dict[str, Any]]: ...


DRIVERS: dict[str, Driver] = {
    driver.name: driver
    for driver in (
        EnvoyGatewayDriver(),
        KongDriver(),
        APISIXDriver(),
        TraefikDriver(),
        NginxDriver(),
    )
}

# Apply order: credentials and backends first, then consumers and the policies, plugins and
# filters, then the Gateway, and the routes last. A route is thus never live before the
# authentication, rate limits and allow-lists that guard it exist (some controllers would serve
# a route whose plugin is still missing); a policy whose target route does not exist yet simply
# waits for it. Pruning goes in reverse: routes first.
APPLY_ORDER: tuple[str, ...] = (
    "Secret",
    "ReferenceGrant",
    "Service",
    "EndpointSlice",
    "Backend",
    "BackendTLSPolicy",
    "KongUpstreamPolicy",
    "UpstreamSettingsPolicy",
    "KongConsumer",
    "Consumer",
    "KongPlugin",
    "PluginConfig",
    "Middleware",
    "SecurityPolicy",
    "BackendTrafficPolicy",
    "RateLimitPolicy",
    "ProxySettingsPolicy",
    "Gateway",
    "GRPCRoute",
    "HTTPRoute",
)


def _sort_key(manifest: dict[str, Any]) -> tuple[int, str, str]:
    return (APPLY_ORDER.index(manifest["kind"]), manifest["kind"], manifest["metadata"]["name"])


def translation_errors(spec: RevisionSpec) -> list[str]:
    """Every reason `render_manifests` would refuse `spec`: the features its gateway class
    cannot express, then what no class can express, then the limits of its class's objects.
    Empty when the spec renders."""
    version = spec.get("spec_version")
    if version != SPEC_VERSION:
        # A newer control plane may send specs an older agent cannot read: refuse them
        # rather than apply a guess (docs/upgrading.md says which side to upgrade first).
        return [
            f"spec version {version} is not supported by this translator (it reads version "
            f"{SPEC_VERSION}); upgrade the agent"
        ]
    gateway_class = spec["gateway"]["gateway_class"]
    errors = unsupported_features(spec, gateway_class)
    if gateway_class in DRIVERS:
        errors += spec_errors(spec) + DRIVERS[gateway_class].class_errors(spec)
    return errors


def render_manifests(
    spec: RevisionSpec, *, revision: int, capabilities: Capabilities | None = None
) -> list[dict[str, Any]]:
    """The manifests of `spec` at `revision` for the cluster described by `capabilities`.

    Raises TranslationError listing every feature the spec's gateway class cannot express and
    every part of the spec no class can: nothing is dropped silently.
    """
    errors = translation_errors(spec)
    if errors:
        raise TranslationError(errors)
    gateway_class = spec["gateway"]["gateway_class"]
    class_names = (capabilities or {}).get("gateway_class_names") or {}
    ctx = RenderContext(
        spec=spec,
        revision=revision,
        gateway_class_name=class_names.get(gateway_class, gateway_class),
        names=ObjectNames(publish_base_name(spec["publish"])),
    )
    manifests = sorted(DRIVERS[gateway_class].render(ctx), key=_sort_key)
    # Drivers share sub-structures between objects (one filter list for every rule of a
    # route); the caller gets plain, unshared JSON data, which also dumps without YAML anchors.
    # orjson makes that copy several times faster than the json module (it was half the cost).
    return orjson.loads(orjson.dumps(manifests))
