"""Production settings: `check --deploy` is clean with production values; weak ones refuse."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

from impgateway.logging import JSONFormatter
from tests.conftest import REPO_ROOT

PRODUCTION = {
    "SECRET_KEY": "p" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
    "IMPGATEWAY_HTTPS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "TRUST_PROXY_HEADERS": "1",
    "ALLOWED_HOSTS": "console.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://console.example.com",
    "DEBUG": "0",
    "LOG_FORMAT": "json",
}


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_values(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    secret_file = tmp_path / "secret-key"
    secret_file.write_text(PRODUCTION["SECRET_KEY"])
    signing_key = tmp_path / "agent-signing-key.pem"
    signing_key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    from cryptography.fernet import Fernet

    env = {
        **PRODUCTION,
        "SECRET_KEY_FILE": str(secret_file),
        "AGENT_JWT_PRIVATE_KEY_FILE": str(signing_key),
        "API_KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    del env["SECRET_KEY"]
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_the_development_secret_key():
    env = {**PRODUCTION}
    del env["SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY: must be set when IMPGATEWAY_HTTPS is on" in result.stderr


def test_development_defaults_are_flagged_by_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={"DEBUG": "1"})
    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG
    assert "security.W004" in result.stderr  # HSTS


def test_json_log_lines_carry_extra_fields():
    record = logging.LogRecord(
        "impgateway", logging.INFO, __file__, 1, "published %s", ("r2",), None
    )
    record.publish_id = 7
    line = json.loads(JSONFormatter().format(record))
    assert line["message"] == "published r2"
    assert line["publish_id"] == 7
    assert line["level"] == "INFO"
