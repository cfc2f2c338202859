"""Demo data: the architecture document's multi-cluster example, created idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from catalog.choices import (
    APIServiceStatus,
    Environment,
    GatewayClass,
    ListenerProtocol,
    PathMatchType,
    PolicyKind,
    TLSMode,
)
from catalog.models import (
    APIService,
    Backend,
    Customer,
    Gateway,
    Listener,
    Policy,
    Product,
    Route,
    Tenant,
)
from clusters.choices import CloudProvider
from clusters.models import Cluster
from impgateway import rbac
from publishing.choices import AuthMode
from publishing.models import ProductPublish
from publishing.services import publish_revision

SERVICES = {
    "payment-service": {
        "description": "Card and bank-transfer payments.",
        "backend": {
            "name": "payment-backend",
            "endpoints": ["payment.payments.svc.cluster.local:8080"],
            "timeout_seconds": 10,
            "retry_attempts": 2,
            "health_check_path": "/healthz",
        },
        "routes": [
            ("payments", "/v1/payments", PathMatchType.PATH_PREFIX, ["GET", "POST"], []),
            (
                "payment-by-id",
                "/v1/payments/[0-9a-f-]{36}",
                PathMatchType.REGULAR_EXPRESSION,
                ["GET"],
                [],
            ),
            (
                "capture-payment",
                "/v1/payments/capture",
                PathMatchType.EXACT,
                ["POST"],
                [{"name": "x-api-version", "value": "2025-11", "type": "Exact"}],
            ),
        ],
        "policies": [
            (
                "rate-limit-prod",
                PolicyKind.RATE_LIMIT,
                {"requests": 100, "unit": "Minute"},
                [Environment.PROD],
            ),
            (
                "rate-limit-relaxed",
                PolicyKind.RATE_LIMIT,
                {"requests": 1000, "unit": "Minute"},
                [Environment.DEV, Environment.STAGING],
            ),
            (
                "cors",
                PolicyKind.CORS,
                {
                    "allow_origins": ["https://shop.imprun.dev"],
                    "allow_methods": ["GET", "POST"],
                    "allow_headers": ["authorization", "content-type"],
                },
                [],
            ),
        ],
    },
    "refund-service": {
        "description": "Full and partial refunds of captured payments.",
        "backend": {
            "name": "refund-backend",
            "endpoints": ["refund.payments.svc.cluster.local:8080"],
            "timeout_seconds": 15,
            "retry_attempts": 1,
            "health_check_path": "/healthz",
        },
        "routes": [
            ("refunds", "/v1/refunds", PathMatchType.PATH_PREFIX, ["GET", "POST"], []),
        ],
        "policies": [
            (
                "rate-limit-prod",
                PolicyKind.RATE_LIMIT,
                {"requests": 50, "unit": "Minute"},
                [Environment.PROD],
            ),
            (
                "rate-limit-relaxed",
                PolicyKind.RATE_LIMIT,
                {"requests": 500, "unit": "Minute"},
                [Environment.DEV, Environment.STAGING],
            ),
        ],
    },
    "debug-service": {
        "description": "Request echo and tracing helpers for integration testing.",
        "backend": {
            "name": "debug-backend",
            "endpoints": ["http://debug.tools.svc.cluster.local:9000"],
            "timeout_seconds": 5,
            "retry_attempts": 0,
            "health_check_path": "",
        },
        "routes": [
            ("debug", "/debug", PathMatchType.PATH_PREFIX, ["GET"], []),
        ],
        "policies": [
            (
                "office-only",
                PolicyKind.IP_ALLOWLIST,
                {"cidrs": ["10.0.0.0/8", "192.168.0.0/16"]},
                [],
            ),
        ],
    },
}

GATEWAYS = {
    "gateway-envoy-prod": "payment-api-tls",
    "gateway-envoy-dev": "dev-wildcard-tls",
}

CLUSTERS = {
    "cluster-kr-seoul": "kr-seoul",
    "cluster-us-virginia": "us-virginia",
}

PUBLISHES = [
    # cluster, environment, gateway, services, auth mode
    (
        "cluster-kr-seoul",
        Environment.PROD,
        "gateway-envoy-prod",
        ["payment-service", "refund-service"],
        AuthMode.API_KEY,
    ),
    (
        "cluster-us-virginia",
        Environment.PROD,
        "gateway-envoy-prod",
        ["payment-service", "refund-service"],
        AuthMode.API_KEY,
    ),
    (
        "cluster-kr-seoul",
        Environment.DEV,
        "gateway-envoy-dev",
        ["payment-service", "refund-service", "debug-service"],
        AuthMode.NONE,
    ),
]


@dataclass
class DemoData:
    tenant: Tenant
    product: Product
    publishes: list[ProductPublish]


@transaction.atomic
def create_demo_data() -> DemoData:
    """Create or bring back to shape the demo tenant, catalog, clusters and publishes."""
    tenant, _created = Tenant.objects.update_or_create(
        slug="imprun", defaults={"name": "Imprun", "description": "Demo organisation."}
    )
    services = {name: _service(tenant, name, definition) for name, definition in SERVICES.items()}
    product, _created = Product.objects.update_or_create(
        tenant=tenant,
        slug="payment-api",
        defaults={
            "name": "Payment API",
            "version": "1.0",
            "description": "Accept payments and issue refunds.",
            "categories": ["payments"],
            "tags": ["fintech", "payments"],
            "documentation_url": "https://docs.imprun.dev/payment-api",
        },
    )
    gateways = {name: _gateway(tenant, name, cert) for name, cert in GATEWAYS.items()}
    clusters = {
        name: Cluster.objects.update_or_create(
            name=name,
            defaults={"region": region, "cloud_provider": CloudProvider.AWS},
        )[0]
        for name, region in CLUSTERS.items()
    }
    publishes = []
    for cluster_name, environment, gateway_name, service_names, auth_mode in PUBLISHES:
        publish, _created = ProductPublish.objects.update_or_create(
            product=product,
            cluster=clusters[cluster_name],
            environment=environment,
            defaults={
                "tenant": tenant,
                "gateway": gateways[gateway_name],
                "auth_mode": auth_mode,
            },
        )
        publish.api_services.set([services[name] for name in service_names])
        # Publishing is idempotent: no change since the last run makes no new revision.
        publish_revision(publish)
        publishes.append(publish)
    # The demo realm's customer groups (docker/keycloak/) point at this customer.
    Customer.objects.update_or_create(
        tenant=tenant,
        slug="demo-shop",
        defaults={"name": "Demo Shop", "contact_email": "dev@shop.example.com"},
    )
    # Objects made here bypass the admin and API save paths: give grants their permissions.
    rbac.sync_all()
    return DemoData(tenant=tenant, product=product, publishes=publishes)


def _service(tenant: Tenant, name: str, definition: dict) -> APIService:
    service, _created = APIService.objects.update_or_create(
        tenant=tenant,
        name=name,
        defaults={
            "version": "v1",
            "status": APIServiceStatus.ACTIVE,
            "description": definition["description"],
        },
    )
    backend_fields = dict(definition["backend"])
    backend, _created = Backend.objects.update_or_create(
        service=service, name=backend_fields.pop("name"), defaults=backend_fields
    )
    for route_name, path, match_type, methods, headers in definition["routes"]:
        Route.objects.update_or_create(
            service=service,
            name=route_name,
            defaults={
                "path": path,
                "match_type": match_type,
                "methods": methods,
                "header_matches": headers,
                "backend": backend,
            },
        )
    for policy_name, kind, config, environments in definition["policies"]:
        policy = Policy(
            service=service,
            name=policy_name,
            kind=kind,
            config=config,
            environments=list(environments),
        )
        policy.full_clean(exclude=["service", "name"], validate_unique=False)
        Policy.objects.update_or_create(
            service=service,
            name=policy_name,
            defaults={"kind": kind, "config": policy.config, "environments": policy.environments},
        )
    return service


def _gateway(tenant: Tenant, name: str, certificate: str) -> Gateway:
    gateway, _created = Gateway.objects.update_or_create(
        tenant=tenant,
        name=name,
        defaults={
            "gateway_class": GatewayClass.ENVOY_GATEWAY,
            "labels": {"imprun.dev/environment": name.rsplit("-", 1)[-1]},
        },
    )
    Listener.objects.update_or_create(
        gateway=gateway, name="http", defaults={"port": 80, "protocol": ListenerProtocol.HTTP}
    )
    Listener.objects.update_or_create(
        gateway=gateway,
        name="https",
        defaults={
            "port": 443,
            "protocol": ListenerProtocol.HTTPS,
            "tls_mode": TLSMode.TERMINATE,
            "certificate_ref": certificate,
        },
    )
    return gateway
