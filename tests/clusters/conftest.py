"""Fixtures of the agent-protocol tests: clusters, agents with tokens, publishes, real Redis,
and subprocess environments that share the test database."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import uvicorn
from django.db import connection
from django.test import Client

from clusters.desired_state import close_database_threads
from clusters.models import Agent, Cluster
from clusters.tokens import issue_access_token
from publishing.services import publish_revision
from tests.conftest import REPO_ROOT, skip_or_fail
from tests.factories import (
    AgentFactory,
    APIServiceFactory,
    BackendFactory,
    ClusterFactory,
    GatewayFactory,
    ListenerFactory,
    ProductPublishFactory,
    RouteFactory,
    TenantFactory,
)

TEST_REDIS_URL = os.environ.get("IMPGATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
CAPABILITIES = {
    "kubernetes_version": "1.32",
    "gateway_classes": ["envoy-gateway"],
    "crds": [
        "gateway.networking.k8s.io/v1/Gateway",
        "gateway.networking.k8s.io/v1/HTTPRoute",
        "gateway.envoyproxy.io/v1alpha1/Backend",
        "gateway.envoyproxy.io/v1alpha1/BackendTrafficPolicy",
        "gateway.envoyproxy.io/v1alpha1/SecurityPolicy",
    ],
}


@pytest.fixture(autouse=True)
def _agent_settings(settings):
    """Unit tests run the async view's queries on the test's own connection and wake waiters
    in-process; tests that need Redis or database threads say so."""
    settings.AGENT_DB_THREADS = 0
    settings.AGENT_WAKEUP_REDIS_URL = ""
    yield
    close_database_threads()


@pytest.fixture
def cluster(db) -> Cluster:
    return ClusterFactory(capabilities={})


@pytest.fixture
def agent(cluster) -> Agent:
    return AgentFactory(cluster=cluster)


def token_for(agent: Agent) -> str:
    token, _expires = issue_access_token(agent.pk, agent.cluster_id, agent.token_generation)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def agent_client(agent) -> Client:
    """A test client that sends the agent's access token with every request."""
    return Client(**bearer(token_for(agent)))


def make_publish(cluster: Cluster, slug: str | None = None):
    """A complete, valid publish on the cluster (not yet published)."""
    tenant = TenantFactory()
    gateway = GatewayFactory(tenant=tenant)
    ListenerFactory(gateway=gateway)
    service = APIServiceFactory(tenant=tenant)
    backend = BackendFactory(service=service)
    RouteFactory(service=service, backend=backend)
    extra = {"product__slug": slug} if slug else {}
    publish = ProductPublishFactory(tenant=tenant, gateway=gateway, cluster=cluster, **extra)
    publish.api_services.set([service])
    return publish


@contextmanager
def committed() -> Iterator[None]:
    """Run the on-commit callbacks (the desired-state bump) of what happens inside as a commit
    would, in tests that run inside a transaction: run once, then gone."""
    start = len(connection.run_on_commit)
    yield
    callbacks = connection.run_on_commit[start:]
    del connection.run_on_commit[start:]
    for _savepoints, callback, _robust in callbacks:
        callback()


def published(cluster: Cluster, slug: str | None = None):
    """A publish on the cluster, published (revision 1), its cluster's revision bumped."""
    publish = make_publish(cluster, slug)
    with committed():
        publish_revision(publish)
    return publish


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis is not reachable at {TEST_REDIS_URL}: {exc}")
    return TEST_REDIS_URL


@pytest.fixture
def redis_wakeups(settings, redis_url) -> str:
    """Wake-ups through the real Redis, on a channel of this test's own; returns the channel."""
    channel = f"impgateway-test-{uuid.uuid4().hex[:12]}"
    settings.AGENT_WAKEUP_REDIS_URL = redis_url
    settings.AGENT_WAKEUP_CHANNEL = channel
    return channel


# --- Subprocesses that see the test database -----------------------------------------------


class SharedDatabase:
    """Environment for a subprocess (Celery worker, web server) to use the test database.

    PostgreSQL: the test database itself (tests using it are transactional). SQLite: the
    in-memory test database is copied to a file the subprocess opens; `read` queries it.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.vendor = connection.vendor
        self.env: dict[str, str] = {}
        self.sqlite_path: Path | None = None
        if self.vendor == "postgresql":
            settings_dict = connection.settings_dict
            self.env["DATABASE_URL"] = (
                f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:"
                f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
            )
        else:
            self.sqlite_path = tmp_path / "shared.sqlite3"
            self.env["DATABASE_URL"] = ""
            self.env["SQLITE_PATH"] = str(self.sqlite_path)

    def publish(self) -> None:
        """Make what the test wrote so far visible to subprocesses (SQLite: copy it out)."""
        if self.sqlite_path is not None:
            connection.ensure_connection()
            target = sqlite3.connect(self.sqlite_path)
            try:
                connection.connection.backup(target)
            finally:
                target.close()

    def read(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows as subprocesses see them."""
        if self.sqlite_path is not None:
            source = sqlite3.connect(self.sqlite_path, timeout=20)
            try:
                return source.execute(sql, params).fetchall()
            finally:
                source.close()
        with connection.cursor() as cursor:
            cursor.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall()


@pytest.fixture
def shared_database(transactional_db, tmp_path) -> SharedDatabase:
    return SharedDatabase(tmp_path)


def subprocess_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "impgateway.settings", "PYTHONUNBUFFERED": "1"}
    env.update(overrides)
    return env


def celery_command() -> list[str]:
    celery = shutil.which("celery", path=str(Path(sys.executable).parent))
    return [celery or "celery", "-A", "impgateway"]


def stop_process(process: subprocess.Popen, timeout: float = 10) -> str:
    """Stop a process we started, by its PID; return what it wrote."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    output = process.stdout.read() if process.stdout else ""
    return output or ""


def forget_redis_prefix(url: str, prefix: str) -> None:
    """Delete the keys a test run left under its own prefix (Celery's queues and bindings)."""
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@pytest.fixture
def repo_root() -> Iterator[Path]:
    yield REPO_ROOT


class ServerThread:
    """uvicorn serving impgateway.asgi:application from a thread of the test process, so it
    sees the test database (also SQLite's in-memory one)."""

    def __init__(self) -> None:
        from impgateway.asgi import application

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        # Lifespan off: its start-up would tune the garbage collector of the whole test
        # process (impgateway.runtime; tests/impgateway/test_runtime.py covers it).
        config = uvicorn.Config(
            application, lifespan="off", log_level="warning", backlog=2048, timeout_keep_alive=75
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        assert wait_until(lambda: self.server.started, timeout=10)
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.socket.close()


@pytest.fixture
def database_threads(settings) -> None:
    # SQLite's shared in-memory test database locks whole tables between connections: one
    # database thread keeps the server's queries in order. PostgreSQL takes a real pool.
    settings.AGENT_DB_THREADS = 1 if connection.vendor == "sqlite" else 4


@pytest.fixture
def server(database_threads) -> Iterator[ServerThread]:
    with ServerThread() as running:
        yield running
