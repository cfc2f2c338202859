"""The revision spec: the plain-data snapshot of a publish that agents receive and translate.

A spec is JSON-serialisable, sorted, and versioned by `spec_version`. `publishing.services`
builds it from the database; `publishing.translation` turns it into manifests. The shapes
below are the contract between the two (and the wire format of the agent protocol).
"""

from __future__ import annotations

from typing import Literal, TypedDict

SPEC_VERSION = 1


class ProductSpec(TypedDict):
    slug: str  # DNS label, first label of the hostnames
    name: str
    version: str


class PublishSpec(TypedDict):
    id: int  # ProductPublish primary key; labels every object
    # "{product-slug}-{environment}": with the id, the base name of the Kubernetes objects
    # (naming.publish_base_name)
    name: str
    namespace: str  # the cluster's namespace for gateway resources
    tenant: str  # tenant slug
    environment: Literal["dev", "staging", "prod"]
    auth_mode: Literal["none", "apikey", "oauth2"]
    hostnames: list[str]  # generated hostnames, sorted
    product: ProductSpec


class CertificateRefSpec(TypedDict):
    namespace: str | None  # None: the publish namespace
    name: str


class ListenerSpec(TypedDict):
    name: str  # DNS label, the Gateway listener (section) name
    port: int
    protocol: Literal["HTTP", "HTTPS", "GRPC", "TLS", "TCP"]
    hostname: str | None  # None: the publish's hostnames
    tls_mode: Literal["Terminate", "Passthrough"] | None
    certificate_ref: CertificateRefSpec | None


class GatewaySpec(TypedDict):
    name: str  # the gateway template's name
    gateway_class: Literal["envoy-gateway", "nginx", "kong", "traefik", "apisix"]
    labels: dict[str, str]
    listeners: list[ListenerSpec]  # sorted by port, name


class EndpointSpec(TypedDict):
    scheme: Literal["http", "https"]
    host: str  # DNS name or IP address
    port: int
    path: str  # "" or a base path without trailing slash


class HealthCheckSpec(TypedDict):
    path: str
    interval_seconds: int


class BackendSpec(TypedDict):
    name: str
    endpoints: list[EndpointSpec]
    load_balancing: Literal["round_robin", "least_request", "random", "consistent_hash"]
    timeout_seconds: int | None
    retry_attempts: int  # 0: no retries
    health_check: HealthCheckSpec | None


class HeaderMatchSpec(TypedDict):
    name: str
    value: str
    type: Literal["Exact", "RegularExpression"]


class RouteSpec(TypedDict):
    name: str
    # HTTP: a URL path (or a regex); gRPC: "package.Service" or "package.Service/Method"
    path: str
    match_type: Literal["Exact", "PathPrefix", "RegularExpression"]
    methods: list[str]  # empty: any method
    header_matches: list[HeaderMatchSpec]
    backend: str  # name of a backend of the same service (always resolved)
    rewrite_path_prefix: str | None
    timeout_seconds: int | None


class PolicySpec(TypedDict):
    name: str
    kind: Literal["rate_limit", "cors", "request_headers", "ip_allowlist"]
    # normalised by catalog.policies.clean_policy_config:
    # rate_limit: {"requests": int, "unit": "Second|Minute|Hour|Day"}
    # cors: {"allow_origins", "allow_methods", "allow_headers", "expose_headers": [str],
    #        "max_age_seconds": int, "allow_credentials": bool}
    # request_headers: {"set": {name: value}, "remove": [name]}
    # ip_allowlist: {"cidrs": [str]}
    config: dict


class ServiceSpec(TypedDict):
    name: str
    version: str
    protocol: Literal["HTTP", "GRPC"]
    backends: list[BackendSpec]  # sorted by name
    routes: list[RouteSpec]  # sorted by name
    policies: list[PolicySpec]  # only enabled ones that apply to the environment; sorted by name


class OAuth2Spec(TypedDict):
    issuer: str
    jwks_uri: str
    audiences: list[str]


class ConsumerSpec(TypedDict):
    name: str  # DNS label, unique within the publish (one per subscription)
    api_keys: list[str]  # the secrets gateways check; sorted


class RevisionSpec(TypedDict):
    spec_version: int
    publish: PublishSpec
    gateway: GatewaySpec
    services: list[ServiceSpec]  # sorted by name
    oauth2: OAuth2Spec | None  # set when auth_mode is oauth2
    consumers: list[ConsumerSpec]  # API-key consumers when auth_mode is apikey; sorted by name


class Capabilities(TypedDict, total=False):
    """What a cluster's agent reported; every key may be missing when nothing is known."""

    kubernetes_version: str  # e.g. "1.32"
    # Imp-Gateway gateway classes whose controller runs in the cluster, e.g. ["envoy-gateway"]
    gateway_classes: list[str]
    # the GatewayClass object to use per class when it is not named like the class,
    # e.g. {"envoy-gateway": "eg"}
    gateway_class_names: dict[str, str]
    crds: list[str]  # "<group>/<version>/<Kind>", e.g. "gateway.envoyproxy.io/v1alpha1/Backend"
