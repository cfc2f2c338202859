"""Shared fixtures: real services when present, a clear skip (or failure in CI) when not."""

from __future__ import annotations

from pathlib import Path

import pytest

# Also imported from here by test modules.
from tests.support.environment import (  # noqa: F401
    REPO_ROOT,
    REQUIRE_SERVICES,
    crd_directory,
    skip_or_fail,
)

# Shared fixtures from tests/support: real Traefik, network namespaces with backends.
from tests.support.netns import echo_backend, network_namespace  # noqa: F401
from tests.support.traefik import traefik, traefik_cluster  # noqa: F401


@pytest.fixture(scope="session")
def crd_dir() -> Path:
    path = crd_directory()
    if not path.is_dir():
        skip_or_fail(f"CRD schemas not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Password hashing is deliberately slow; tests need it correct, not slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def control_plane(settings):
    """The control plane served by uvicorn on the test database (agent end-to-end tests)."""
    from django.db import connection

    from clusters.desired_state import close_database_threads
    from tests.agent.agent_harness import ControlPlane

    # SQLite serialises writers: one database thread avoids lock waits in the server.
    settings.AGENT_DB_THREADS = 1 if connection.vendor == "sqlite" else 4
    settings.AGENT_WAKEUP_REDIS_URL = ""
    plane = ControlPlane().start()
    yield plane
    plane.stop()
    close_database_threads()


@pytest.fixture
def simulated(crd_dir, tmp_path):
    """A simulated Kubernetes API server with the real CRDs and an Envoy GatewayClass."""
    from tests.agent.agent_harness import SimulatedCluster

    cluster = SimulatedCluster(crd_dir, tmp_path)
    cluster.add_gateway_class()
    yield cluster
    cluster.stop()
