"""The provider API of publishing: publishes and the release actions (publish, withdraw,
rollback, move), revisions, manifests, diff and deployment status; who may do what."""

from __future__ import annotations

import pytest
import yaml
from rest_framework.test import APIClient

from impgateway import rbac
from impgateway.models import AuditEvent
from publishing.choices import PublishStatus
from publishing.models import DeploymentStatus, ProductPublish
from tests.factories import (
    APIServiceFactory,
    BackendFactory,
    ClusterFactory,
    GatewayFactory,
    ListenerFactory,
    ProductFactory,
    ProductPublishFactory,
    RouteFactory,
    TenantFactory,
)
from tests.impgateway.test_rbac_world import build_world, grant_role

pytestmark = pytest.mark.django_db


def make_publish(tenant, **kwargs) -> ProductPublish:
    gateway = GatewayFactory(tenant=tenant)
    ListenerFactory(gateway=gateway)
    publish = ProductPublishFactory(tenant=tenant, gateway=gateway, **kwargs)
    backend = BackendFactory(service__tenant=tenant)
    RouteFactory(service=backend.service, backend=backend)
    publish.api_services.add(backend.service)
    rbac.sync_all()
    return publish


@pytest.fixture
def world():
    return build_world()


def client_for(world, role: str, scope: str = "org", username: str = "persona") -> APIClient:
    api = APIClient()
    api.force_login(grant_role(world, role, scope, username=username))
    return api


def url(publish, action: str = "") -> str:
    return f"/api/v1/publishes/{publish.pk}/" + (f"{action}/" if action else "")


