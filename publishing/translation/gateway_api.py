"""The Gateway API objects every gateway class shares, and the base class of the drivers.

A publish becomes one Gateway, one HTTPRoute or GRPCRoute per route of its services, and the
objects behind each backend. There is one route object per spec route (not one per service)
because route-level settings and policies then attach to a whole object: Kong annotations,
NGINX Gateway Fabric policies and Envoy Gateway policies can all target a route object, while
only some classes can target a rule by section name; it also keeps every object far below the
16-rule limit of an HTTPRoute.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from .naming import ObjectNames, managed_labels
from .spec import BackendSpec, EndpointSpec, PolicySpec, RevisionSpec, RouteSpec, ServiceSpec

GATEWAY_API_GROUP = "gateway.networking.k8s.io"
GATEWAY_API_VERSION = f"{GATEWAY_API_GROUP}/v1"
# ReferenceGrant's storage version, served by every Gateway API release since v0.6 (v1 only
# since v1.5) and the version Envoy Gateway v1.9 watches.
REFERENCE_GRANT_VERSION = f"{GATEWAY_API_GROUP}/v1beta1"

# The header that carries API keys, for every gateway class: one contract for API consumers.
API_KEY_HEADER = "x-api-key"

# Limits of the Gateway API v1.6 schemas that a spec can exceed.
MAX_HOSTNAMES = 16
MAX_PARENT_REFS = 32
MAX_BACKEND_REFS = 16
MAX_HEADER_MATCHES = 16
MAX_HEADER_CHANGES = 16
MAX_PATH_LENGTH = 1024

# HTTPRoute CEL rules on Exact and PathPrefix paths.
_GATEWAY_PATH_RE = re.compile(r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$")
_FORBIDDEN_PATH_PARTS = ("//", "/./", "/../", "%2f", "%2F", "#")
# GRPCRoute CEL rules on method matches.
_GRPC_SERVICE_RE = re.compile(r"^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$", re.IGNORECASE)
_GRPC_METHOD_RE = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")

_SINGLE_POLICY_KINDS = ("rate_limit", "cors", "ip_allowlist")


class TranslationError(Exception):
    """A spec the target gateway class cannot express; `errors` holds one message per problem,
    each naming what is affected and why."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


@dataclass(frozen=True)
class RenderContext:
    """Everything a driver needs to render one revision: plain data, no I/O."""

    spec: RevisionSpec
    revision: int
    gateway_class_name: str
    names: ObjectNames

    @property
    def namespace(self) -> str:
        return self.spec["publish"]["namespace"]

    @property
    def labels(self) -> dict[str, str]:
        return managed_labels(self.spec, self.revision)

    @property
    def gateway_name(self) -> str:
        return self.names.name("Gateway")


