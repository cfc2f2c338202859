"""Subscriptions and API keys in the console: requested, decided, cancelled, made, rotated and
revoked through the services (as in the API), with read-only pages whose buttons are the
operations the user may run; refusals show on the form or as messages, never as a 500."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from catalog import services
from catalog.models import APIKey, Subscription
from clusters.desired_state import render_desired_state
from impgateway import rbac
from impgateway.models import AuditEvent, RoleGrant
from tests.factories import ClusterFactory, CustomerFactory, ProductFactory

from .customer_data import provider_world, published_publish, revisions


def console_for(name: str, **grant) -> tuple[Client, object]:
    user = get_user_model().objects.create_user(name, is_staff=True)
    scope_object = grant[rbac.SCOPE_FIELDS[grant["scope"]]]
    rbac.save_object(RoleGrant(user=user, tenant=scope_object.tenant, **grant))
    client = Client()
    client.force_login(user)
    return client, user


def subscription_url(subscription: Subscription, view: str = "change", *args) -> str:
    return reverse(f"admin:catalog_subscription_{view}", args=[subscription.pk, *args])


def buttons(response) -> set[str]:
    return {item["name"] for item in response.context["object_actions"]}


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def shop(db):
    product = ProductFactory(requires_approval=True)
    published_publish(product, ClusterFactory(region="kr-seoul"), "prod")
    customer = CustomerFactory(tenant=product.tenant)
    owner, owner_user = console_for(
        "owner", role="customer-admin", scope="customer", customer=customer
    )
    provider, provider_user = console_for(
        "provider", role="business-manager", scope="product", product=product
    )
    return {
        "product": product,
        "customer": customer,
        "owner": owner,
        "provider": provider,
        "provider_user": provider_user,
    }


@pytest.mark.django_db
def test_a_customer_admin_cannot_approve_its_own_subscription_in_the_console(shop):
    subscription = services.request_subscription(shop["customer"], shop["product"], "prod")
    page = shop["owner"].get(subscription_url(subscription))
    assert page.status_code == 200
    assert "status" not in page.context["adminform"].form.fields
    assert buttons(page) == {"cancel_subscriptions"}
    # Not through the button, not through the changelist action, not by a forged POST.
    approve = subscription_url(subscription, "object_action", "approve_subscriptions")
    refusal = "Only the product's provider approves or rejects its subscriptions."
    for response in (
        shop["owner"].post(approve, follow=True),
        shop["owner"].post(
            reverse("admin:catalog_subscription_changelist"),
            {"action": "approve_subscriptions", "_selected_action": [subscription.pk]},
            follow=True,
        ),
    ):
        assert messages_of(response) == [f"{subscription}: {refusal}"]
    forged = shop["owner"].post(subscription_url(subscription), {"status": "active"})
    assert forged.status_code == 403
    subscription.refresh_from_db()
    assert subscription.status == "pending"
    assert not AuditEvent.objects.filter(action="update", object_id=subscription.pk).exists()

    # The provider approves: the decider is recorded, from the console.
    page = shop["provider"].get(subscription_url(subscription))
    assert buttons(page) == {
        "approve_subscriptions",
        "reject_subscriptions",
        "cancel_subscriptions",
    }
    assert 'class="object-action object-action-approve_subscriptions"' in page.content.decode()
    response = shop["provider"].post(approve, follow=True)
    assert messages_of(response) == ["1 subscription approved."]
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert subscription.decided_by == shop["provider_user"]
    event = AuditEvent.objects.get(action="update", object_id=subscription.pk)
    assert (event.username, event.source) == ("provider", "console")
    assert event.after["status"] == "active"
    # Decided: only cancelling is left.
    assert buttons(shop["provider"].get(subscription_url(subscription))) == {
        "cancel_subscriptions"
    }


@pytest.mark.django_db(transaction=True)
def test_cancelling_in_the_console_takes_the_keys_out_of_the_clusters():
    world = provider_world()
    customer = CustomerFactory(tenant=world["tenant"])
    subscription = services.request_subscription(customer, world["product"], "prod")
    issued = services.create_api_key(subscription, "ci")

    def served() -> set[str]:
        _revision, body = render_desired_state(world["prod_a"].pk)
        return {
            key
            for publish in json.loads(body)["publishes"]
            for consumer in publish["spec"]["consumers"]
            for key in consumer["api_keys"]
        }

    assert served() == {issued.secret}
    owner, _user = console_for("owner", role="customer-admin", scope="customer", customer=customer)
    before = revisions(world["prod_a"], world["prod_b"], world["dev"], world["elsewhere"])
    response = owner.post(subscription_url(subscription, "object_action", "cancel_subscriptions"))
    assert response.status_code == 302
    after = revisions(world["prod_a"], world["prod_b"], world["dev"], world["elsewhere"])
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 0, 0]
    assert served() == set()
    assert APIKey.objects.get().revoked_at is not None
    assert Subscription.objects.get().status == "cancelled"


@pytest.mark.django_db
def test_the_console_requests_subscriptions_by_the_products_rule(shop):
    free = ProductFactory(tenant=shop["product"].tenant, requires_approval=False)
    rbac.sync_all()
    add_url = reverse("admin:catalog_subscription_add")
    form = shop["owner"].get(add_url).context["adminform"].form
    assert set(form.fields) == {"customer", "product", "environment", "seen_updated"}

    def request(product, environment: str, **forged):
        data = {"customer": shop["customer"].pk, "product": product.pk, "environment": environment}
        return shop["owner"].post(add_url, {**data, **forged})

    assert request(free, "prod", status="pending").status_code == 302
    assert request(shop["product"], "prod", status="active").status_code == 302
    assert dict(Subscription.objects.values_list("product__slug", "status")) == {
        free.slug: "active",
        shop["product"].slug: "pending",
    }
    assert set(Subscription.objects.values_list("requested_by__username", flat=True)) == {"owner"}
    assert set(AuditEvent.objects.filter(action="create").values_list("source", flat=True)) == {
        "console"
    }
    # The service's refusal shows on the field, and nothing is written.
    again = request(free, "prod")
    assert again.status_code == 200
    assert "already has an open subscription" in str(
        again.context["adminform"].form.errors["environment"]
    )
    assert Subscription.objects.count() == 2


@pytest.mark.django_db
def test_a_key_of_a_pending_subscription_reads_pending_until_approved(shop):
    subscription = services.request_subscription(shop["customer"], shop["product"], "prod")
    response = shop["owner"].post(
        reverse("admin:catalog_apikey_add"),
        {"subscription": subscription.pk, "name": "ci", "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    message = messages_of(response)[0]
    key = APIKey.objects.get()
    assert message.startswith("API key ci: igw_") and key.prefix in message
    changelist = shop["owner"].get(reverse("admin:catalog_apikey_changelist")).content.decode()
    assert "Waiting for approval" in changelist and ">Active<" not in changelist
    api = APIClient()
    api.force_login(get_user_model().objects.get(username="owner"))
    assert api.get(f"/api/v1/api-keys/{key.pk}/").json()["status"] == "pending"
    services.approve_subscription(subscription)
    assert api.get(f"/api/v1/api-keys/{key.pk}/").json()["status"] == "active"
    page = shop["owner"].get(reverse("admin:catalog_apikey_change", args=[key.pk]))
    assert buttons(page) == {"rotate_keys", "revoke_keys"}
    assert "name" not in page.context["adminform"].form.fields


@pytest.mark.django_db
def test_a_key_for_a_cancelled_subscription_is_a_form_error_not_a_500(shop):
    subscription = services.request_subscription(shop["customer"], shop["product"], "prod")
    services.cancel_subscription(subscription)
    response = shop["owner"].post(
        reverse("admin:catalog_apikey_add"),
        {"subscription": subscription.pk, "name": "ci", "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "keys need an open subscription; this one is cancelled" in str(errors["subscription"])
    assert not APIKey.objects.exists()


@pytest.mark.django_db
def test_the_operations_speak_korean(shop):
    subscription = services.request_subscription(shop["customer"], shop["product"], "prod")
    services.create_api_key(subscription, "ci")
    korean = {"accept-language": "ko"}
    page = shop["provider"].get(subscription_url(subscription), headers=korean).content.decode()
    assert all(label in page for label in ("승인</button>", "거절</button>", "구독 취소</button>"))
    keys = shop["owner"].get(reverse("admin:catalog_apikey_changelist"), headers=korean)
    assert "승인 대기 중" in keys.content.decode()
    response = shop["provider"].post(
        subscription_url(subscription, "object_action", "approve_subscriptions"),
        headers=korean,
        follow=True,
    )
    assert messages_of(response) == ["구독 1개를 승인했습니다."]
