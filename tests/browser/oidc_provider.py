"""oidc-provider-mock in its own process, standing in for Keycloak: for the browser sign-in
test and the bearer-token tests of the API."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests

CLIENT_ID = "imp-gateway-console"
CLIENT_SECRET = "console-secret"
SCOPES = "openid email profile"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class OIDCProvider:
    """A running provider: its URL, the Django settings that point at it, and token helpers."""

    url: str
    log_path: str

    def django_settings(self) -> dict:
        return {
            "OIDC_ENABLED": True,
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_OP_ISSUER": self.url,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.url}/oauth2/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.url}/oauth2/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.url}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.url}/jwks",
            "OIDC_OP_LOGOUT_ENDPOINT": f"{self.url}/oauth2/end_session",
            "OIDC_RP_SCOPES": SCOPES,
            # Its ID tokens carry no kid (Keycloak's do).
            "OIDC_VERIFY_KID": False,
            "OIDC_API_AUDIENCE": CLIENT_ID,
        }

    def put_user(self, sub: str, claims: dict) -> None:
        response = requests.put(f"{self.url}/users/{sub}", json=claims, timeout=10)
        response.raise_for_status()

    def revoke_tokens(self, sub: str) -> None:
        requests.post(f"{self.url}/users/{sub}/revoke-tokens", timeout=10).raise_for_status()

    def authorize(self, authorize_url: str, sub: str) -> str:
        """Submit the provider's authorization form as `sub`; returns the redirect back."""
        response = requests.post(
            authorize_url, data={"sub": sub}, allow_redirects=False, timeout=10
        )
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def access_token(self, sub: str) -> str:
        """A fresh access token for `sub` through the authorization-code flow."""
        redirect_uri = "http://127.0.0.1/callback"
        query = {
            "client_id": CLIENT_ID,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": SCOPES,
            "state": "state",
            "nonce": "nonce",
        }
        authorize_url = f"{self.url}/oauth2/authorize?" + "&".join(
            f"{key}={requests.utils.quote(value)}" for key, value in query.items()
        )
        location = self.authorize(authorize_url, sub)
        code = parse_qs(urlsplit(location).query)["code"][0]
        response = requests.post(
            f"{self.url}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access_token"]


@contextlib.contextmanager
def running_provider(users: list[dict], token_max_age: int | None = None) -> Iterator[OIDCProvider]:
    """Start `python -m oidc_provider_mock` with predefined users; stop it afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "oidc_provider_mock", "-p", str(port)]
    for user in users:
        command += ["--user-claims", json.dumps(user)]
    if token_max_age is not None:
        command += ["--token-max-age", str(token_max_age)]
    log = tempfile.NamedTemporaryFile(prefix="oidc-provider-", suffix=".log", delete=False)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{url}/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"oidc-provider-mock did not start; see {log.name}")
            time.sleep(0.05)
        yield OIDCProvider(url=url, log_path=log.name)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