def test_developer_creates_publishes_and_rolls_back(world):
    api = client_for(world, "api-developer")
    tenant = world["A.tenant"]
    gateway = GatewayFactory(tenant=tenant, name="public")
    ListenerFactory(gateway=gateway)
    backend = BackendFactory(service__tenant=tenant)
    RouteFactory(service=backend.service, backend=backend, path="/v1/orders")
    product = ProductFactory(tenant=tenant, slug="orders-api")
    rbac.sync_all()
    created = api.post(
        "/api/v1/publishes/",
        {
            "tenant": tenant.pk,
            "product": product.pk,
            "gateway": gateway.pk,
            "cluster": world["k3"].pk,
            "environment": "prod",
            "api_services": [backend.service.pk],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "DRAFT" and body["current_revision"] is None
    assert body["hostnames"] == ["orders-api.prod.eu-west.api.imprun.dev"]
    publish = ProductPublish.objects.get(pk=body["id"])

    published = api.post(url(publish, "publish"))
    assert published.status_code == 200, published.json()
    assert published.json()["status"] == "PUBLISHED"
    assert published.json()["current_revision"] == 1
    diff = api.get(url(publish, "diff")).json()
    assert diff == {"has_unpublished_changes": False, "diff": ""}

    backend.service.routes.update(path="/v2/orders")
    diff = api.get(url(publish, "diff")).json()
    assert diff["has_unpublished_changes"] and "/v2/orders" in diff["diff"]
    assert api.post(url(publish, "publish")).json()["current_revision"] == 2

    revisions = api.get(url(publish, "revisions")).json()
    assert [r["number"] for r in revisions["results"]] == [2, 1]
    assert revisions["results"][0]["created_by"] == "persona"
    only = api.get(url(publish, "revisions"), {"number": 1}).json()["results"]
    assert [r["number"] for r in only] == [1]

    rolled = api.post(url(publish, "rollback"), {"revision": 1}, format="json")
    assert rolled.status_code == 200 and rolled.json()["current_revision"] == 3
    missing = api.post(url(publish, "rollback"), {"revision": 9}, format="json")
    assert missing.status_code == 400 and "revision" in missing.json()
    assert api.post(url(publish, "rollback"), {}, format="json").json().keys() == {"revision"}

    manifests = api.get(url(publish, "manifests"), {"format": "yaml"})
    assert manifests.status_code == 200
    assert manifests["Content-Type"].startswith("application/yaml")
    documents = [doc for doc in yaml.safe_load_all(manifests.content) if doc]
    kinds = {doc["kind"] for doc in documents}
    assert {"Gateway", "HTTPRoute"} <= kinds
    as_json = api.get(url(publish, "manifests"), {"format": "json", "revision": 2})
    assert as_json.status_code == 200
    assert any(doc["kind"] == "HTTPRoute" for doc in as_json.json())
    bad = api.get(url(publish, "manifests"), {"revision": 99, "format": "json"})
    assert bad.status_code == 400 and "revision" in bad.json()

    withdrawn = api.post(url(publish, "withdraw"))
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "WITHDRAWN"
    again = api.post(url(publish, "withdraw"))
    assert again.status_code == 400 and "status" in again.json()


def test_move_points_the_publish_at_another_cluster(world):
    api = client_for(world, "org-admin")
    publish = make_publish(world["A.tenant"], cluster=world["k1"])
    assert api.post(url(publish, "publish")).status_code == 200
    target = ClusterFactory(name="cluster-ap-south", region="ap-south")
    moved = api.post(url(publish, "move"), {"cluster": target.pk}, format="json")
    assert moved.status_code == 200, moved.json()
    assert moved.json()["cluster"] == target.pk
    assert moved.json()["hostnames"][0].endswith(".ap-south.api.imprun.dev")
    assert api.post(url(publish, "move"), {"cluster": 0}, format="json").json().keys() == {
        "cluster"
    }
    changed = api.patch(url(publish), {"cluster": world["k2"].pk}, format="json")
    assert changed.status_code == 400 and "cluster" in changed.json()


def test_a_publish_stays_of_its_product(world):
    """Its keys, hostnames and revisions are its product's: another product is another
    publish."""
    api = client_for(world, "org-admin")
    publish = make_publish(world["A.tenant"], cluster=world["k1"])
    other = ProductFactory(tenant=world["A.tenant"])
    rbac.sync_all()
    changed = api.patch(url(publish), {"product": other.pk}, format="json")
    assert changed.status_code == 400 and set(changed.json()) == {"product"}
    assert ProductPublish.objects.get(pk=publish.pk).product_id == publish.product_id


def test_deployment_status_per_cluster(world):
    api = client_for(world, "gateway-owner", "gateway")
    publish = world["A.pp1"]
    listed = api.get(url(publish, "deployments"))
    assert listed.status_code == 200
    assert [(d["cluster_name"], d["state"]) for d in listed.json()["results"]] == [
        ("cluster-kr-seoul", "Pending")
    ]
    DeploymentStatus.objects.filter(publish=publish).update(state="Ready")
    ready = api.get(url(publish, "deployments"), {"state": "Ready"}).json()["results"]
    assert len(ready) == 1


@pytest.mark.parametrize(
    ("role", "scope"),
    [("business-manager", "org"), ("gateway-owner", "gateway")],
)
def test_viewers_read_but_may_not_publish(world, role, scope):
    api = client_for(world, role, scope)
    publish = world["A.pp1"]
    assert api.get(url(publish)).status_code == 200
    assert api.get(url(publish, "revisions")).status_code == 200
    assert api.get(url(publish, "diff")).status_code == 200
    for action in ("publish", "withdraw"):
        assert api.post(url(publish, action)).status_code == 403
    assert api.post(url(publish, "rollback"), {"revision": 1}, format="json").status_code == 403
    assert api.post(url(publish, "move"), {"cluster": world["k3"].pk}).status_code == 403
    assert api.patch(url(publish), {"environment": "staging"}, format="json").status_code == 403
    assert api.delete(url(publish)).status_code == 403


@pytest.mark.parametrize("role", ["customer-admin", "api-consumer"])
def test_customers_see_no_publishes(world, role):
    scope = "customer" if role == "api-consumer" else "org"
    api = client_for(world, role, scope)
    assert api.get("/api/v1/publishes/").status_code == 403
    assert api.post(url(world["A.pp1"], "publish")).status_code == 403


def test_other_tenants_publishes_are_not_found(world):
    api = client_for(world, "org-admin")
    foreign = world["B.pp1"]
    ids = {p["id"] for p in api.get("/api/v1/publishes/").json()["results"]}
    assert ids == {world["A.pp1"].pk, world["A.pp2"].pk}
    for action in ("publish", "withdraw"):
        assert api.post(url(foreign, action)).status_code == 404
    assert api.get(url(foreign, "manifests")).status_code == 404
    assert api.get(url(foreign, "revisions")).status_code == 404


def test_publish_of_services_of_another_tenant_is_a_400(world):
    api = client_for(world, "system-admin", "system")
    response = api.post(
        "/api/v1/publishes/",
        {
            "tenant": world["A.tenant"].pk,
            "product": world["A.p1"].pk,
            "gateway": world["A.g1"].pk,
            "cluster": world["k3"].pk,
            "environment": "prod",
            "api_services": [world["B.service"].pk],
        },
        format="json",
    )
    assert response.status_code == 400 and "api_services" in response.json()
    duplicate = api.post(
        "/api/v1/publishes/",
        {
            "tenant": world["A.tenant"].pk,
            "product": world["A.p1"].pk,
            "gateway": world["A.g1"].pk,
            "cluster": world["k1"].pk,
            "environment": "dev",
            "api_services": [world["A.service"].pk],
        },
        format="json",
    )
    assert duplicate.status_code == 400
    assert "environment" in duplicate.json(), duplicate.json()


def test_filters(world):
    api = client_for(world, "system-admin", "system")
    by_cluster = api.get("/api/v1/publishes/", {"cluster": world["k1"].pk}).json()["results"]
    assert {p["id"] for p in by_cluster} == {world["A.pp1"].pk, world["B.pp1"].pk}
    by_tenant = api.get("/api/v1/publishes/", {"tenant_slug": "globex"}).json()["results"]
    assert {p["id"] for p in by_tenant} == {world["B.pp1"].pk, world["B.pp2"].pk}
    drafts = api.get("/api/v1/publishes/", {"status": PublishStatus.DRAFT}).json()
    assert drafts["count"] == 4
    assert api.get("/api/v1/publishes/", {"environment": "qa"}).status_code == 400


def test_delete_removes_the_publish(world):
    api = client_for(world, "org-admin")
    publish = make_publish(world["A.tenant"])
    assert api.delete(url(publish)).status_code == 204
    assert not ProductPublish.objects.filter(pk=publish.pk).exists()
    # Through the service, with who asked and where from.
    event = AuditEvent.objects.get(action="delete", object_id=publish.pk)
    assert (event.username, event.source) == ("persona", "api")
    assert event.content_type.model == "productpublish" and event.before["id"] == publish.pk


def test_list_queries_do_not_grow_with_rows(world, django_assert_max_num_queries):
    api = client_for(world, "org-admin")
    tenant = TenantFactory(slug="acme")

    def grow(rows: int) -> None:
        for _ in range(rows):
            publish = make_publish(tenant)
            publish.api_services.add(APIServiceFactory(tenant=tenant))
        rbac.sync_all()

    grow(3)
    api.get("/api/v1/publishes/")
    with django_assert_max_num_queries(20) as few:
        assert api.get("/api/v1/publishes/").status_code == 200
    grow(27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = api.get("/api/v1/publishes/")
    assert response.json()["count"] == 32
