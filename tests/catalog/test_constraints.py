"""Rules the database itself enforces, bypassing model validation (run on PostgreSQL in CI)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from catalog.models import Backend, Listener
from tests.factories import APIServiceFactory, GatewayFactory, ProductFactory, TenantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("database constraints are checked on PostgreSQL (set DATABASE_URL)")


@pytest.mark.parametrize(
    ("create", "constraint"),
    [
        (
            lambda g: Listener.objects.create(gateway=g, name="x", port=0, protocol="HTTP"),
            "catalog_listener_port_range",
        ),
        (
            lambda g: Listener.objects.create(
                gateway=g, name="x", port=443, protocol="HTTPS", tls_mode="Terminate"
            ),
            "catalog_listener_terminate_needs_certificate",
        ),
    ],
)
def test_listener_constraints(create, constraint):
    gateway = GatewayFactory()
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        create(gateway)


def test_backend_retry_constraint():
    service = APIServiceFactory()
    with pytest.raises(IntegrityError, match="catalog_backend_retry_attempts_range"):
        with transaction.atomic():
            Backend.objects.create(service=service, name="b", endpoints=["a:1"], retry_attempts=99)


def test_product_slug_unique_across_tenants():
    """The slug names public hostnames: another tenant cannot take it (cluster isolation)."""
    ProductFactory(slug="payment-api")
    with pytest.raises(IntegrityError, match="catalog_product_unique_slug"):
        with transaction.atomic():
            ProductFactory(tenant=TenantFactory(), slug="payment-api")
