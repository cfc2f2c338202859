"""Conventions every API endpoint keeps: ETag and If-Match (412 on a stale write), 400s that
name the field, pages of 50, the /api/v1/ root and the OpenAPI schema and docs."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from catalog.models import APIService
from impgateway import rbac
from impgateway.api import ScopedGenericViewSet
from tests.factories import TenantFactory
from tests.impgateway.test_rbac_world import build_world, grant_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


@pytest.fixture
def api(world) -> APIClient:
    client = APIClient()
    client.force_login(grant_role(world, "org-admin", "org"))
    return client


DETAILS = [
    ("api-services", "A.service", {"description": "x"}),
    ("routes", "A.route", {"path": "/v1/x"}),
    ("products", "A.p1", {"description": "x"}),
    ("gateways", "A.g1", {"description": "x"}),
    ("listeners", "A.g1.http", {"hostname": "a.example.com"}),
    ("publishes", "A.pp1", {"environment": "staging"}),
]


@pytest.mark.parametrize(("endpoint", "key", "change"), DETAILS)
def test_stale_if_match_is_refused_with_412(world, api, endpoint, key, change):
    url = f"/api/v1/{endpoint}/{world[key].pk}/"
    read = api.get(url)
    etag = read["ETag"]
    assert etag.startswith('"') and api.get(url)["ETag"] == etag
    changed = api.patch(url, change, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200, changed.json()
    assert changed["ETag"] != etag
    stale = api.patch(url, change, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert api.delete(url, HTTP_IF_MATCH=etag).status_code == 412
    assert api.patch(url, change, format="json", HTTP_IF_MATCH="*").status_code == 200
    assert api.patch(url, change, format="json").status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_writers_with_one_etag_one_wins_one_gets_412(monkeypatch):
    """If-Match under concurrency, in real threads on PostgreSQL: the precondition is checked
    on the locked row inside the write's transaction, so of two PATCHes holding the same ETag
    exactly one succeeds (each write is slowed, so without the lock both would pass)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (set DATABASE_URL)")
    world = build_world()
    user = grant_role(world, "org-admin", "org")
    url = f"/api/v1/api-services/{world['A.service'].pk}/"
    reader = APIClient()
    reader.force_login(user)
    etag = reader.get(url)["ETag"]
    slow_update = ScopedGenericViewSet.perform_update

    def perform_update(self, serializer):
        time.sleep(0.3)
        slow_update(self, serializer)

    monkeypatch.setattr(ScopedGenericViewSet, "perform_update", perform_update)

    def write(start: threading.Barrier, etag: str, description: str, statuses: list) -> None:
        client = APIClient()
        client.force_login(user)
        start.wait(timeout=10)
        response = client.patch(url, {"description": description}, format="json",
                                HTTP_IF_MATCH=etag)
        statuses.append(response.status_code)
        connection.close()

    for round_number in range(3):
        start = threading.Barrier(2)
        statuses: list[int] = []
        threads = [
            threading.Thread(
                target=write, args=(start, etag, f"writer {n} round {round_number}", statuses)
            )
            for n in (1, 2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(statuses) == [200, 412], statuses
        etag = reader.get(url)["ETag"]


def test_stale_if_match_also_guards_actions(world, api):
    url = f"/api/v1/publishes/{world['A.pp1'].pk}/"
    etag = api.get(url)["ETag"]
    api.patch(url, {"environment": "staging"}, format="json")
    assert api.post(f"{url}withdraw/", HTTP_IF_MATCH=etag).status_code == 412


def test_errors_name_the_field(world, api):
    response = api.post("/api/v1/api-services/", {"tenant": world["A.tenant"].pk}, format="json")
    assert response.status_code == 400 and set(response.json()) == {"name"}
    response = api.post(
        "/api/v1/api-services/",
        {"tenant": world["A.tenant"].pk, "name": "payments"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["name"] == [
        "name: an API service with this name already exists in the tenant."
    ]


def test_lists_are_pages_of_fifty(world):
    tenant = TenantFactory(slug="big")
    APIService.objects.bulk_create(
        [APIService(tenant=tenant, name=f"bulk-{n}") for n in range(61)]
    )
    rbac.sync_all()
    admin = APIClient()
    admin.force_login(grant_role(world, "system-admin", "system", username="root"))
    page = admin.get("/api/v1/api-services/", {"tenant": tenant.pk}).json()
    assert page["count"] == 61 and len(page["results"]) == 50 and "offset=50" in page["next"]
    huge = admin.get("/api/v1/api-services/", {"offset": 10**30, "tenant": 10**30})
    assert huge.status_code == 400 and "tenant" in huge.json()
    assert admin.get("/api/v1/api-services/", {"offset": 10**30}).status_code == 200


def test_root_lists_the_endpoints(api):
    root = api.get("/api/v1/").json()
    for name in ("api-services", "routes", "publishes", "clusters", "registration-tokens"):
        assert name in root
    assert api.get("/api/v1/me/").status_code == 200


def test_schema_and_docs_are_served(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/publishes/{id}/rollback/" in paths
    assert "/api/v1/registration-tokens/" in paths
    patch = paths["/api/v1/api-services/{id}/"]["patch"]
    assert any(p["name"] == "If-Match" for p in patch["parameters"])
    assert "412" in patch["responses"]
    assert api.get("/api/docs/").status_code == 200


def test_schema_generation_is_clean(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s"))
