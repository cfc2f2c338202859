"""Publish, withdraw, roll back and inspect revisions from the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Route
from impgateway.demo import create_demo_data
from publishing.choices import PublishStatus
from publishing.models import ProductPublish

pytestmark = pytest.mark.django_db


@pytest.fixture
def publish():
    create_demo_data()
    return ProductPublish.objects.get(cluster__name="cluster-kr-seoul", environment="prod")


def url(name: str, *args) -> str:
    return reverse(f"admin:publishing_productpublish_{name}", args=args)


def test_publish_page_shows_revisions_and_state(admin_client, publish):
    body = admin_client.get(url("change", publish.pk)).content.decode()
    assert "The current revision matches the live definitions." in body
    assert url("manifests", publish.pk, 1) in body
    assert "payment-api.prod.kr-seoul.api.imprun.dev" in body


def test_unpublished_changes_diff_then_publish_with_confirmation(admin_client, publish):
    Route.objects.filter(name="refunds").update(path="/v2/refunds")
    body = admin_client.get(url("change", publish.pk)).content.decode()
    assert "Unpublished changes" in body
    diff = admin_client.get(url("diff", publish.pk)).content.decode()
    assert "+    path: /v2/refunds" in diff
    confirm = admin_client.get(url("publish", publish.pk))
    assert confirm.status_code == 200
    assert "/v2/refunds" in confirm.content.decode()
    publish.refresh_from_db()
    assert publish.current_revision.number == 1, "GET must not publish"
    response = admin_client.post(url("publish", publish.pk), follow=True)
    assert "Published revision 2." in response.content.decode()
    publish.refresh_from_db()
    assert publish.current_revision.number == 2


def test_manifests_of_any_revision_and_rollback(admin_client, publish):
    Route.objects.filter(name="refunds").update(path="/v2/refunds")
    admin_client.post(url("publish", publish.pk))
    page = admin_client.get(url("manifests", publish.pk, 1)).content.decode()
    assert "kind: HTTPRoute" in page
    assert "/v1/refunds" in page
    assert "Roll back to this revision" in page
    response = admin_client.post(url("rollback", publish.pk, 1), follow=True)
    assert "publishes the spec of revision 1 again" in response.content.decode()
    publish.refresh_from_db()
    assert publish.current_revision.number == 3
    assert publish.current_revision.rolled_back_from == 1


def test_withdraw_needs_confirmation(admin_client, publish):
    assert admin_client.get(url("withdraw", publish.pk)).status_code == 200
    publish.refresh_from_db()
    assert publish.status == PublishStatus.PUBLISHED
    admin_client.post(url("withdraw", publish.pk))
    publish.refresh_from_db()
    assert publish.status == PublishStatus.WITHDRAWN


def test_refused_publish_shows_the_reason(admin_client, publish):
    route = Route.objects.get(name="refunds")
    Route.objects.create(service=route.service, name="copy", path=route.path, methods=["GET"])
    response = admin_client.post(url("publish", publish.pk), follow=True)
    body = response.content.decode()
    assert "both serve payment-api.prod.kr-seoul.api.imprun.dev PathPrefix /v1/refunds" in body
    assert "copy" in body
    publish.refresh_from_db()
    assert publish.current_revision.number == 1


def test_user_without_publish_permission_cannot_publish(client, django_user_model, publish):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw-123456", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_productpublish"))
    client.force_login(user)
    assert client.post(url("publish", publish.pk)).status_code == 403
    assert client.get(url("manifests", publish.pk, 1)).status_code == 200
