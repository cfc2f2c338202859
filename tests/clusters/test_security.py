"""Security of the agent protocol: cluster scoping, bad and revoked tokens, single-use
registration, no tokens in logs, and agent tokens and user sessions kept apart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path
from rest_framework.response import Response
from rest_framework.views import APIView

from clusters.api.authentication import AgentTokenAuthentication
from clusters.api.views import AgentAPIView
from clusters.protocol import TOKEN_AUDIENCE
from clusters.services import create_registration_token, set_agents_enabled
from clusters.tokens import issue_access_token, key_id, key_set
from impgateway.logging import JSONFormatter
from publishing.models import DeploymentStatus
from tests.factories import AgentFactory, ClusterFactory

from .conftest import CAPABILITIES, bearer, published, token_for

pytestmark = pytest.mark.django_db
DESIRED, STATUS, HEARTBEAT = "/api/v1/agent/desired-state", "/api/v1/agent/status", (
    "/api/v1/agent/heartbeat"
)


class UserView(APIView):
    """A user-facing DRF view with the project's default authentication."""

    def get(self, request):
        return Response({"user": str(request.user)})


urlpatterns = [path("user-view", UserView.as_view())]


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def hs256(claims: dict, secret: bytes, kid: str) -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the public key."""
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def claims_for(agent, **changes) -> dict:
    now = int(time.time())
    claims = {
        "iss": "imp-gateway", "aud": TOKEN_AUDIENCE, "sub": str(agent.pk),
        "cluster": agent.cluster_id, "gen": agent.token_generation,
        "iat": now, "exp": now + 600,
    }
    claims.update(changes)
    return claims


def signed(claims: dict) -> str:
    signing = key_set().signing
    return jwt.encode(claims, signing.private_key, algorithm=signing.algorithm,
                      headers={"kid": signing.key_id})


def status_codes(token: str) -> set[int]:
    client = Client(**bearer(token))
    return {
        client.get(DESIRED).status_code,
        client.post(HEARTBEAT, {}, content_type="application/json").status_code,
        client.post(STATUS, {"reports": [{"publish_id": 1, "removed": True}]},
                    content_type="application/json").status_code,
        client.post("/api/v1/agent/token/refresh").status_code,
    }


# --- Cluster scope ---------------------------------------------------------------------------


def test_a_token_for_cluster_a_reads_and_reports_only_for_a(agent, cluster):
    mine, theirs = published(cluster), published(ClusterFactory())
    client = Client(**bearer(token_for(agent)))
    body = client.get(DESIRED).json()
    assert body["cluster"]["id"] == cluster.pk
    assert [p["publish_id"] for p in body["publishes"]] == [mine.pk]
    report = {"publish_id": theirs.pk, "revision": 1, "objects": {}}
    response = client.post(STATUS, {"reports": [report]}, content_type="application/json")
    assert response.status_code == 403
    assert not DeploymentStatus.objects.filter(publish_ref=theirs.pk).exists()


def test_a_signed_token_claiming_another_cluster_is_refused(agent):
    other = ClusterFactory()
    forged = signed(claims_for(agent, cluster=other.pk))
    assert status_codes(forged) == {401}


# --- Bad tokens ----------------------------------------------------------------------------


def test_forged_expired_wrongly_signed_and_unsigned_tokens_get_401(agent, settings):
    # No refresh grace here: test_tokens covers refreshing a recently expired token.
    settings.AGENT_TOKEN_REFRESH_GRACE = 0
    other_key = ed25519.Ed25519PrivateKey.generate()
    good = claims_for(agent)
    header = jwt.get_unverified_header(token_for(agent))
    past = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    public_pem = key_set().signing.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tokens = {
        "garbage": "not-a-jwt",
        "forged payload": ".".join(
            [token_for(agent).split(".")[0], b64({**good, "sub": "999"}),
             token_for(agent).split(".")[2]]
        ),
        "expired": signed(claims_for(agent, iat=past - 600, exp=past)),
        "wrong key, own kid": jwt.encode(good, other_key, algorithm="EdDSA",
                                         headers={"kid": key_id(other_key.public_key())}),
        "wrong key, our kid": jwt.encode(good, other_key, algorithm="EdDSA",
                                         headers={"kid": header["kid"]}),
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': header['kid']})}.{b64(good)}.",
        "hs256 with the public key": hs256(good, public_pem, header["kid"]),
        "wrong audience": signed(claims_for(agent, aud="someone-else")),
        "wrong issuer": signed(claims_for(agent, iss="someone-else")),
        "no generation": signed({k: v for k, v in good.items() if k != "gen"}),
        "string cluster": signed(claims_for(agent, cluster=str(agent.cluster_id))),
        "no token": "",
    }
    for name, token in tokens.items():
        assert status_codes(token) == {401}, name
    response = Client(**bearer(tokens["expired"])).get(DESIRED)
    assert response.json() == {"error": "invalid_token", "detail": "token expired"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_disabling_an_agent_revokes_its_tokens_at_once_and_for_good(agent):
    token = token_for(agent)
    assert status_codes(token) == {200}
    set_agents_enabled([agent.pk], enabled=False)
    assert status_codes(token) == {401}
    set_agents_enabled([agent.pk], enabled=True)
    assert status_codes(token) == {401}  # re-enabling does not bring old tokens back


def test_a_deleted_agents_token_is_refused(agent):
    token = token_for(agent)
    agent.delete()
    assert status_codes(token) == {401}


def test_a_registration_token_works_once(client, cluster):
    _token, secret = create_registration_token(cluster)
    body = {"registration_token": secret, "name": "a", "version": "1", "capabilities": CAPABILITIES}
    register = "/api/v1/agent/register"
    assert client.post(register, body, content_type="application/json").status_code == 201
    body["name"] = "b"
    assert client.post(register, body, content_type="application/json").status_code == 401


# --- Logs ----------------------------------------------------------------------------------


def test_tokens_never_appear_in_logs(client, cluster, caplog):
    caplog.set_level(logging.DEBUG)
    _token, secret = create_registration_token(cluster)
    body = {"registration_token": secret, "name": "a", "version": "1", "capabilities": CAPABILITIES}
    access = client.post("/api/v1/agent/register", body, content_type="application/json").json()
    agent_client = Client(**bearer(access["token"]))
    refreshed = agent_client.post("/api/v1/agent/token/refresh").json()["token"]
    agent_client = Client(**bearer(refreshed))
    etag = agent_client.get(DESIRED)["ETag"]
    agent_client.get(DESIRED, {"wait": "1"}, HTTP_IF_NONE_MATCH=etag)
    agent_client.post(HEARTBEAT, {}, content_type="application/json")
    agent_client.post(STATUS, {"reports": [{"publish_id": 1, "removed": True}]},
                      content_type="application/json")
    # Failures log too: a used registration token, a tampered access token.
    client.post("/api/v1/agent/register", body, content_type="application/json")
    Client(**bearer(refreshed[:-4] + "AAAA")).get(DESIRED)
    assert caplog.records, "expected the requests to log something"
    formatter = JSONFormatter()
    text = caplog.text + "\n".join(formatter.format(record) for record in caplog.records)
    for token in (secret, access["token"], refreshed):
        assert token not in text
        assert token.split(".")[-1] not in text  # not even a JWT's signature part
    assert secret[4:20] not in text


# --- Sessions and agent tokens kept apart --------------------------------------------------


def test_agent_endpoints_refuse_a_logged_in_admin(admin_client):
    assert admin_client.get(DESIRED).status_code == 401
    assert admin_client.post(HEARTBEAT, {}, content_type="application/json").status_code == 401
    report = {"reports": [{"publish_id": 1, "removed": True}]}
    assert admin_client.post(STATUS, report, content_type="application/json").status_code == 401
    assert admin_client.post("/api/v1/agent/token/refresh").status_code == 401


def test_the_admin_refuses_an_agent_token(agent):
    response = Client(**bearer(token_for(agent))).get("/admin/")
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.urls("tests.clusters.test_security")
def test_user_api_views_refuse_an_agent_token(agent):
    assert Client(**bearer(token_for(agent))).get("/user-view").status_code in (401, 403)


def _views(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def test_only_agent_views_accept_agent_tokens():
    from django.conf import settings

    assert not any(
        "AgentToken" in name
        for name in settings.REST_FRAMEWORK.get("DEFAULT_AUTHENTICATION_CLASSES", [])
    )
    agent_views = 0
    for route, callback in _views(get_resolver().url_patterns):
        view_class = getattr(callback, "cls", None)
        if view_class is None or not issubclass(view_class, APIView):
            continue
        classes = list(view_class.authentication_classes)
        accepts_agents = any(issubclass(c, AgentTokenAuthentication) for c in classes)
        if issubclass(view_class, AgentAPIView):
            agent_views += 1
            assert all(issubclass(c, AgentTokenAuthentication) for c in classes), route
        else:
            assert not accepts_agents, f"{route} accepts agent tokens"
    assert agent_views == 4


def test_agent_ids_of_other_agents_are_not_reachable(agent):
    # The agent's identity comes from its token only: no parameter names an agent or cluster.
    other = AgentFactory()
    client = Client(**bearer(token_for(agent)))
    body = client.get(DESIRED, {"cluster": other.cluster_id, "agent": other.pk}).json()
    assert body["cluster"]["id"] == agent.cluster_id


def test_an_unknown_signing_key_id_and_a_long_token_are_refused(agent):
    token, _expires = issue_access_token(agent.pk, agent.cluster_id, agent.token_generation)
    header, payload, signature = token.split(".")
    other_kid = b64({**jwt.get_unverified_header(token), "kid": "not-a-key"})
    assert status_codes(f"{other_kid}.{payload}.{signature}") == {401}
    assert status_codes("a" * 5000) == {401}
