"""Registration tokens (command, admin) and `POST register`: hashed, single use, expiring."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from clusters.choices import AgentStatus
from clusters.models import Agent, RegistrationToken
from clusters.services import create_registration_token, set_agents_enabled
from clusters.tokens import decode_access_token, hash_registration_secret
from tests.factories import AgentFactory, ClusterFactory

from .conftest import CAPABILITIES

pytestmark = pytest.mark.django_db
REGISTER = "/api/v1/agent/register"


def register(client, secret: str, name: str = "agent-0", **extra):
    body = {"registration_token": secret, "name": name, "version": "0.1.0",
            "capabilities": CAPABILITIES, **extra}
    return client.post(REGISTER, body, content_type="application/json")


def test_command_prints_the_token_alone_on_the_last_line(cluster):
    out = StringIO()
    call_command("create_registration_token", cluster.name, "--ttl", "1h", stdout=out)
    secret = out.getvalue().strip().splitlines()[-1]
    assert secret.startswith("igr_") and " " not in secret
    token = RegistrationToken.objects.get(cluster=cluster)
    # Stored hashed: the secret itself is nowhere in the row.
    assert token.token_hash == hash_registration_secret(secret)
    assert secret not in str(RegistrationToken.objects.values().get())
    lifetime = token.expires_at - timezone.now()
    assert timedelta(minutes=59) < lifetime <= timedelta(hours=1)


def test_command_default_ttl_and_errors(cluster, settings):
    settings.AGENT_REGISTRATION_TOKEN_TTL = 600
    call_command("create_registration_token", cluster.name, stdout=StringIO())
    lifetime = RegistrationToken.objects.get().expires_at - timezone.now()
    assert timedelta(minutes=9) < lifetime <= timedelta(minutes=10)
    with pytest.raises(CommandError, match="no cluster named 'nowhere'"):
        call_command("create_registration_token", "nowhere", stdout=StringIO())
    with pytest.raises(CommandError, match="--ttl: expected a duration"):
        call_command("create_registration_token", cluster.name, "--ttl", "soon", stdout=StringIO())
    with pytest.raises(CommandError, match="at most 30 days"):
        call_command("create_registration_token", cluster.name, "--ttl", "31d", stdout=StringIO())
    call_command("create_registration_token", cluster.name, "--ttl", "1h30m", stdout=StringIO())
    assert RegistrationToken.objects.count() == 2


def test_register_returns_an_access_token_and_stores_capabilities(client, cluster):
    _token, secret = create_registration_token(cluster)
    response = register(
        client, secret, name="imp-agent-7d9f-x2", gateway_class_names={"envoy-gateway": "eg"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"token", "expires_at", "agent_id"}
    agent = Agent.objects.get(pk=body["agent_id"])
    assert (agent.cluster, agent.name, agent.version) == (cluster, "imp-agent-7d9f-x2", "0.1.0")
    assert agent.status == AgentStatus.CONNECTED and agent.last_seen_at is not None
    claims = decode_access_token(body["token"])
    assert (claims.agent_id, claims.cluster_id) == (agent.pk, cluster.pk)
    assert body["expires_at"] == claims.expires_at.isoformat().replace("+00:00", "Z")
    cluster.refresh_from_db()
    assert cluster.capabilities == {
        "kubernetes_version": "1.32",
        "gateway_classes": ["envoy-gateway"],
        "gateway_class_names": {"envoy-gateway": "eg"},
        "crds": sorted(CAPABILITIES["crds"]),
    }
    assert cluster.capabilities_updated_at is not None
    token = RegistrationToken.objects.get()
    assert token.used_at is not None and token.agent == agent


def test_a_registration_token_works_once(client, cluster):
    _token, secret = create_registration_token(cluster)
    assert register(client, secret).status_code == 201
    again = register(client, secret, name="agent-1")
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_registration_token"
    assert Agent.objects.count() == 1


def test_expired_and_unknown_registration_tokens_are_refused(client, cluster):
    token, secret = create_registration_token(cluster)
    RegistrationToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    assert register(client, secret).json()["error"] == "invalid_registration_token"
    assert register(client, "igr_" + "x" * 43).status_code == 401
    assert not Agent.objects.exists()


def test_registering_again_revokes_the_previous_instance(client, cluster):
    _t, first = create_registration_token(cluster)
    _t, second = create_registration_token(cluster)
    old = register(client, first).json()
    new = register(client, second).json()
    assert old["agent_id"] == new["agent_id"]
    assert Agent.objects.get().token_generation == 2
    headers = {"HTTP_AUTHORIZATION": f"Bearer {old['token']}"}
    assert client.post("/api/v1/agent/heartbeat", {}, content_type="application/json",
                       **headers).status_code == 401
    headers = {"HTTP_AUTHORIZATION": f"Bearer {new['token']}"}
    assert client.post("/api/v1/agent/heartbeat", {}, content_type="application/json",
                       **headers).status_code == 200


def test_a_disabled_agent_cannot_register_and_the_token_survives(client, cluster):
    agent = AgentFactory(cluster=cluster, name="agent-0")
    set_agents_enabled([agent.pk], enabled=False)
    token, secret = create_registration_token(cluster)
    response = register(client, secret)
    assert response.status_code == 403
    assert response.json()["error"] == "agent_disabled"
    token.refresh_from_db()
    assert token.used_at is None
    set_agents_enabled([agent.pk], enabled=True)
    assert register(client, secret).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capabilities": {**CAPABILITIES, "gateway_classes": ["haproxy"]}}, "gateway_classes"),
        ({"capabilities": {**CAPABILITIES, "crds": ["not a crd"]}}, "crds"),
        ({"capabilities": {"gateway_classes": []}}, "kubernetes_version"),
        ({"name": "Not_A_Pod"}, "name"),
        ({"gateway_class_names": {"kong": "kong"}}, "gateway_class_names"),
        ({"version": ""}, "version"),
    ],
)
def test_register_validates_the_request(client, cluster, change, field):
    _token, secret = create_registration_token(cluster)
    body = {"registration_token": secret, "name": "agent-0", "version": "1",
            "capabilities": CAPABILITIES, **change}
    response = client.post(REGISTER, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert field in str(response.json()["detail"])
    assert RegistrationToken.objects.get().used_at is None


def test_register_wants_json(client, cluster):
    _token, secret = create_registration_token(cluster)
    response = client.post(REGISTER, {"registration_token": secret})
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_admin_creates_a_token_and_shows_it_once(admin_client, cluster):
    add_url = reverse("admin:clusters_registrationtoken_add")
    assert admin_client.get(f"{add_url}?cluster={cluster.pk}").status_code == 200
    response = admin_client.post(
        add_url,
        {"cluster": cluster.pk, "ttl": "900", "description": "for the new node pool"},
        follow=True,
    )
    assert response.status_code == 200
    token = RegistrationToken.objects.get()
    # Shown once, on the page that answers the creation, with the agent command to paste.
    secret = response.context["secret"]
    assert secret.startswith("igr_")
    assert secret in response.content.decode()
    assert f"--registration-token {secret}" in response.context["command"]
    assert token.token_hash == hash_registration_secret(secret)
    assert token.description == "for the new node pool"
    assert timedelta(minutes=14) < token.expires_at - timezone.now() <= timedelta(minutes=15)
    # The change page and the cluster page never show it again.
    change = admin_client.get(reverse("admin:clusters_registrationtoken_change", args=[token.pk]))
    cluster_page = admin_client.get(reverse("admin:clusters_cluster_change", args=[cluster.pk]))
    assert secret not in change.content.decode()
    assert secret not in cluster_page.content.decode()
    assert "Create a registration token" in cluster_page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_agents_racing_for_one_token_one_wins(client):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers are checked on PostgreSQL (set DATABASE_URL)")
    cluster = ClusterFactory()
    _token, secret = create_registration_token(cluster)
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def race(number: int) -> None:
        from django.db import connections
        from django.test import Client

        barrier.wait()
        try:
            statuses.append(register(Client(), secret, name=f"agent-{number}").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 401, 401, 401]
    assert Agent.objects.count() == 1
