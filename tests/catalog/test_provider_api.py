"""The provider API of the catalog: API services, backends, routes, policies, products, gateways
and listeners; allowed and denied callers, validation through the models, constant queries."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from catalog.models import APIService, Backend, Gateway, Listener, Policy, Product, Route
from impgateway import rbac
from tests.factories import (
    APIServiceFactory,
    BackendFactory,
    GatewayFactory,
    ListenerFactory,
    PolicyFactory,
    ProductFactory,
    RouteFactory,
)
from tests.impgateway.test_rbac_world import build_world, grant_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def client_for(world, role: str, scope: str, username: str = "persona") -> APIClient:
    api = APIClient()
    api.force_login(grant_role(world, role, scope, username=username))
    return api


# endpoint, model, a new object in Acme, a change, who may add (role at org), who may only view,
# who may not even view
ENDPOINTS = {
    "api-services": (
        APIService,
        lambda w: {"tenant": w["A.tenant"].pk, "name": "orders", "status": "active"},
        {"description": "changed"},
        "api-developer",
        "business-manager",
        "customer-admin",
    ),
    "backends": (
        Backend,
        lambda w: {"service": w["A.service"].pk, "name": "spare", "endpoints": ["b.local:80"]},
        {"retry_attempts": 3},
        "api-developer",
        "business-manager",
        "gateway-owner",
    ),
    "routes": (
        Route,
        lambda w: {"service": w["A.service"].pk, "name": "create", "path": "/v1/orders"},
        {"methods": ["GET", "POST"]},
        "api-developer",
        "business-manager",
        "gateway-owner",
    ),
    "policies": (
        Policy,
        lambda w: {
            "service": w["A.service"].pk,
            "name": "cors",
            "kind": "cors",
            "config": {"allow_origins": ["https://app.example.com"]},
        },
        {"enabled": False},
        "api-developer",
        "business-manager",
        "gateway-owner",
    ),
    "products": (
        Product,
        lambda w: {"tenant": w["A.tenant"].pk, "name": "Orders", "slug": "orders-api"},
        {"tags": ["payments"]},
        "business-manager",
        "api-developer",
        None,
    ),
    "gateways": (
        Gateway,
        lambda w: {"tenant": w["A.tenant"].pk, "name": "partner", "gateway_class": "kong"},
        {"labels": {"team": "edge"}},
        "gateway-owner",
        "api-developer",
        "business-manager",
    ),
    "listeners": (
        Listener,
        lambda w: {"gateway": w["A.g1"].pk, "name": "alt", "port": 8080, "protocol": "HTTP"},
        {"hostname": "api.example.com"},
        "gateway-owner",
        "api-developer",
        "business-manager",
    ),
}
KEYS = {
    "api-services": "service",
    "backends": "backend",
    "routes": "route",
    "policies": "policy",
    "products": "p1",
    "gateways": "g2",
    "listeners": "g2.http",
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_writer_creates_changes_and_deletes_in_own_tenant_only(world, endpoint):
    model, new, change, writer, _viewer, _stranger = ENDPOINTS[endpoint]
    api = client_for(world, writer, "org")
    url = f"/api/v1/{endpoint}/"
    listed = api.get(url)
    assert listed.status_code == 200
    ids = {item["id"] for item in listed.json()["results"]}
    own, foreign = world[f"A.{KEYS[endpoint]}"], world[f"B.{KEYS[endpoint]}"]
    assert own.pk in ids and foreign.pk not in ids

    created = api.post(url, new(world), format="json")
    assert created.status_code == 201, created.json()
    assert created["ETag"]
    pk = created.json()["id"]
    changed = api.patch(f"{url}{pk}/", change, format="json")
    assert changed.status_code == 200, changed.json()
    for name, value in change.items():
        assert changed.json()[name] == value
    assert api.get(f"{url}{foreign.pk}/").status_code == 404
    assert api.patch(f"{url}{foreign.pk}/", change, format="json").status_code == 404
    assert api.delete(f"{url}{pk}/").status_code == 204
    assert not model.objects.filter(pk=pk).exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_viewer_reads_but_cannot_write_and_stranger_sees_nothing(world, endpoint):
    _model, new, change, _writer, viewer, stranger = ENDPOINTS[endpoint]
    url = f"/api/v1/{endpoint}/"
    own = world[f"A.{KEYS[endpoint]}"]
    api = client_for(world, viewer, "org")
    assert api.get(url).status_code == 200
    assert api.get(f"{url}{own.pk}/").status_code == 200
    assert api.post(url, new(world), format="json").status_code == 403
    assert api.patch(f"{url}{own.pk}/", change, format="json").status_code == 403
    assert api.delete(f"{url}{own.pk}/").status_code == 403
    if stranger:
        outsider = client_for(world, stranger, "org", username="stranger")
        assert outsider.get(url).status_code == 403
        assert outsider.get(f"{url}{own.pk}/").status_code == 403
    assert APIClient().get(url).status_code == 401


def test_writer_cannot_create_in_another_tenant(world):
    api = client_for(world, "api-developer", "org")
    response = api.post(
        "/api/v1/api-services/", {"tenant": world["B.tenant"].pk, "name": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "tenant" in response.json()


@pytest.mark.parametrize(
    ("endpoint", "payload", "field"),
    [
        ("api-services", {"name": "Not A Label"}, "name"),
        ("api-services", {"name": "payments"}, "name"),
        ("routes", {"name": "bad", "path": "no-slash"}, "path"),
        ("routes", {"name": "bad", "path": "/x", "methods": ["FETCH"]}, "methods"),
        (
            "routes",
            {"name": "bad", "path": "/x", "match_type": "Exact", "rewrite_path_prefix": "/y"},
            "rewrite_path_prefix",
        ),
        ("routes", {"name": "list", "path": "/v1/other"}, "name"),
        ("backends", {"name": "bad", "endpoints": ["not a host"]}, "endpoints"),
        ("backends", {"name": "bad", "endpoints": []}, "endpoints"),
        ("policies", {"name": "bad", "kind": "rate_limit", "config": {"unit": "Minute"}}, "config"),
        (
            "policies",
            {"name": "bad", "kind": "cors", "config": {}, "environments": ["qa"]},
            "environments",
        ),
        ("listeners", {"name": "tls", "port": 443, "protocol": "HTTPS"}, "tls_mode"),
        ("listeners", {"name": "other", "port": 80, "protocol": "HTTP"}, "port"),
        ("listeners", {"name": "big", "port": 70000, "protocol": "HTTP"}, "port"),
    ],
)
def test_invalid_payload_is_a_400_naming_the_field(world, endpoint, payload, field):
    api = client_for(world, "org-admin", "org")
    parent = {
        "api-services": {"tenant": world["A.tenant"].pk},
        "routes": {"service": world["A.service"].pk},
        "backends": {"service": world["A.service"].pk},
        "policies": {"service": world["A.service"].pk},
        "listeners": {"gateway": world["A.g1"].pk},
    }[endpoint]
    response = api.post(f"/api/v1/{endpoint}/", {**parent, **payload}, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_route_backend_of_another_service_is_refused(world):
    api = client_for(world, "org-admin", "org")
    other = BackendFactory(service=APIServiceFactory(tenant=world["A.tenant"]))
    response = api.patch(
        f"/api/v1/routes/{world['A.route'].pk}/", {"backend": other.pk}, format="json"
    )
    assert response.status_code == 400
    assert "backend" in response.json()


def test_policy_configuration_is_saved_normalised(world):
    api = client_for(world, "org-admin", "org")
    response = api.post(
        "/api/v1/policies/",
        {
            "service": world["A.service"].pk,
            "name": "limit-2",
            "kind": "rate_limit",
            "config": {"requests": 5, "unit": "Second"},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Policy.objects.get(pk=response.json()["id"]).config["requests"] == 5


def test_service_lists_its_parts_and_filters_by_service(world):
    api = client_for(world, "api-developer", "org")
    service = api.get(f"/api/v1/api-services/{world['A.service'].pk}/").json()
    assert [r["name"] for r in service["routes"]] == ["list"]
    assert [b["name"] for b in service["backends"]] == ["main"]
    assert [p["name"] for p in service["policies"]] == ["limit"]
    other = APIServiceFactory(tenant=world["A.tenant"], name="orders")
    RouteFactory(service=other, name="orders")
    rbac.sync_all()
    routes = api.get("/api/v1/routes/", {"service": other.pk}).json()["results"]
    assert [r["name"] for r in routes] == ["orders"]


def test_nested_parts_come_sorted_in_lists_and_in_write_responses(world):
    api = client_for(world, "org-admin", "org")
    service = world["A.service"]
    RouteFactory(service=service, name="alpha", path="/v1/alpha", backend=world["A.backend"])
    rbac.sync_all()
    listed = {item["id"]: item for item in api.get("/api/v1/api-services/").json()["results"]}
    assert [r["name"] for r in listed[service.pk]["routes"]] == ["alpha", "list"]
    assert [b["name"] for b in listed[service.pk]["backends"]] == ["main"]
    changed = api.patch(
        f"/api/v1/api-services/{service.pk}/", {"description": "changed"}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert [r["name"] for r in changed.json()["routes"]] == ["alpha", "list"]
    created = api.post(
        "/api/v1/api-services/", {"tenant": world["A.tenant"].pk, "name": "fresh"}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["backends"], body["routes"], body["policies"]) == ([], [], [])
    gateway = api.get(f"/api/v1/gateways/{world['A.g1'].pk}/").json()
    ports = [listener["port"] for listener in gateway["listeners"]]
    assert ports and ports == sorted(ports)


def test_browsable_api_forms_offer_only_objects_the_user_may_view(world):
    api = client_for(world, "org-admin", "org")
    page = api.get("/api/v1/routes/", HTTP_ACCEPT="text/html").content.decode()
    assert f'<option value="{world["A.service"].pk}"' in page
    assert f'<option value="{world["B.service"].pk}"' not in page


def test_filters_search_and_ordering(world):
    api = client_for(world, "org-admin", "org")
    ProductFactory(tenant=world["A.tenant"], slug="tagged", name="Tagged", tags=["gold"])
    rbac.sync_all()
    by_tag = api.get("/api/v1/products/", {"tag": "gold"}).json()["results"]
    assert [p["slug"] for p in by_tag] == ["tagged"]
    by_search = api.get("/api/v1/products/", {"search": "Refund"}).json()["results"]
    assert [p["slug"] for p in by_search] == ["acme-refund-api"]
    ordered = api.get("/api/v1/products/", {"ordering": "-slug"}).json()["results"]
    assert [p["slug"] for p in ordered] == sorted((p["slug"] for p in ordered), reverse=True)
    gateways = api.get("/api/v1/gateways/", {"name": "edge"}).json()["results"]
    assert [g["name"] for g in gateways] == ["edge"]
    assert [item["name"] for item in gateways[0]["listeners"]] == ["http"]
    assert api.get("/api/v1/api-services/", {"status": "nope"}).status_code == 400
    page = api.get("/api/v1/products/", {"limit": 1}).json()
    assert page["count"] == 3 and len(page["results"]) == 1 and page["next"]


def _grow(world, rows: int) -> None:
    tenant = world["A.tenant"]
    for _ in range(rows):
        service = APIServiceFactory(tenant=tenant)
        backend = BackendFactory(service=service)
        RouteFactory(service=service, backend=backend)
        PolicyFactory(service=service)
        ProductFactory(tenant=tenant)
        ListenerFactory(gateway=GatewayFactory(tenant=tenant))
    rbac.sync_all()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", ["org-admin", "system-admin"])
def test_list_queries_do_not_grow_with_rows(world, endpoint, role, django_assert_max_num_queries):
    api = client_for(world, role, "system" if role == "system-admin" else "org")
    url = f"/api/v1/{endpoint}/"
    _grow(world, 3)
    api.get(url)  # warm the per-process caches (content types)
    with django_assert_max_num_queries(12) as few:
        assert api.get(url).status_code == 200
    _grow(world, 27)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        response = api.get(url)
    assert response.status_code == 200
    assert response.json()["count"] >= 30
    assert len(many.captured_queries) == len(few.captured_queries)
