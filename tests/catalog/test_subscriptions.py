"""Subscriptions: requested pending or active by the product's rule, decided by providers,
cancelled with their keys, one open per customer, product and environment."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from catalog import services
from catalog.models import APIKey
from tests.factories import CustomerFactory, ProductFactory

from .customer_data import provider_world, revisions

pytestmark = pytest.mark.django_db(transaction=True)


def test_status_follows_requires_approval():
    free = ProductFactory(requires_approval=False)
    gated = ProductFactory(requires_approval=True, tenant=free.tenant)
    customer = CustomerFactory(tenant=free.tenant)
    assert services.request_subscription(customer, free, "prod").status == "active"
    pending = services.request_subscription(customer, gated, "prod")
    assert pending.status == "pending" and pending.decided_at is None


def test_one_open_subscription_per_product_and_environment():
    product = ProductFactory()
    customer = CustomerFactory(tenant=product.tenant)
    services.request_subscription(customer, product, "prod")
    with pytest.raises(ValidationError) as excinfo:
        services.request_subscription(customer, product, "prod")
    assert list(excinfo.value.message_dict) == ["environment"]
    services.request_subscription(customer, product, "dev")


def test_a_customer_subscribes_only_to_its_providers_products():
    customer = CustomerFactory()
    with pytest.raises(ValidationError) as excinfo:
        services.request_subscription(customer, ProductFactory(), "prod")
    assert list(excinfo.value.message_dict) == ["product"]


def test_decisions_only_on_pending_subscriptions_and_rejection_revokes_keys():
    product = ProductFactory(requires_approval=True)
    customer = CustomerFactory(tenant=product.tenant)
    subscription = services.request_subscription(customer, product, "prod")
    services.create_api_key(subscription, "early")
    rejected = services.reject_subscription(subscription)
    assert rejected.status == "rejected" and rejected.decided_at is not None
    assert APIKey.objects.get().revoked_at is not None
    with pytest.raises(ValidationError) as excinfo:
        services.approve_subscription(subscription)
    assert list(excinfo.value.message_dict) == ["status"]
    with pytest.raises(ValidationError):
        services.create_api_key(rejected, "late")


def test_cancelling_bumps_the_serving_clusters_only_when_it_was_active():
    world = provider_world()
    subscription = services.request_subscription(
        CustomerFactory(tenant=world["tenant"]), world["product"], "prod"
    )
    services.create_api_key(subscription, "ci")
    before = revisions(world["prod_a"], world["prod_b"], world["dev"], world["elsewhere"])
    services.cancel_subscription(subscription)
    after = revisions(world["prod_a"], world["prod_b"], world["dev"], world["elsewhere"])
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 0, 0]
    with pytest.raises(ValidationError) as excinfo:
        services.cancel_subscription(subscription)
    assert list(excinfo.value.message_dict) == ["status"]
