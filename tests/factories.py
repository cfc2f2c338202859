"""factory_boy factories for every model; tests build exactly what they need."""

from __future__ import annotations

import factory

from catalog.choices import GatewayClass, ListenerProtocol, TLSMode
from catalog.models import (
    APIService,
    Backend,
    Customer,
    Gateway,
    Listener,
    Policy,
    Product,
    Route,
    Subscription,
    Tenant,
)
from clusters.choices import CloudProvider
from clusters.models import Agent, Cluster
from publishing.models import ProductPublish


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")


class APIServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = APIService

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"service-{n}")


class BackendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Backend

    service = factory.SubFactory(APIServiceFactory)
    name = factory.Sequence(lambda n: f"backend-{n}")
    endpoints = factory.LazyFunction(lambda: ["upstream.default.svc.cluster.local:8080"])


class RouteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Route

    service = factory.SubFactory(APIServiceFactory)
    name = factory.Sequence(lambda n: f"route-{n}")
    path = factory.Sequence(lambda n: f"/v1/things-{n}")


class PolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Policy

    service = factory.SubFactory(APIServiceFactory)
    name = factory.Sequence(lambda n: f"policy-{n}")
    kind = "rate_limit"
    config = factory.LazyFunction(lambda: {"requests": 10, "unit": "Minute"})


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.Sequence(lambda n: f"product-{n}")


class GatewayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Gateway

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"gateway-{n}")
    gateway_class = GatewayClass.ENVOY_GATEWAY


class ListenerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Listener

    gateway = factory.SubFactory(GatewayFactory)
    name = "http"
    port = 80
    protocol = ListenerProtocol.HTTP


class HTTPSListenerFactory(ListenerFactory):
    name = "https"
    port = 443
    protocol = ListenerProtocol.HTTPS
    tls_mode = TLSMode.TERMINATE
    certificate_ref = "example-tls"


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster

    name = factory.Sequence(lambda n: f"cluster-{n}")
    region = factory.Sequence(lambda n: f"region-{n}")
    cloud_provider = CloudProvider.AWS


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    cluster = factory.SubFactory(ClusterFactory)
    name = factory.Sequence(lambda n: f"agent-{n}")


class ProductPublishFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductPublish

    tenant = factory.SubFactory(TenantFactory)
    product = factory.SubFactory(ProductFactory, tenant=factory.SelfAttribute("..tenant"))
    gateway = factory.SubFactory(GatewayFactory, tenant=factory.SelfAttribute("..tenant"))
    cluster = factory.SubFactory(ClusterFactory)
    environment = "dev"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Customer {n}")
    slug = factory.Sequence(lambda n: f"customer-{n}")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(ProductFactory, tenant=factory.SelfAttribute("..customer.tenant"))
    environment = "prod"