def manifest(
    ctx: RenderContext,
    api_version: str,
    kind: str,
    name: str,
    body: dict[str, Any],
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """A namespaced object of the publish with the managed labels (plus `labels`), in the
    publish namespace unless `namespace` names another."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace or ctx.namespace,
        "labels": {**(labels or {}), **ctx.labels},
    }
    if annotations:
        metadata["annotations"] = dict(sorted(annotations.items()))
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}


def full_match_pattern(pattern: str) -> str:
    """`pattern` anchored at both ends: a RegularExpression path matches when the whole request
    path matches the RE2 pattern, whether the gateway searches, anchors the start, or matches
    the whole path (the group keeps a top-level '|' inside the anchors)."""
    return f"^(?:{pattern})$"


def gateway_duration(seconds: int) -> str:
    """A Gateway API Duration ("1h2m3s"); each component has at most five digits."""
    if seconds <= 99999:
        return f"{seconds}s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h" + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")


def secret_data(values: dict[str, str]) -> dict[str, str]:
    """Secret `data` (base64), not `stringData`: what the API server stores, so a comparison
    with the live object shows no false drift."""
    return {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}


# --- Reading the spec -------------------------------------------------------------------------


def find_backend(service: ServiceSpec, name: str) -> BackendSpec:
    for backend in service["backends"]:
        if backend["name"] == name:
            return backend
    raise TranslationError([f"service '{service['name']}' has no backend '{name}'"])


def policies_of(service: ServiceSpec, kind: str) -> list[PolicySpec]:
    return [policy for policy in service["policies"] if policy["kind"] == kind]


def single_policy(service: ServiceSpec, kind: str) -> PolicySpec | None:
    """The one policy of `kind` of a service (spec_errors refuses more than one)."""
    policies = policies_of(service, kind)
    return policies[0] if policies else None


def request_header_changes(service: ServiceSpec) -> tuple[dict[str, str], list[str]]:
    """The request_headers policies of a service merged in name order (a later policy wins a
    header both set), as (set, remove)."""
    set_headers: dict[str, str] = {}
    remove: list[str] = []
    for policy in policies_of(service, "request_headers"):
        set_headers.update(policy["config"]["set"])
        remove.extend(name for name in policy["config"]["remove"] if name not in remove)
    return dict(sorted(set_headers.items())), sorted(remove)


def base_path(backend: BackendSpec) -> str:
    """The base path all endpoints of a backend share ("" for none)."""
    return backend["endpoints"][0]["path"] if backend["endpoints"] else ""


@functools.lru_cache(maxsize=4096)
def is_ip_address(host: str) -> bool:
    # Pure and asked for every endpoint of every route: cached, it stops dominating renders.
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def backend_scheme(backend: BackendSpec) -> str:
    return backend["endpoints"][0]["scheme"] if backend["endpoints"] else "http"


def routes_using(service: ServiceSpec, backend: BackendSpec) -> list[RouteSpec]:
    return [route for route in service["routes"] if route["backend"] == backend["name"]]


# --- Checks every class shares ----------------------------------------------------------------


def spec_errors(spec: RevisionSpec) -> list[str]:
    """What no gateway class can express, whatever its features: each message names the object
    and the rule."""
    errors: list[str] = []
    gateway = spec["gateway"]
    if len(spec["publish"]["hostnames"]) > MAX_HOSTNAMES:
        errors.append(
            f"publish '{spec['publish']['name']}' has more than {MAX_HOSTNAMES} hostnames"
        )
    for protocol, listeners in (
        ("HTTP", http_listeners(spec)),
        ("GRPC", grpc_listeners(spec)),
    ):
        needed = any(service["protocol"] == protocol for service in spec["services"])
        if needed and not listeners:
            wanted = "HTTP or HTTPS" if protocol == "HTTP" else "GRPC or HTTPS"
            errors.append(
                f"gateway '{gateway['name']}' has no {wanted} listener for the "
                f"{'gRPC' if protocol == 'GRPC' else 'HTTP'} services of the publish"
            )
        if len(listeners) > MAX_PARENT_REFS:
            errors.append(
                f"gateway '{gateway['name']}' has more than {MAX_PARENT_REFS} listeners for "
                f"{protocol} routes"
            )
    if spec["publish"]["auth_mode"] == "oauth2" and not spec["oauth2"]:
        errors.append("auth mode oauth2 needs the token issuer and the JWKS URI")
    for service in spec["services"]:
        errors += _service_errors(service)
    return errors


def _service_errors(service: ServiceSpec) -> list[str]:
    errors: list[str] = []
    name = service["name"]
    backend_names = {backend["name"] for backend in service["backends"]}
    for kind in _SINGLE_POLICY_KINDS:
        policies = policies_of(service, kind)
        if len(policies) > 1:
            errors.append(
                f"service '{name}': policies "
                f"{', '.join(repr(p['name']) for p in policies)} are all {kind}; a service "
                f"takes one {kind} policy"
            )
    set_headers, remove = request_header_changes(service)
    if len(set_headers) > MAX_HEADER_CHANGES or len(remove) > MAX_HEADER_CHANGES:
        errors.append(
            f"service '{name}': request_headers policies set or remove more than "
            f"{MAX_HEADER_CHANGES} headers"
        )
    for policy in policies_of(service, "request_headers"):
        for header, value in policy["config"]["set"].items():
            if not value:
                errors.append(
                    f"policy '{policy['name']}' of service '{name}': header '{header}' needs a "
                    "non-empty value (use 'remove' to drop a header)"
                )
    if service["protocol"] == "GRPC":
        for policy in policies_of(service, "cors"):
            errors.append(
                f"policy '{policy['name']}' of service '{name}': CORS applies to HTTP APIs "
                "called from browsers, not to gRPC services"
            )
    for backend in service["backends"]:
        errors += _backend_errors(service, backend)
    for route in service["routes"]:
        where = f"route '{route['name']}' of service '{name}'"
        if route["backend"] not in backend_names:
            errors.append(f"{where}: the service has no backend '{route['backend']}'")
            continue
        backend = find_backend(service, route["backend"])
        # A CORS preflight match adds a header match of its own.
        limit = MAX_HEADER_MATCHES - (1 if needs_preflight_match(service, route) else 0)
        if len(route["header_matches"]) > limit:
            errors.append(f"{where}: more than {limit} header matches")
        if service["protocol"] == "GRPC":
            errors += _grpc_route_errors(where, route, backend)
        else:
            errors += _http_route_errors(where, route, backend)
    return errors


def _backend_errors(service: ServiceSpec, backend: BackendSpec) -> list[str]:
    where = f"backend '{backend['name']}' of service '{service['name']}'"
    endpoints = backend["endpoints"]
    if not endpoints:
        return [f"{where} has no endpoints"]
    errors = []
    if len({endpoint["scheme"] for endpoint in endpoints}) > 1:
        errors.append(f"{where} mixes http and https endpoints; split it into two backends")
    if len({endpoint["path"] for endpoint in endpoints}) > 1:
        errors.append(f"{where}: its endpoints have different base paths")
    for endpoint in endpoints:
        if endpoint["scheme"] == "https" and is_ip_address(endpoint["host"]):
            errors.append(
                f"{where}: https endpoint '{endpoint['host']}' needs a DNS name, against which "
                "the gateway verifies the certificate"
            )
    if len(hostname_targets(backend)) + (1 if ip_endpoints(backend) else 0) > MAX_BACKEND_REFS:
        errors.append(f"{where} has more than {MAX_BACKEND_REFS} distinct host names")
    return errors


def _http_route_errors(where: str, route: RouteSpec, backend: BackendSpec) -> list[str]:
    errors = []
    path = route["path"]
    if len(path) > MAX_PATH_LENGTH:
        errors.append(f"{where}: the path is longer than {MAX_PATH_LENGTH} characters")
    if route["match_type"] != "RegularExpression":
        bad = [part for part in _FORBIDDEN_PATH_PARTS if part in path]
        if bad or path.endswith(("/..", "/.")) or not _GATEWAY_PATH_RE.match(path):
            errors.append(
                f"{where}: path '{path}' is not a normalised URL path (no '//', '/./', "
                "'/../', '%2f', '#', no trailing '/.' or '/..', '%' only before two hex digits)"
            )
    elif base_path(backend):
        errors.append(
            f"{where}: a regular-expression path cannot be forwarded under the base path "
            f"'{base_path(backend)}' of backend '{backend['name']}'"
        )
    return errors


def _grpc_route_errors(where: str, route: RouteSpec, backend: BackendSpec) -> list[str]:
    errors = []
    service_part, _slash, method_part = route["path"].partition("/")
    if not _GRPC_SERVICE_RE.match(service_part) or (
        method_part and not _GRPC_METHOD_RE.match(method_part)
    ):
        errors.append(f"{where}: '{route['path']}' is not 'package.Service[/Method]'")
    if base_path(backend):
        errors.append(
            f"{where}: gRPC calls cannot be forwarded under the base path "
            f"'{base_path(backend)}' of backend '{backend['name']}'"
        )
    return errors


# --- Gateway ----------------------------------------------------------------------------------


def http_listeners(spec: RevisionSpec) -> list[str]:
    """Listeners HTTPRoutes attach to."""
    return [
        listener["name"]
        for listener in spec["gateway"]["listeners"]
        if listener["protocol"] in ("HTTP", "HTTPS")
    ]


def grpc_listeners(spec: RevisionSpec) -> list[str]:
    """Listeners GRPCRoutes attach to: the GRPC listeners, or else the HTTPS ones (gRPC needs
    HTTP/2, which clients negotiate over TLS)."""
    listeners = spec["gateway"]["listeners"]
    grpc = [listener["name"] for listener in listeners if listener["protocol"] == "GRPC"]
    return grpc or [listener["name"] for listener in listeners if listener["protocol"] == "HTTPS"]


def listener_hostname(spec: RevisionSpec, listener: dict) -> str | None:
    """The template's hostname, else the publish's hostname when it has exactly one. With
    several hostnames the listener takes any: the routes carry the publish's hostnames, and
    the Gateway serves this publish only."""
    if listener["protocol"] == "TCP":
        return None
    if listener["hostname"]:
        return listener["hostname"]
    hostnames = spec["publish"]["hostnames"]
    return hostnames[0] if len(hostnames) == 1 else None


def gateway(ctx: RenderContext) -> dict[str, Any]:
    """The publish's Gateway. TCP listeners, and TLS listeners that terminate, are rendered as
    the template declares them; Imp-Gateway attaches no routes to them (it publishes HTTP and
    gRPC services)."""
    spec = ctx.spec
    listeners = []
    for listener in spec["gateway"]["listeners"]:
        protocol = listener["protocol"]
        rendered: dict[str, Any] = {"name": listener["name"]}
        hostname = listener_hostname(spec, listener)
        if hostname:
            rendered["hostname"] = hostname
        rendered["port"] = listener["port"]
        if protocol == "GRPC":
            protocol = "HTTPS" if listener["tls_mode"] == "Terminate" else "HTTP"
        rendered["protocol"] = protocol
        if listener["tls_mode"] and protocol != "HTTP":
            tls: dict[str, Any] = {"mode": listener["tls_mode"]}
            ref = listener["certificate_ref"]
            if listener["tls_mode"] == "Terminate" and ref:
                certificate = {"group": "", "kind": "Secret", "name": ref["name"]}
                if ref["namespace"] and ref["namespace"] != ctx.namespace:
                    # A Secret in another namespace also needs a ReferenceGrant there.
                    certificate["namespace"] = ref["namespace"]
                tls["certificateRefs"] = [certificate]
            rendered["tls"] = tls
        allowed: dict[str, Any] = {"namespaces": {"from": "Same"}}
        if listener["protocol"] == "GRPC":
            allowed["kinds"] = [{"group": GATEWAY_API_GROUP, "kind": "GRPCRoute"}]
        rendered["allowedRoutes"] = allowed
        listeners.append(rendered)
    return manifest(
        ctx,
        GATEWAY_API_VERSION,
        "Gateway",
        ctx.gateway_name,
        {"spec": {"gatewayClassName": ctx.gateway_class_name, "listeners": listeners}},
        labels=spec["gateway"]["labels"],
    )


def foreign_certificates(ctx: RenderContext) -> list[tuple[str, str]]:
    """(namespace, Secret name) of the listener certificates outside the publish namespace,
    each once, in listener order."""
    found: list[tuple[str, str]] = []
    for listener in ctx.spec["gateway"]["listeners"]:
        ref = listener["certificate_ref"]
        if listener["tls_mode"] != "Terminate" or not ref:
            continue
        if ref["namespace"] and ref["namespace"] != ctx.namespace:
            certificate = (ref["namespace"], ref["name"])
            if certificate not in found:
                found.append(certificate)
    return found


def certificate_reference_grants(ctx: RenderContext) -> list[dict[str, Any]]:
    """A ReferenceGrant in the namespace of each foreign certificate, letting the publish's
    Gateway (Gateways of the publish namespace, as the API grants by namespace) read that one
    Secret: every class refuses a cross-namespace certificateRef without it (the listener is
    RefNotPermitted and serves nothing)."""
    return [
        manifest(
            ctx,
            REFERENCE_GRANT_VERSION,
            "ReferenceGrant",
            ctx.names.name("ReferenceGrant", "tls", secret),
            {
                "spec": {
                    "from": [
                        {
                            "group": GATEWAY_API_GROUP,
                            "kind": "Gateway",
                            "namespace": ctx.namespace,
                        }
                    ],
                    "to": [{"group": "", "kind": "Secret", "name": secret}],
                }
            },
            namespace=namespace,
        )
        for namespace, secret in foreign_certificates(ctx)
    ]


# --- Backends as Kubernetes Services ----------------------------------------------------------


def ip_endpoints(backend: BackendSpec) -> list[EndpointSpec]:
    return [endpoint for endpoint in backend["endpoints"] if is_ip_address(endpoint["host"])]


def hostname_targets(backend: BackendSpec) -> list[tuple[str, int]]:
    """Distinct (host, port) of the DNS-named endpoints, in spec order."""
    targets: list[tuple[str, int]] = []
    for endpoint in backend["endpoints"]:
        target = (endpoint["host"], endpoint["port"])
        if not is_ip_address(endpoint["host"]) and target not in targets:
            targets.append(target)
    return targets


@dataclass(frozen=True)
class ServiceTarget:
    """One Kubernetes Service standing for (part of) a backend."""

    name: str
    port: int
    weight: int
    external_name: str | None  # set for an ExternalName Service
    # (address, port) of the endpoints of a selector-less Service
    addresses: tuple[tuple[str, int], ...] = ()


def service_targets(
    ctx: RenderContext,
    service: ServiceSpec,
    backend: BackendSpec,
    *,
    one_per_endpoint: bool = False,
) -> list[ServiceTarget]:
    """The Services of a backend: one selector-less Service (with EndpointSlices) for all its IP
    endpoints, and one ExternalName Service per DNS name, since EndpointSlices of type FQDN have
    no defined meaning and most gateways ignore them. Weights keep traffic even per endpoint.

    With `one_per_endpoint`, each IP endpoint gets a Service of its own, for classes whose
    upstream of several endpoints would pass a request on to another endpoint by itself."""
    targets: list[ServiceTarget] = []
    addresses: list[tuple[str, int]] = []
    for endpoint in ip_endpoints(backend):
        address = (str(ipaddress.ip_address(endpoint["host"])), endpoint["port"])
        if address not in addresses:
            addresses.append(address)
    groups = [[address] for address in addresses] if one_per_endpoint else [addresses]
    for group in groups:
        if group:
            targets.append(
                ServiceTarget(
                    _service_name(ctx, service, backend, len(targets)),
                    group[0][1],
                    len(group),
                    None,
                    tuple(group),
                )
            )
    for host, port in hostname_targets(backend):
        targets.append(
            ServiceTarget(_service_name(ctx, service, backend, len(targets)), port, 1, host)
        )
    if len(targets) == 1:
        # A lone target takes all traffic whatever its weight; 1 reads plainly.
        lone = targets[0]
        targets[0] = ServiceTarget(lone.name, lone.port, 1, lone.external_name, lone.addresses)
    return targets


def _service_name(
    ctx: RenderContext, service: ServiceSpec, backend: BackendSpec, index: int
) -> str:
    parts = (service["name"], backend["name"]) + ((str(index + 1),) if index else ())
    return ctx.names.name("Service", *parts)


def service_backend_refs(
    ctx: RenderContext,
    service: ServiceSpec,
    backend: BackendSpec,
    *,
    one_per_endpoint: bool = False,
) -> list[dict[str, Any]]:
    return [
        {
            "group": "",
            "kind": "Service",
            "name": target.name,
            "port": target.port,
            "weight": target.weight,
        }
        for target in service_targets(ctx, service, backend, one_per_endpoint=one_per_endpoint)
    ]


def service_objects(
    ctx: RenderContext,
    service: ServiceSpec,
    backend: BackendSpec,
    *,
    annotations: dict[str, str] | None = None,
    one_per_endpoint: bool = False,
) -> list[dict[str, Any]]:
    """Services (and EndpointSlices) for a backend's endpoints; `annotations` go on every
    Service (classes such as Kong read backend settings from there)."""
    scheme = backend_scheme(backend)
    objects = []
    for target in service_targets(ctx, service, backend, one_per_endpoint=one_per_endpoint):
        port = {"name": scheme, "protocol": "TCP", "port": target.port}
        if target.external_name:
            body = {"type": "ExternalName", "externalName": target.external_name, "ports": [port]}
        else:
            port["targetPort"] = target.port
            body = {"type": "ClusterIP", "ports": [port]}
        objects.append(
            manifest(ctx, "v1", "Service", target.name, {"spec": body}, annotations=annotations)
        )
        if not target.external_name:
            objects += _endpoint_slices(ctx, target, scheme)
    return objects


def _endpoint_slices(
    ctx: RenderContext, target: ServiceTarget, scheme: str
) -> list[dict[str, Any]]:
    # One slice per address family and port: a slice has one address type and one port list.
    groups: dict[tuple[str, int], list[str]] = {}
    for address, port in target.addresses:
        family = "IPv6" if ipaddress.ip_address(address).version == 6 else "IPv4"
        groups.setdefault((family, port), []).append(address)
    slices = []
    for (family, port), addresses in sorted(groups.items()):
        name = ctx.names.child("EndpointSlice", target.name, family.lower(), str(port))
        slices.append(
            manifest(
                ctx,
                "discovery.k8s.io/v1",
                "EndpointSlice",
                name,
                {
                    "addressType": family,
                    "endpoints": [
                        {"addresses": [address], "conditions": {"ready": True}}
                        for address in addresses
                    ],
                    "ports": [{"name": scheme, "protocol": "TCP", "port": port}],
                },
                labels={
                    "kubernetes.io/service-name": target.name,
                    # Tells the EndpointSlice controller these slices are not its own.
                    "endpointslice.kubernetes.io/managed-by": "imp-gateway",
                },
            )
        )
    return slices


def backend_tls_policies(
    ctx: RenderContext,
    service: ServiceSpec,
    backend: BackendSpec,
    *,
    one_per_endpoint: bool = False,
) -> list[dict[str, Any]]:
    """For https backends: a BackendTLSPolicy per ExternalName Service, verifying the endpoint's
    certificate for its host name against the system CAs."""
    if backend_scheme(backend) != "https":
        return []
    return [
        manifest(
            ctx,
            GATEWAY_API_VERSION,
            "BackendTLSPolicy",
            target.name,
            {
                "spec": {
                    "targetRefs": [{"group": "", "kind": "Service", "name": target.name}],
                    "validation": {
                        "hostname": target.external_name,
                        "wellKnownCACertificates": "System",
                    },
                }
            },
        )
        for target in service_targets(ctx, service, backend, one_per_endpoint=one_per_endpoint)
        if target.external_name
    ]


# --- Routes -----------------------------------------------------------------------------------


def route_name(ctx: RenderContext, service: ServiceSpec, route: RouteSpec) -> str:
    # HTTPRoutes and GRPCRoutes share one scope: policies target them by name.
    return ctx.names.name("Route", service["name"], route["name"])


def route_kind(service: ServiceSpec) -> str:
    return "GRPCRoute" if service["protocol"] == "GRPC" else "HTTPRoute"


def route_target_ref(ctx: RenderContext, service: ServiceSpec, route: RouteSpec) -> dict[str, str]:
    return {
        "group": GATEWAY_API_GROUP,
        "kind": route_kind(service),
        "name": route_name(ctx, service, route),
    }


def service_route_refs(ctx: RenderContext, service: ServiceSpec) -> list[dict[str, str]]:
    return [route_target_ref(ctx, service, route) for route in service["routes"]]


def extension_ref_filter(group: str, kind: str, name: str) -> dict[str, Any]:
    return {"type": "ExtensionRef", "extensionRef": {"group": group, "kind": kind, "name": name}}


def request_header_filter(service: ServiceSpec) -> list[dict[str, Any]]:
    set_headers, remove = request_header_changes(service)
    if not set_headers and not remove:
        return []
    modifier: dict[str, Any] = {}
    if set_headers:
        modifier["set"] = [{"name": name, "value": value} for name, value in set_headers.items()]
    if remove:
        modifier["remove"] = remove
    return [{"type": "RequestHeaderModifier", "requestHeaderModifier": modifier}]


def standard_cors_filter(service: ServiceSpec) -> list[dict[str, Any]]:
    """The HTTPRoute CORS filter, for classes that implement it."""
    policy = single_policy(service, "cors")
    if policy is None:
        return []
    config = policy["config"]
    # '*' may not stand beside other origins; it already allows them all.
    origins = ["*"] if "*" in config["allow_origins"] else config["allow_origins"]
    cors: dict[str, Any] = {"allowOrigins": origins, "allowMethods": config["allow_methods"]}
    if config["allow_headers"]:
        cors["allowHeaders"] = config["allow_headers"]
    if config["expose_headers"]:
        cors["exposeHeaders"] = config["expose_headers"]
    # The schema's minimum is 1 second: the closest it gets to "do not cache".
    cors["maxAge"] = max(1, config["max_age_seconds"])
    cors["allowCredentials"] = config["allow_credentials"]
    return [{"type": "CORS", "cors": cors}]


def _join_path(base: str, path: str) -> str:
    return base + path if path != "/" else (base or "/")


def url_rewrite_filter(route: RouteSpec, backend: BackendSpec) -> list[dict[str, Any]]:
    """URLRewrite for a prefix rewrite and for a backend base path (the upstream sees
    base path + rewritten path), plus the Host of a backend named by a single DNS name, which
    external APIs route by; backends of several hosts keep the client's Host."""
    base = base_path(backend)
    rewrite: dict[str, Any] = {}
    hosts = hostname_targets(backend)
    if hosts and not ip_endpoints(backend) and len({host for host, _port in hosts}) == 1:
        rewrite["hostname"] = hosts[0][0]
    if route["match_type"] == "PathPrefix" and (base or route["rewrite_path_prefix"]):
        prefix = route["rewrite_path_prefix"] or route["path"]
        rewrite["path"] = {
            "type": "ReplacePrefixMatch",
            "replacePrefixMatch": _join_path(base, prefix),
        }
    elif route["match_type"] == "Exact" and base:
        rewrite["path"] = {"type": "ReplaceFullPath", "replaceFullPath": base + route["path"]}
    if not rewrite:
        return []
    return [{"type": "URLRewrite", "urlRewrite": rewrite}]


PREFLIGHT_HEADER_MATCH = {
    "type": "RegularExpression",
    "name": "access-control-request-method",
    "value": ".+",
}


def needs_preflight_match(service: ServiceSpec, route: RouteSpec) -> bool:
    return (
        single_policy(service, "cors") is not None
        and bool(route["methods"])
        and "OPTIONS" not in route["methods"]
    )


def _header_matches(route: RouteSpec) -> list[dict[str, str]]:
    return [
        {"type": header["type"], "name": header["name"], "value": header["value"]}
        for header in route["header_matches"]
    ]


def http_route(
    ctx: RenderContext,
    service: ServiceSpec,
    route: RouteSpec,
    *,
    backend_refs: list[dict[str, Any]],
    filters: list[dict[str, Any]],
    timeouts: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    path: str | None = None,
) -> dict[str, Any]:
    """An HTTPRoute with one rule per method: a URLRewrite ReplacePrefixMatch filter allows a
    single match per rule, and a rule per method keeps every rule's filters identical.
    `path` replaces the route's path as matched (a class's form of a regular expression)."""
    base_match: dict[str, Any] = {
        "path": {"type": route["match_type"], "value": route["path"] if path is None else path}
    }
    if route["header_matches"]:
        base_match["headers"] = _header_matches(route)
    matches = [{**base_match, "method": method} for method in route["methods"]] or [base_match]
    if needs_preflight_match(service, route):
        # A route limited to some methods would not match the browser's OPTIONS preflight,
        # and the CORS handling attached to the route would never answer it.
        matches.append(
            {
                **base_match,
                "headers": [*base_match.get("headers", []), PREFLIGHT_HEADER_MATCH],
                "method": "OPTIONS",
            }
        )
    rules = []
    for match in matches:
        rule: dict[str, Any] = {"matches": [match]}
        if filters:
            rule["filters"] = filters
        rule["backendRefs"] = backend_refs
        if timeouts:
            rule["timeouts"] = timeouts
        rules.append(rule)
    return _route_object(ctx, service, route, http_listeners(ctx.spec), rules, annotations)


def grpc_route(
    ctx: RenderContext,
    service: ServiceSpec,
    route: RouteSpec,
    *,
    backend_refs: list[dict[str, Any]],
    filters: list[dict[str, Any]],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    service_part, _slash, method_part = route["path"].partition("/")
    method: dict[str, str] = {"type": "Exact", "service": service_part}
    if method_part:
        method["method"] = method_part
    match: dict[str, Any] = {"method": method}
    if route["header_matches"]:
        match["headers"] = _header_matches(route)
    rule: dict[str, Any] = {"matches": [match]}
    if filters:
        rule["filters"] = filters
    rule["backendRefs"] = backend_refs
    return _route_object(ctx, service, route, grpc_listeners(ctx.spec), [rule], annotations)


def _route_object(
    ctx: RenderContext,
    service: ServiceSpec,
    route: RouteSpec,
    listeners: list[str],
    rules: list[dict[str, Any]],
    annotations: dict[str, str] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "parentRefs": [
            {
                "group": GATEWAY_API_GROUP,
                "kind": "Gateway",
                "name": ctx.gateway_name,
                "sectionName": listener,
            }
            for listener in listeners
        ]
    }
    if ctx.spec["publish"]["hostnames"]:
        body["hostnames"] = list(ctx.spec["publish"]["hostnames"])
    body["rules"] = rules
    return manifest(
        ctx,
        GATEWAY_API_VERSION,
        route_kind(service),
        route_name(ctx, service, route),
        {"spec": body},
        annotations=annotations,
    )


# --- The driver base class --------------------------------------------------------------------


class GatewayAPIDriver:
    """Renders a publish through the Gateway API; subclasses add their class's objects through
    the hooks below. Stateless: one instance serves every render."""

    name: ClassVar[str]

    def class_errors(self, spec: RevisionSpec) -> list[str]:
        """What this class cannot express beyond the features of the capability matrix (a
        feature it supports only in part, limits of its objects or of its controller's
        validation); each message names the class, the part of the spec and the rule. Empty
        when the spec renders."""
        return []

    def render(self, ctx: RenderContext) -> list[dict[str, Any]]:
        manifests = [gateway(ctx), *certificate_reference_grants(ctx)]
        for service in ctx.spec["services"]:
            for backend in service["backends"]:
                manifests += self.backend_objects(ctx, service, backend)
            for route in service["routes"]:
                manifests.append(self.route_object(ctx, service, route))
            manifests += self.service_objects(ctx, service)
        manifests += self.publish_objects(ctx)
        return manifests

    def route_object(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec
    ) -> dict[str, Any]:
        backend = find_backend(service, route["backend"])
        refs = self.backend_refs(ctx, service, backend)
        annotations = self.route_annotations(ctx, service, route)
        if service["protocol"] == "GRPC":
            return grpc_route(
                ctx,
                service,
                route,
                backend_refs=refs,
                filters=self.grpc_route_filters(ctx, service, route, backend),
                annotations=annotations,
            )
        return http_route(
            ctx,
            service,
            route,
            backend_refs=refs,
            filters=self.http_route_filters(ctx, service, route, backend),
            timeouts=self.route_timeouts(ctx, service, route, backend),
            annotations=annotations,
            path=self.match_path(route),
        )

    # Hooks ------------------------------------------------------------------------------------

    def backend_objects(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        """The objects standing for a backend (default: Services and EndpointSlices)."""
        return service_objects(ctx, service, backend)

    def backend_refs(
        self, ctx: RenderContext, service: ServiceSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        return service_backend_refs(ctx, service, backend)

    def extension_filters(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        """ExtensionRef filters of the class, applied before the standard filters."""
        return []

    def http_route_filters(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        return (
            self.extension_filters(ctx, service, route, backend)
            + request_header_filter(service)
            + url_rewrite_filter(route, backend)
        )

    def grpc_route_filters(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, backend: BackendSpec
    ) -> list[dict[str, Any]]:
        return self.extension_filters(ctx, service, route, backend) + request_header_filter(service)

    def route_timeouts(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec, backend: BackendSpec
    ) -> dict[str, str] | None:
        """HTTPRoute rule timeouts; only classes that honour them emit any."""
        return None

    def match_path(self, route: RouteSpec) -> str:
        """The HTTPRoute path value of a route: the spec's path, unless the class needs a
        regular expression rewritten to match whole paths (see full_match_pattern)."""
        return route["path"]

    def route_annotations(
        self, ctx: RenderContext, service: ServiceSpec, route: RouteSpec
    ) -> dict[str, str] | None:
        return None

    def service_objects(self, ctx: RenderContext, service: ServiceSpec) -> list[dict[str, Any]]:
        """Per-service policies and plugins."""
        return []

    def publish_objects(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """Objects of the whole publish: consumers, credentials, authentication."""
        return []
