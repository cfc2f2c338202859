"""The customer API: catalog, customers, subscriptions and API keys for owners (customer
admin), providers (business manager) and outsiders; secrets shown once; constant list cost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import include, path
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import APIKey
from impgateway import rbac
from impgateway.models import RoleGrant
from tests.factories import ClusterFactory, CustomerFactory, ProductFactory

from .customer_data import published_publish

urlpatterns = [path("api/v1/", include("catalog.api.customer_urls"))]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def client_for(name: str, **grant) -> APIClient:
    user = get_user_model().objects.create_user(name)
    scope_object = grant[rbac.SCOPE_FIELDS[grant["scope"]]]
    rbac.save_object(RoleGrant(user=user, tenant=scope_object.tenant, **grant))
    api = APIClient()
    api.force_authenticate(get_user_model().objects.get(pk=user.pk))
    return api


@pytest.fixture
def shop():
    product = ProductFactory(requires_approval=True, documentation_url="https://docs.example.com")
    published_publish(product, ClusterFactory(region="kr-seoul"), "prod")
    customer = CustomerFactory(tenant=product.tenant)
    other = CustomerFactory(tenant=product.tenant)
    return {
        "product": product,
        "customer": customer,
        "owner": client_for("owner", role="customer-admin", scope="customer", customer=customer),
        "provider": client_for(
            "provider", role="business-manager", scope="product", product=product
        ),
        "outsider": client_for("outsider", role="customer-admin", scope="customer", customer=other),
    }


def subscribe(shop) -> dict:
    response = shop["owner"].post(
        "/api/v1/subscriptions/",
        {"customer": shop["customer"].pk, "product": shop["product"].pk, "environment": "prod"},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_the_catalog_shows_where_a_product_is_published(shop):
    response = shop["owner"].get("/api/v1/catalog/", {"environment": "prod"})
    assert response.status_code == 200
    [item] = response.json()["results"]
    assert item["documentation_url"] == "https://docs.example.com"
    assert item["environments"] == [
        {
            "environment": "prod",
            "auth_mode": "apikey",
            "base_urls": [f"http://{shop['product'].slug}.prod.kr-seoul.api.imprun.dev"],
        }
    ]
    assert shop["owner"].get("/api/v1/catalog/", {"environment": "dev"}).json()["results"] == []
    assert shop["owner"].post("/api/v1/catalog/", {}).status_code in (403, 405)


def test_subscribe_approve_key_rotate_revoke(shop):
    subscription = subscribe(shop)
    assert subscription["status"] == "pending"
    url = f"/api/v1/subscriptions/{subscription['id']}"
    # A customer admin may change its subscription but not approve it.
    assert shop["owner"].post(f"{url}/approve/").status_code == 403
    assert shop["outsider"].post(f"{url}/approve/").status_code == 404
    response = shop["provider"].post(f"{url}/approve/")
    assert response.status_code == 200 and response.json()["status"] == "active"

    response = shop["owner"].post(
        "/api/v1/api-keys/", {"subscription": subscription["id"], "name": "ci"}, format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"].startswith(created["prefix"])
    assert response["Cache-Control"] == "no-store"
    key_url = f"/api/v1/api-keys/{created['id']}"
    listed = shop["owner"].get("/api/v1/api-keys/").json()["results"]
    assert [item["prefix"] for item in listed] == [created["prefix"]]
    assert "secret" not in listed[0] and created["secret"] not in str(listed)
    # Providers see keys but never a secret: they cannot create or rotate.
    assert shop["provider"].get(key_url + "/").status_code == 200
    assert "secret" not in shop["provider"].get(key_url + "/").json()
    assert shop["provider"].post(f"{key_url}/rotate/").status_code == 403
    assert (
        shop["provider"]
        .post("/api/v1/api-keys/", {"subscription": subscription["id"], "name": "x"}, format="json")
        .status_code
        == 403
    )
    assert shop["outsider"].get(key_url + "/").status_code == 404
    assert shop["outsider"].get("/api/v1/api-keys/").json()["results"] == []

    rotated = shop["owner"].post(f"{key_url}/rotate/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != created["secret"]
    assert rotated.json()["last_rotated"] is not None
    revoked = shop["provider"].post(f"{key_url}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    again = shop["owner"].post(f"{key_url}/revoke/")
    assert again.status_code == 400 and "status" in again.json()
    assert shop["owner"].delete(key_url + "/").status_code == 405

    cancelled = shop["owner"].post(f"{url}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_errors_name_the_field(shop):
    subscription = subscribe(shop)
    again = shop["owner"].post(
        "/api/v1/subscriptions/",
        {"customer": shop["customer"].pk, "product": shop["product"].pk, "environment": "prod"},
        format="json",
    )
    assert again.status_code == 400 and list(again.json()) == ["environment"]
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = shop["owner"].post(
        "/api/v1/api-keys/",
        {"subscription": subscription["id"], "name": "ci", "expires_at": past},
        format="json",
    )
    assert response.status_code == 400 and list(response.json()) == ["expires_at"]
    response = shop["owner"].post(
        "/api/v1/api-keys/", {"subscription": subscription["id"]}, format="json"
    )
    assert response.status_code == 400 and list(response.json()) == ["name"]
    foreign = ProductFactory()
    response = shop["owner"].post(
        "/api/v1/subscriptions/",
        {"customer": shop["customer"].pk, "product": foreign.pk, "environment": "prod"},
        format="json",
    )
    assert response.status_code == 400 and list(response.json()) == ["product"]


def test_status_cannot_be_set_by_the_customer(shop):
    response = shop["owner"].post(
        "/api/v1/subscriptions/",
        {
            "customer": shop["customer"].pk,
            "product": shop["product"].pk,
            "environment": "prod",
            "status": "active",
        },
        format="json",
    )
    assert response.json()["status"] == "pending"


def test_anonymous_callers_are_refused():
    api = APIClient()
    for url in (
        "/api/v1/catalog/",
        "/api/v1/customers/",
        "/api/v1/subscriptions/",
        "/api/v1/api-keys/",
    ):
        assert api.get(url).status_code in (401, 403)


@pytest.mark.parametrize(
    "url", ["/api/v1/api-keys/", "/api/v1/subscriptions/", "/api/v1/customers/", "/api/v1/catalog/"]
)
def test_list_cost_does_not_grow_with_rows(shop, url, django_assert_max_num_queries):
    from catalog import services

    def add_rows(count: int) -> None:
        for _number in range(count):
            product = ProductFactory(tenant=shop["product"].tenant)
            published_publish(product, ClusterFactory(), "prod")
            subscription = services.request_subscription(shop["customer"], product, "prod")
            services.create_api_key(subscription, "ci")

    add_rows(1)
    rbac.sync_all()
    with django_assert_max_num_queries(12) as few:
        assert shop["owner"].get(url).status_code == 200
    add_rows(5)
    rbac.sync_all()
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = shop["owner"].get(url)
    assert response.status_code == 200 and response.json()["results"]
    assert APIKey.objects.count() == 6
