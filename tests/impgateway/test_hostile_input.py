"""Hostile input never becomes a server error: deeply nested JSON, NUL characters and
unpaired surrogates get a 400 (API, agent endpoints) or a form error (admin) naming where the
problem is, and the agent endpoints answer in their JSON error shape even when the database
cannot be reached. Found by attacking main: each of these was a 500."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from rest_framework.test import APIClient

from catalog.models import Policy, Product
from tests.clusters.conftest import bearer, token_for
from tests.factories import AgentFactory, APIServiceFactory, ClusterFactory, TenantFactory
from tests.impgateway.test_rbac_world import build_world, grant_role

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000  # past the JSON decoder's own recursion limit
NESTED_40 = json.loads("[" * 40 + "]" * 40)


@pytest.fixture
def api():
    world = build_world()
    client = APIClient()
    client.force_login(grant_role(world, "org-admin", "org"))
    return client, world


def test_deep_json_to_the_api_is_a_400_naming_the_rule(api):
    client, world = api
    for body in (DEEP, json.dumps({"name": "x", "tenant": world["A.tenant"].pk,
                                    "description": NESTED_40})):
        response = client.post("/api/v1/api-services/", body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert "nested deeper than 32 levels" in response.json()["detail"]


@pytest.mark.parametrize(
    ("value", "rule"),
    [("a\u0000b", "NUL characters"), ("\ud800", "unpaired surrogate characters")],
)
def test_nul_and_lone_surrogates_are_a_400_naming_the_field(api, value, rule):
    client, world = api
    url = f"/api/v1/products/{world['A.p1'].pk}/"
    # json.dumps escapes both as \u0000 and \ud800: valid JSON text that decodes to them.
    response = client.patch(url, json.dumps({"tags": ["ok", value]}),
                            content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["detail"] == f"JSON parse error - tags[1]: {rule} are not allowed"
    service = world["A.service"]
    response = client.post(
        f"/api/v1/api-services/{service.pk}/policies/",
        json.dumps({"name": "h", "kind": "request_headers",
                    "config": {"set": {"x-a": value}}}),
        content_type="application/json",
    )
    assert response.status_code in (400, 404), response.content
    assert Product.objects.get(pk=world["A.p1"].pk).tags == world["A.p1"].tags


def test_deep_json_to_the_unauthenticated_agent_endpoint_is_a_400_in_its_shape(client):
    response = client.post("/api/v1/agent/register", DEEP, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "nested deeper" in body["detail"]


def test_deep_json_to_an_agent_endpoint_with_a_token_is_a_400(client):
    agent = AgentFactory(cluster=ClusterFactory())
    response = client.post("/api/v1/agent/heartbeat", json.dumps({"capabilities": NESTED_40}),
                           content_type="application/json", **bearer(token_for(agent)))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("tags", "rule"),
    [(DEEP, "nested deeper than 32 levels"),
     (json.dumps(NESTED_40), "nested deeper than 32 levels"),
     ('["\\ud800"]', "[0]: unpaired surrogate characters are not allowed"),
     ('["a\\u0000"]', "[0]: NUL characters are not allowed")],
)
def test_hostile_json_in_admin_fields_is_a_form_error(admin_client, tags, rule):
    tenant = TenantFactory()
    response = admin_client.post("/admin/catalog/product/add/", {
        "tenant": tenant.pk, "name": "Shop", "slug": "shop-api", "version": "1.0",
        "description": "", "categories": "[]", "tags": tags, "documentation_url": "",
    })
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert rule in str(errors["tags"]), errors
    assert not Product.objects.filter(slug="shop-api").exists()


def test_hostile_json_in_an_admin_inline_is_a_form_error(admin_client):
    service = APIServiceFactory()
    response = admin_client.post("/admin/catalog/policy/add/", {
        "service": service.pk, "name": "h", "kind": "request_headers",
        "config": '{"set": {"x-a": "\\u0000"}}', "environments": "[]", "enabled": "on",
    })
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "set.x-a: NUL characters are not allowed" in str(errors["config"]), errors
    assert not Policy.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_agent_endpoints_answer_json_when_the_database_is_down(client, settings):
    """The database goes away (its address stops answering): every agent endpoint answers
    503 in the protocol's error shape, which the agent retries, never an HTML page. (On
    PostgreSQL: SQLite's in-memory test database cannot be taken away and given back.)"""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): the database is taken away")
    settings.AGENT_DB_THREADS = 0
    agent = AgentFactory(cluster=ClusterFactory())
    headers = bearer(token_for(agent))
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = "9"  # nothing listens there
    try:
        answers = [
            client.post("/api/v1/agent/heartbeat", "{}", content_type="application/json",
                        **headers),
            client.post("/api/v1/agent/status", json.dumps({"reports": []}),
                        content_type="application/json", **headers),
            client.post("/api/v1/agent/register", json.dumps(
                {"registration_token": "x", "name": "a", "version": "1", "capabilities": {
                    "kubernetes_version": "1.32", "gateway_classes": [], "crds": []}}),
                content_type="application/json"),
            client.get("/api/v1/agent/desired-state", **headers),
        ]
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    for response in answers:
        assert response.status_code == 503, (response.request["PATH_INFO"], response.content)
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["error"] == "unavailable"
        assert response["Retry-After"] == "5"
