"""Settings read from the environment fail loudly, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from impgateway import settings as project_settings
from tests.conftest import REPO_ROOT


def test_env_helpers(monkeypatch, tmp_path):
    monkeypatch.setenv("X_BOOL", "yes")
    assert project_settings.env_bool("X_BOOL") is True
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL: expected true or false"):
        project_settings.env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "12")
    assert project_settings.env_int("X_INT", 1, minimum=1) == 12
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="X_INT: must be at least 1"):
        project_settings.env_int("X_INT", 1, minimum=1)
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_INT: expected an integer"):
        project_settings.env_int("X_INT", 1)
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert project_settings.env_secret("X_SECRET") == "s3cret"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE: cannot read"):
        project_settings.env_secret("X_SECRET")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert project_settings.env_list("X_LIST") == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL: expected a URL"),
        ("DEBUG", "perhaps", "DEBUG: expected true or false"),
        ("IMPGATEWAY_DOMAIN", "bad..domain", "IMPGATEWAY_DOMAIN"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: expected a URL"),
    ],
)
def test_invalid_values_fail_at_start(variable, value, message):
    env = {**os.environ, variable: value, "DJANGO_SETTINGS_MODULE": "impgateway.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_celery_runs_eagerly_without_a_broker():
    from django.conf import settings

    if settings.CELERY_BROKER_URL:
        pytest.skip("a broker is configured for this run")
    assert settings.CELERY_TASK_ALWAYS_EAGER is True
