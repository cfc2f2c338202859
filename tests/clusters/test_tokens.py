"""Access tokens: signing keys from settings, key ids, rotation, refresh, settings checks."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from clusters.tokens import (
    InvalidAgentToken,
    decode_access_token,
    issue_access_token,
    key_id,
    key_set,
)
from tests.conftest import REPO_ROOT

from .conftest import bearer, token_for

REFRESH = "/api/v1/agent/token/refresh"


def private_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.mark.parametrize(
    ("make_key", "algorithm"),
    [
        (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
    ],
    ids=["ed25519", "p256", "rsa"],
)
def test_every_supported_key_type_signs_and_verifies(settings, make_key, algorithm):
    key = make_key()
    settings.AGENT_JWT_PRIVATE_KEY = private_pem(key)
    token, expires_at = issue_access_token(7, 3, 2)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == algorithm
    assert header["kid"] == key_id(key.public_key()) == key_set().signing.key_id
    claims = decode_access_token(token)
    assert (claims.agent_id, claims.cluster_id, claims.generation) == (7, 3, 2)
    assert claims.expires_at == expires_at
    assert expires_at - claims.issued_at == timedelta(seconds=settings.AGENT_TOKEN_TTL)


def test_key_ids_are_rfc7638_thumbprints():
    # RFC 7638 section 3.1's example key and thumbprint.
    n = int.from_bytes(
        jwt.utils.base64url_decode(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
            "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YG"
            "jQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt"
            "-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDK"
            "gw"
        ),
        "big",
    )
    public_key = rsa.RSAPublicNumbers(65537, n).public_key()
    assert key_id(public_key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_rotation_accepts_listed_public_keys_and_signs_with_the_new_key(settings):
    old, new = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    settings.AGENT_JWT_PRIVATE_KEY = private_pem(old)
    old_token, _expires = issue_access_token(1, 1, 1)
    # Step 2 of a rotation: the new key signs, the old one still verifies.
    settings.AGENT_JWT_PRIVATE_KEY = private_pem(new)
    settings.AGENT_JWT_PUBLIC_KEYS = public_pem(old)
    assert decode_access_token(old_token).agent_id == 1
    new_token, _expires = issue_access_token(1, 1, 1)
    assert jwt.get_unverified_header(new_token)["kid"] == key_id(new.public_key())
    # Step 3: the old key is gone; its tokens stop working.
    settings.AGENT_JWT_PUBLIC_KEYS = ""
    with pytest.raises(InvalidAgentToken, match="unknown key"):
        decode_access_token(old_token)
    assert decode_access_token(new_token).agent_id == 1


def test_several_public_keys_in_one_bundle(settings):
    first, second = ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())
    settings.AGENT_JWT_PUBLIC_KEYS = public_pem(first) + "\n" + public_pem(second)
    assert {key_id(first.public_key()), key_id(second.public_key())} <= set(key_set().by_key_id)


@pytest.mark.django_db
def test_refresh_returns_a_fresh_token(agent):
    from django.test import Client

    response = Client(**bearer(token_for(agent))).post(REFRESH, content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["agent_id"] == agent.pk
    claims = decode_access_token(body["token"])
    assert (claims.agent_id, claims.cluster_id, claims.generation) == (
        agent.pk,
        agent.cluster_id,
        agent.token_generation,
    )


@pytest.mark.django_db
def test_refresh_accepts_a_recently_expired_token_only(agent, settings):
    from django.test import Client

    long_ago = datetime.now(UTC) - timedelta(seconds=settings.AGENT_TOKEN_TTL + 3600)
    expired, _expires = issue_access_token(
        agent.pk, agent.cluster_id, agent.token_generation, now=long_ago
    )
    settings.AGENT_TOKEN_REFRESH_GRACE = 7200
    assert Client(**bearer(expired)).post(REFRESH).status_code == 200
    # Expired tokens are good for refreshing only.
    assert Client(**bearer(expired)).get("/api/v1/agent/desired-state").status_code == 401
    assert Client(**bearer(expired)).post("/api/v1/agent/heartbeat").status_code == 401
    settings.AGENT_TOKEN_REFRESH_GRACE = 1800
    response = Client(**bearer(expired)).post(REFRESH)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "detail": "token expired"}
    settings.AGENT_TOKEN_REFRESH_GRACE = 0
    assert Client(**bearer(expired)).post(REFRESH).status_code == 401


def manage_check(tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "impgateway.settings",
        "AGENT_JWT_DEV_KEY_FILE": str(tmp_path / "var" / "agent-key.pem"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AGENT_JWT_PRIVATE_KEY": "not a key"}, "AGENT_JWT_PRIVATE_KEY: not an unencrypted PEM"),
        (
            {"AGENT_JWT_PUBLIC_KEYS": "-----BEGIN CERTIFICATE-----"},
            "AGENT_JWT_PUBLIC_KEYS: expected one or more PEM public keys",
        ),
        ({"AGENT_DISCONNECT_AFTER": "60"}, "AGENT_DISCONNECT_AFTER: must be longer than"),
        ({"AGENT_LONGPOLL_MAX_WAIT": "61"}, "AGENT_LONGPOLL_MAX_WAIT: must be at most 60"),
        ({"AGENT_WAKEUP_REDIS_URL": "localhost:6379"}, "AGENT_WAKEUP_REDIS_URL: expected a URL"),
        ({"IMPGATEWAY_HTTPS": "1", "SECRET_KEY": "x" * 60}, "AGENT_JWT_PRIVATE_KEY: must be set"),
    ],
)
def test_bad_agent_settings_fail_at_start(tmp_path, env, message):
    result = manage_check(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_development_key_is_generated_once_and_kept(tmp_path):
    first = manage_check(tmp_path)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "agent-key.pem"
    pem = key_file.read_text()
    assert "PRIVATE KEY" in pem and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert manage_check(tmp_path).returncode == 0
    assert key_file.read_text() == pem
    configured = manage_check(
        tmp_path / "other",
        AGENT_JWT_PRIVATE_KEY=private_pem(ed25519.Ed25519PrivateKey.generate()),
    )
    assert configured.returncode == 0, configured.stderr
    assert not (tmp_path / "other").exists()
