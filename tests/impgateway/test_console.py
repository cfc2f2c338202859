"""The console without a browser: the dashboard's constant query count and scoping, the audit
trail written by the admin, the API and the publishing and cluster services, and the Korean UI."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIRequestFactory, force_authenticate

from catalog.api.views import APIServiceViewSet
from catalog.models import APIService, Route
from clusters.services import create_registration_token
from impgateway import rbac
from impgateway.dashboard import dashboard
from impgateway.models import AuditEvent, RoleGrant
from publishing import services
from publishing.models import DeploymentStatus
from tests.factories import (
    AgentFactory,
    APIServiceFactory,
    BackendFactory,
    ClusterFactory,
    ListenerFactory,
    ProductPublishFactory,
    RouteFactory,
    TenantFactory,
)

pytestmark = pytest.mark.django_db


def org_admin(tenant, username: str = "provider"):
    user = get_user_model().objects.create_user(username, is_staff=True)
    grant = RoleGrant(user=user, role="org-admin", scope="org", tenant=tenant)
    grant.full_clean()
    rbac.save_object(grant)
    return get_user_model().objects.get(pk=user.pk)


def published(tenant, cluster, slug: str):
    service = APIServiceFactory(tenant=tenant, name=f"{slug}-service")
    backend = BackendFactory(service=service, name="upstream")
    RouteFactory(service=service, backend=backend, name="items", path=f"/{slug}/items")
    publish = ProductPublishFactory(tenant=tenant, cluster=cluster, product__slug=slug)
    ListenerFactory(gateway=publish.gateway)
    publish.api_services.set([service])
    services.publish_revision(publish)
    DeploymentStatus.objects.create(
        publish=publish, publish_ref=publish.pk, cluster=cluster, state="Applying",
        errors=[f"{slug}: HTTPRoute not accepted"],
    )
    rbac.sync_all()
    return publish


def build(tenant, count: int, start: int = 0) -> None:
    for number in range(start, start + count):
        cluster = ClusterFactory(name=f"{tenant.slug}-cluster-{number}")
        AgentFactory(cluster=cluster, status="connected")
        AgentFactory(cluster=cluster, status="disconnected")
        published(tenant, cluster, f"{tenant.slug}-p{number}")


def test_dashboard_queries_do_not_grow_with_the_data_and_stay_in_scope():
    acme, globex = TenantFactory(slug="acme"), TenantFactory(slug="globex")
    user = org_admin(acme)
    build(acme, 1)
    build(globex, 1)
    ContentType.objects.clear_cache()
    with CaptureQueriesContext(connection) as few:
        board = dashboard(user)
    build(acme, 4, start=1)
    user = get_user_model().objects.get(pk=user.pk)
    ContentType.objects.clear_cache()
    with CaptureQueriesContext(connection) as many:
        bigger = dashboard(user)
    assert len(many) == len(few), "\n".join(q["sql"][:150] for q in [*few, {"sql": "-----"}, *many])
    assert len(board["unready_deployments"]) == 1
    assert len(bigger["unready_deployments"]) == 5
    names = {item["deployment"].publish.product.slug for item in bigger["unready_deployments"]}
    assert all(name.startswith("acme-") for name in names)
    # Whoever may create publishes sees every cluster to choose from (rbac.REGISTRY).
    assert {f"acme-cluster-{n}" for n in range(5)} <= {c.name for c in bigger["clusters"]}
    counts = {row.environment: row.by_status for row in bigger["publish_counts"]}
    assert ("PUBLISHED", "Published", 5) in counts["dev"]
    first = bigger["clusters"][0]
    assert (first.agents_online, first.agents_offline) == (1, 1)
    assert bigger["unready_deployments"][0]["last_error"].endswith("not accepted")


def test_admin_index_shows_the_dashboard(client):
    acme = TenantFactory(slug="acme")
    build(acme, 1)
    client.force_login(org_admin(acme))
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="dashboard-clusters"' in page
    assert "acme-cluster-0" in page
    assert "HTTPRoute not accepted" in page


def test_admin_saves_inlines_and_deletes_are_audited_without_secrets(client):
    acme = TenantFactory(slug="acme")
    user = org_admin(acme)
    client.force_login(user)
    service = APIServiceFactory(tenant=acme, name="orders")
    backend = BackendFactory(service=service, name="upstream")
    route = RouteFactory(service=service, backend=backend, name="list", path="/orders")
    rbac.sync_all()
    url = reverse("admin:catalog_apiservice_change", args=[service.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: value for name, value in form.initial.items() if value is not None
    } | {"tenant": acme.pk, "name": "orders", "version": "v1", "protocol": "HTTP",
         "status": service.status, "description": "renamed"}
    for prefix, total in (("backends", 1), ("routes", 1), ("policies", 0)):
        data |= {f"{prefix}-TOTAL_FORMS": total, f"{prefix}-INITIAL_FORMS": total,
                 f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000}
    data |= {"backends-0-id": backend.pk, "backends-0-service": service.pk,
             "backends-0-name": "upstream", "backends-0-endpoints": '["http://orders:8080"]',
             "backends-0-load_balancing": backend.load_balancing,
             "backends-0-timeout_seconds": backend.timeout_seconds,
             "backends-0-retry_attempts": backend.retry_attempts,
             "backends-0-health_check_interval_seconds": backend.health_check_interval_seconds}
    data |= {"routes-0-id": route.pk, "routes-0-service": service.pk, "routes-0-name": "list",
             "routes-0-path": "/orders/v2", "routes-0-match_type": route.match_type,
             "routes-0-header_matches": "[]", "routes-0-backend": backend.pk}
    data.pop("seen_updated", None)
    data = {name: "" if value is None else value for name, value in data.items()}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    events = AuditEvent.objects.filter(source="console").order_by("pk")
    changed = {(e.content_type.model, e.action): e for e in events}
    assert changed[("apiservice", "update")].after["description"] == "renamed"
    assert changed[("apiservice", "update")].username == "provider"
    route_event = changed[("route", "update")]
    assert (route_event.before["path"], route_event.after["path"]) == ("/orders", "/orders/v2")

    # The object's History link shows its trail.
    history = client.get(reverse("admin:catalog_route_history", args=[route.pk]))
    assert "/orders/v2" in history.content.decode()

    client.post(reverse("admin:catalog_route_delete", args=[route.pk]), {"post": "yes"})
    deleted = AuditEvent.objects.get(action="delete", content_type__model="route")
    assert deleted.before["path"] == "/orders/v2" and deleted.after is None

    token, _secret = create_registration_token(ClusterFactory(), user=user)
    event = AuditEvent.objects.get(content_type__model="registrationtoken")
    assert "token_hash" not in event.after and event.after["id"] == token.pk


def test_api_writes_are_audited():
    acme = TenantFactory(slug="acme")
    user = org_admin(acme)
    factory = APIRequestFactory()
    create = factory.post(
        "/api/v1/api-services/",
        {"tenant": acme.pk, "name": "billing", "version": "v1", "protocol": "HTTP"},
        format="json",
    )
    force_authenticate(create, user=user)
    response = APIServiceViewSet.as_view({"post": "create"})(create)
    assert response.status_code == 201, response.data
    service = APIService.objects.get(name="billing")
    delete = factory.delete(f"/api/v1/api-services/{service.pk}/")
    force_authenticate(delete, user=user)
    response = APIServiceViewSet.as_view({"delete": "destroy"})(delete, pk=service.pk)
    assert response.status_code == 204, response.data
    actions = list(
        AuditEvent.objects.filter(source="api").order_by("pk").values_list("action", "username")
    )
    assert actions == [("create", "provider"), ("delete", "provider")]


def test_publishing_operations_are_audited_with_the_user():
    acme = TenantFactory(slug="acme")
    user = org_admin(acme)
    first, second = ClusterFactory(region="kr-seoul"), ClusterFactory(region="kr-busan")
    publish = published(acme, first, "orders")
    AuditEvent.objects.all().delete()
    Route.objects.filter(service__tenant=acme).update(path="/orders/v2")
    services.publish_revision(publish, user)
    services.publish_revision(publish, user)  # no change: no event
    services.rollback(publish, 1, user)
    services.move_publish(publish, second, user)
    services.withdraw(publish, user)
    events = list(AuditEvent.objects.order_by("pk").values_list("action", "username"))
    assert events == [
        ("publish", "provider"),
        ("rollback", "provider"),
        ("move", "provider"),
        ("publish", "provider"),
        ("withdraw", "provider"),
    ]
    withdraw = AuditEvent.objects.get(action="withdraw")
    assert (withdraw.before["status"], withdraw.after["status"]) == ("PUBLISHED", "WITHDRAWN")


def test_users_see_only_audit_events_of_objects_they_may_view(client):
    acme, globex = TenantFactory(slug="acme"), TenantFactory(slug="globex")
    user = org_admin(acme)
    outsider = org_admin(globex, "outsider")
    published(acme, ClusterFactory(), "orders")
    publish = published(globex, ClusterFactory(), "billing")
    services.withdraw(publish, outsider)
    services.withdraw(published(acme, ClusterFactory(), "shipping"), user)
    visible = rbac.restrict(AuditEvent.objects.all(), user)
    assert set(visible.values_list("object_repr", flat=True)) == {
        str(p) for p in user_visible_publishes(user)
    }
    client.force_login(user)
    page = client.get(reverse("admin:impgateway_auditevent_changelist")).content.decode()
    assert "shipping" in page and "billing" not in page


def user_visible_publishes(user):
    from publishing.models import ProductPublish

    return rbac.restrict(ProductPublish.objects.all(), user)


@pytest.mark.parametrize("how", ["header", "cookie"])
def test_the_console_speaks_korean(client, how):
    acme = TenantFactory(slug="acme")
    build(acme, 1)
    client.force_login(org_admin(acme))
    if how == "cookie":
        client.cookies["django_language"] = "ko"
        page = client.get(reverse("admin:index"))
    else:
        page = client.get(reverse("admin:index"), headers={"accept-language": "ko"})
    text = page.content.decode()
    assert "클러스터와 에이전트" in text  # the dashboard
    assert "준비되지 않은 배포" in text
    assert 'lang="ko"' in text
    english = client.get(reverse("admin:index"), headers={"accept-language": "en"})
    if how == "header":
        assert "Clusters and agents" in english.content.decode()


def test_the_language_switcher_sets_korean(client):
    acme = TenantFactory(slug="acme")
    client.force_login(org_admin(acme))
    response = client.post(reverse("set_language"), {"language": "ko", "next": "/admin/"})
    assert response.status_code == 302
    page = client.get("/admin/").content.decode()
    assert 'id="language-select"' in page and "최근 변경" in page
