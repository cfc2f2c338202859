"""Builders for the customer tests: a provider's product published with API keys on clusters,
and customers subscribed to it."""

from __future__ import annotations

from catalog import services
from catalog.models import Subscription
from clusters.models import Cluster
from publishing.models import ProductPublish
from publishing.services import publish_revision
from tests.factories import (
    APIServiceFactory,
    BackendFactory,
    ClusterFactory,
    CustomerFactory,
    GatewayFactory,
    ListenerFactory,
    ProductFactory,
    ProductPublishFactory,
    RouteFactory,
    TenantFactory,
)


def published_publish(
    product, cluster: Cluster, environment: str = "prod", auth_mode: str = "apikey"
) -> ProductPublish:
    """A published API-key publish of `product` on `cluster` in `environment`."""
    tenant = product.tenant
    gateway = GatewayFactory(tenant=tenant)
    ListenerFactory(gateway=gateway)
    service = APIServiceFactory(tenant=tenant)
    backend = BackendFactory(service=service, name="upstream")
    RouteFactory(service=service, backend=backend, name="items", path=f"/{product.slug}/items")
    publish = ProductPublishFactory(
        tenant=tenant,
        product=product,
        gateway=gateway,
        cluster=cluster,
        environment=environment,
        auth_mode=auth_mode,
    )
    publish.api_services.set([service])
    publish_revision(publish)
    publish.refresh_from_db()
    return publish


def revision(cluster: Cluster) -> int:
    return Cluster.objects.get(pk=cluster.pk).desired_state_revision


def revisions(*clusters: Cluster) -> list[int]:
    return [revision(cluster) for cluster in clusters]


def active_subscription(product, environment: str = "prod", customer=None) -> Subscription:
    customer = customer or CustomerFactory(tenant=product.tenant)
    return services.request_subscription(customer, product, environment)


def provider_world():
    """A tenant with a product published (apikey) on two prod clusters and one dev cluster,
    and another product on a fourth cluster."""
    tenant = TenantFactory()
    product = ProductFactory(tenant=tenant)
    other_product = ProductFactory(tenant=tenant)
    prod_a, prod_b = ClusterFactory(), ClusterFactory()
    dev, elsewhere = ClusterFactory(), ClusterFactory()
    published_publish(product, prod_a, "prod")
    published_publish(product, prod_b, "prod")
    published_publish(product, dev, "dev")
    published_publish(other_product, elsewhere, "prod")
    return {
        "tenant": tenant,
        "product": product,
        "other_product": other_product,
        "prod_a": prod_a,
        "prod_b": prod_b,
        "dev": dev,
        "elsewhere": elsewhere,
    }
