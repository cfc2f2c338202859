"""Bearer tokens for the REST API: opaque access tokens from the OIDC provider process verified
through its userinfo endpoint (with a short cache), and Keycloak-style JWT access tokens
verified locally against a JWKS; anything invalid or expired gets 401."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache

from impgateway.models import RoleGrant
from tests.browser.oidc_provider import running_provider
from tests.factories import TenantFactory

ME = "/api/v1/me/"
ALICE = {
    "sub": "alice",
    "email": "alice@example.com",
    "preferred_username": "alice",
    "groups": ["/tenants/acme/org-admin"],
}


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="module")
def provider():
    with running_provider([ALICE]) as running:
        yield running


@pytest.fixture
def provider_settings(settings, provider):
    for name, value in provider.django_settings().items():
        setattr(settings, name, value)
    return settings


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# --- opaque tokens, verified through userinfo ---------------------------------------------------


@pytest.mark.django_db
def test_a_provider_token_authenticates_as_the_mapped_user(client, provider, provider_settings):
    TenantFactory(slug="acme")
    response = client.get(ME, **bearer(provider.access_token("alice")))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["username"] == "alice"
    assert [(g["role"], g["tenant"], g["source"]) for g in body["grants"]] == [
        ("org-admin", "acme", "idp")
    ]
    assert "catalog.apiservice" in body["permissions"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-token", "Bearer a.b.c", "Bearer", "Bearer two tokens"],
    ids=["unknown", "jwt-shaped", "empty", "two"],
)
def test_invalid_tokens_get_401(client, provider_settings, header):
    response = client.get(ME, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.django_db
def test_a_revoked_token_is_refused_once_the_cache_lets_go(client, provider, provider_settings):
    TenantFactory(slug="acme")
    token = provider.access_token("alice")
    assert client.get(ME, **bearer(token)).status_code == 200
    provider.revoke_tokens("alice")
    # Verified a moment ago: the short cache answers without asking the provider.
    assert client.get(ME, **bearer(token)).status_code == 200
    provider_settings.OIDC_API_TOKEN_CACHE_SECONDS = 0
    cache.clear()
    assert client.get(ME, **bearer(token)).status_code == 401


@pytest.mark.django_db
def test_an_expired_token_gets_401(client, settings):
    TenantFactory(slug="acme")
    with running_provider([ALICE], token_max_age=1) as short_lived:
        for name, value in short_lived.django_settings().items():
            setattr(settings, name, value)
        token = short_lived.access_token("alice")
        time.sleep(1.2)
        assert client.get(ME, **bearer(token)).status_code == 401


@pytest.mark.django_db
def test_an_unreachable_provider_is_503_not_a_login_failure(client, provider_settings):
    provider_settings.OIDC_OP_USER_ENDPOINT = "http://127.0.0.1:9/userinfo"
    response = client.get(ME, **bearer("opaque-token"))
    assert response.status_code == 503


@pytest.mark.django_db
def test_bearer_tokens_need_oidc(client):
    assert client.get(ME, **bearer("anything")).status_code == 401
    assert client.get(ME).status_code == 401


# --- JWT access tokens, verified against the JWKS ----------------------------------------------

ISSUER = "https://keycloak.test/realms/imp-gateway"
AUDIENCE = "imp-gateway-api"


class JWKSServer:
    """A JWKS endpoint over real HTTP whose keys the test can rotate."""

    def __init__(self) -> None:
        self.keys: list[dict] = []
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                outer.requests += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/certs"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_key(self, key_id: str):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        self.keys.append({**public, "kid": key_id, "use": "sig", "alg": "RS256"})
        return private


@pytest.fixture(scope="module")
def jwks():
    server = JWKSServer()
    server.thread.start()
    yield server
    server.server.shutdown()


@pytest.fixture
def jwt_settings(settings, jwks):
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "imp-gateway-console"
    settings.OIDC_OP_ISSUER = ISSUER
    settings.OIDC_OP_JWKS_ENDPOINT = jwks.url
    settings.OIDC_OP_USER_ENDPOINT = "http://127.0.0.1:9/never-asked"
    settings.OIDC_API_AUDIENCE = AUDIENCE
    settings.OIDC_API_TOKEN_VERIFICATION = "auto"
    return settings


@pytest.fixture(scope="module")
def signing_key(jwks):
    return jwks.add_key("key-1")


def keycloak_token(key, key_id: str | None = "key-1", **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": [AUDIENCE, "account"],
        "azp": "imp-gateway-cli",
        "typ": "Bearer",
        "sub": "kc-4b1f",
        "preferred_username": "kc-dev",
        "email": "dev@example.com",
        "groups": ["/tenants/acme"],
        "realm_access": {"roles": ["api-developer", "offline_access"]},
        "iat": now,
        "exp": now + 300,
        **overrides,
    }
    claims = {name: value for name, value in claims.items() if value is not None}
    headers = {"kid": key_id} if key_id else {}
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


@pytest.mark.django_db
def test_a_keycloak_jwt_is_verified_locally_and_mapped(client, jwt_settings, signing_key):
    TenantFactory(slug="acme")
    response = client.get(ME, **bearer(keycloak_token(signing_key)))
    assert response.status_code == 200, response.content
    assert response.json()["username"] == "kc-dev"
    grant = RoleGrant.objects.get(user__username="kc-dev")
    assert (grant.role, grant.tenant.slug, grant.source) == ("api-developer", "acme", "idp")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 120},
        {"aud": ["account"]},
        {"iss": "https://keycloak.test/realms/other"},
        {"typ": "ID", "aud": AUDIENCE},
        {"typ": "Refresh"},
        {"sub": None},
    ],
    ids=["expired", "other-audience", "other-issuer", "id-token", "refresh-token", "no-subject"],
)
def test_jwts_with_bad_claims_get_401(client, jwt_settings, signing_key, overrides):
    response = client.get(ME, **bearer(keycloak_token(signing_key, **overrides)))
    assert response.status_code == 401


@pytest.mark.django_db
def test_jwts_with_bad_signatures_get_401(client, jwt_settings, signing_key):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert client.get(ME, **bearer(keycloak_token(stranger))).status_code == 401
    assert client.get(ME, **bearer(keycloak_token(stranger, key_id="unknown"))).status_code == 401
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60},
        "a-shared-secret-an-attacker-picked-32b",
        algorithm="HS256",
        headers={"kid": "key-1"},
    )
    assert client.get(ME, **bearer(forged)).status_code == 401
    unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x"}, None, algorithm="none")
    assert client.get(ME, **bearer(unsigned)).status_code == 401


@pytest.mark.django_db
def test_a_rotated_signing_key_is_fetched_once_it_is_seen(client, jwt_settings, jwks, signing_key):
    TenantFactory(slug="acme")
    assert client.get(ME, **bearer(keycloak_token(signing_key))).status_code == 200
    fetched = jwks.requests
    rotated = jwks.add_key("key-2")
    response = client.get(ME, **bearer(keycloak_token(rotated, key_id="key-2", sub="kc-2")))
    assert response.status_code == 200
    assert jwks.requests == fetched + 1
    jwks.keys.pop()


@pytest.mark.django_db
def test_jwt_mode_refuses_opaque_tokens_and_userinfo_mode_never_reads_jwks(
    client, jwt_settings, jwks, signing_key
):
    jwt_settings.OIDC_API_TOKEN_VERIFICATION = "jwt"
    assert client.get(ME, **bearer("opaque-token")).status_code == 401
    jwt_settings.OIDC_API_TOKEN_VERIFICATION = "userinfo"
    fetched = jwks.requests
    # userinfo is unreachable here: the JWT is not verified locally, so the API cannot tell.
    assert client.get(ME, **bearer(keycloak_token(signing_key))).status_code == 503
    assert jwks.requests == fetched
