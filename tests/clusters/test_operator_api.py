"""The operator API: clusters with their agents' summary, agents (enable, disable) and
registration tokens (the secret shown once); system admins only, apart from reading clusters."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from clusters.choices import AgentStatus
from clusters.models import Agent, RegistrationToken
from clusters.tokens import hash_registration_secret
from impgateway import rbac
from tests.factories import AgentFactory, ClusterFactory
from tests.impgateway.test_rbac_world import build_world, grant_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def client_for(world, role: str, scope: str) -> APIClient:
    api = APIClient()
    api.force_login(grant_role(world, role, scope))
    return api


@pytest.fixture
def operator(world) -> APIClient:
    return client_for(world, "system-admin", "system")


def test_operator_manages_clusters(world, operator):
    AgentFactory(cluster=world["k1"], name="agent-1", status=AgentStatus.CONNECTED)
    listed = operator.get("/api/v1/clusters/").json()["results"]
    seoul = next(c for c in listed if c["name"] == "cluster-kr-seoul")
    assert seoul["agents"] == {"total": 2, "enabled": 2, "connected": 1}
    assert seoul["desired_state_revision"] >= 0 and seoul["capabilities"] == {}
    created = operator.post(
        "/api/v1/clusters/",
        {"name": "cluster-jp-tokyo", "region": "jp-tokyo", "cloud_provider": "gcp"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["agents"] == {"total": 0, "enabled": 0, "connected": 0}
    pk = created.json()["id"]
    ignored = operator.patch(
        f"/api/v1/clusters/{pk}/",
        {"capabilities": {"x": 1}, "desired_state_revision": 9, "region": "jp-osaka"},
        format="json",
    )
    assert ignored.status_code == 200
    assert ignored.json()["capabilities"] == {} and ignored.json()["desired_state_revision"] == 0
    assert ignored.json()["region"] == "jp-osaka"
    bad = operator.post(
        "/api/v1/clusters/", {"name": "Bad Name", "region": "x", "cloud_provider": "aws"}
    )
    assert bad.status_code == 400 and "name" in bad.json()
    taken = operator.post(
        "/api/v1/clusters/", {"name": "cluster-us-east", "region": "x", "cloud_provider": "aws"}
    )
    assert taken.status_code == 400 and "name" in taken.json()
    assert operator.delete(f"/api/v1/clusters/{world['k1'].pk}/").status_code == 409
    assert operator.delete(f"/api/v1/clusters/{pk}/").status_code == 204


def test_cluster_filters(world, operator):
    world["k2"].capabilities = {"gateway_classes": ["kong"]}
    world["k2"].save()
    by_class = operator.get("/api/v1/clusters/", {"gateway_class": "kong"}).json()["results"]
    assert [c["name"] for c in by_class] == ["cluster-us-east"]
    by_region = operator.get("/api/v1/clusters/", {"search": "eu-west"}).json()["results"]
    assert [c["name"] for c in by_region] == ["cluster-eu-west"]


def test_operator_disables_and_enables_agents(world, operator):
    agent = world["k1.agent"]
    generation = agent.token_generation
    listed = operator.get("/api/v1/agents/", {"cluster": world["k1"].pk}).json()["results"]
    assert [a["name"] for a in listed] == ["agent-0"]
    disabled = operator.post(f"/api/v1/agents/{agent.pk}/disable/")
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    agent.refresh_from_db()
    assert agent.token_generation == generation + 1
    assert operator.get("/api/v1/agents/", {"enabled": "false"}).json()["count"] == 1
    enabled = operator.post(f"/api/v1/agents/{agent.pk}/enable/")
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    assert operator.put(f"/api/v1/agents/{agent.pk}/", {}).status_code == 405
    assert operator.delete(f"/api/v1/agents/{agent.pk}/").status_code == 204
    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_registration_token_secret_is_shown_once(world, operator):
    created = operator.post(
        "/api/v1/registration-tokens/",
        {"cluster": world["k2"].pk, "description": "new node", "ttl_seconds": 600},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    secret = body["token"]
    assert secret.startswith("igr_")
    token = RegistrationToken.objects.get(pk=body["id"])
    assert token.token_hash == hash_registration_secret(secret)
    assert body["fingerprint"] == token.token_hash[:12] and body["used"] is False
    assert token.created_by.username == "persona"
    shown = operator.get(f"/api/v1/registration-tokens/{token.pk}/").json()
    assert "token" not in shown and secret not in str(shown)
    listed = operator.get("/api/v1/registration-tokens/", {"cluster": world["k2"].pk}).json()
    assert [t["id"] for t in listed["results"]] == [token.pk]
    assert "token" not in listed["results"][0]
    unused = operator.get("/api/v1/registration-tokens/", {"used": "false"}).json()["count"]
    assert unused == 2
    short = operator.post(
        "/api/v1/registration-tokens/", {"cluster": world["k2"].pk, "ttl_seconds": 1}
    )
    assert short.status_code == 400 and "ttl_seconds" in short.json()
    assert operator.delete(f"/api/v1/registration-tokens/{token.pk}/").status_code == 204


@pytest.mark.parametrize(
    ("role", "scope"),
    [("org-admin", "org"), ("api-developer", "org"), ("gateway-owner", "gateway")],
)
def test_other_roles_read_clusters_but_never_agents_or_tokens(world, role, scope):
    api = client_for(world, role, scope)
    assert api.get("/api/v1/clusters/").status_code == 200
    assert (
        api.post(
            "/api/v1/clusters/", {"name": "c-x", "region": "x", "cloud_provider": "aws"}
        ).status_code
        == 403
    )
    assert api.patch(f"/api/v1/clusters/{world['k1'].pk}/", {"region": "y"}).status_code == 403
    assert api.get("/api/v1/agents/").status_code == 403
    assert api.post(f"/api/v1/agents/{world['k1.agent'].pk}/disable/").status_code == 403
    assert api.get("/api/v1/registration-tokens/").status_code == 403
    created = api.post("/api/v1/registration-tokens/", {"cluster": world["k1"].pk})
    assert created.status_code == 403


def test_customers_see_no_clusters(world):
    api = client_for(world, "customer-admin", "org")
    assert api.get("/api/v1/clusters/").status_code == 403


@pytest.mark.parametrize("endpoint", ["clusters", "agents", "registration-tokens"])
def test_list_queries_do_not_grow_with_rows(
    world, operator, endpoint, django_assert_max_num_queries
):
    from clusters.services import create_registration_token

    def grow(rows: int) -> None:
        for _ in range(rows):
            cluster = ClusterFactory()
            AgentFactory(cluster=cluster)
            create_registration_token(cluster)
        rbac.sync_all()

    grow(3)
    operator.get(f"/api/v1/{endpoint}/")
    with django_assert_max_num_queries(10) as few:
        assert operator.get(f"/api/v1/{endpoint}/").status_code == 200
    grow(27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = operator.get(f"/api/v1/{endpoint}/")
    assert response.json()["count"] >= 30
