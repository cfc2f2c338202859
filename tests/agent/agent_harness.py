"""Real parts for the agent's tests: the control plane (uvicorn serving the project's ASGI app
from a thread of the test process, on the test database), a simulated cluster with the real
CRDs, and `manage.py agent` as a subprocess, plus data builders."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from django.db import connection

from agent.kube import KubeClient, connect
from clusters.models import Cluster
from clusters.services import create_registration_token
from kubesim import SimCluster
from publishing.models import DeploymentStatus, ProductPublish
from publishing.services import publish_revision
from tests.conftest import REPO_ROOT
from tests.factories import (
    APIServiceFactory,
    BackendFactory,
    ClusterFactory,
    GatewayFactory,
    ListenerFactory,
    ProductPublishFactory,
    RouteFactory,
    TenantFactory,
)

GATEWAY_API = "gateway.networking.k8s.io/v1"
ENVOY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
AGENT_NAMESPACE = "imp-gateway-system"


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Poll `predicate` until it returns something truthy; that value, or the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def unreachable_kubeconfig(directory: Path) -> Path:
    """A kubeconfig whose API server nobody answers (127.0.0.1:9)."""
    path = directory / "kubeconfig.yaml"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ControlPlane:
    """uvicorn serving impgateway.asgi on a fixed port from a thread of the test process (so
    it sees the test database); `stop()` and `start()` again play an outage."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ControlPlane:
        from impgateway.asgi import application

        # Request threads close their connections after each request, so the test database
        # can be dropped at the end (the settings dict is shared by every thread's connection).
        connection.settings_dict["CONN_MAX_AGE"] = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        # Lifespan off: its start-up would tune the garbage collector of the whole test
        # process (impgateway.runtime; tests/impgateway/test_runtime.py covers it).
        config = uvicorn.Config(application, lifespan="off", log_level="warning",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        if not wait_until(lambda: self.server.started, timeout=10):
            raise RuntimeError("the control plane did not start")
        self._socket = sock
        return self

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=15)
        self._socket.close()
        self.server = None


class SimulatedCluster:
    """A simulated cluster with the real CRDs, a kubeconfig file and a client for checks."""

    def __init__(self, crd_dir: Path, tmp_path: Path) -> None:
        self.sim = SimCluster(crd_dir)
        self.sim.start()
        self.kubeconfig = self.sim.write_kubeconfig(tmp_path / "kubeconfig.yaml")
        self.kube: KubeClient = connect(self.kubeconfig)

    def stop(self) -> None:
        self.kube.close()
        self.sim.stop()

    def go_down(self) -> int:
        """Stop serving (an API-server outage); the port it served on."""
        port = self.sim.port
        self.sim.stop()
        return port

    def come_back_empty(self, port: int) -> None:
        """Serve again on `port` with nothing stored: an API server restored from nothing."""
        self.sim = SimCluster(registry=self.sim.api.schemas)
        self.sim.start(port)

    def add_gateway_class(self, name: str = "envoy-gateway",
                          controller: str = ENVOY_CONTROLLER) -> None:
        self.kube.apply(
            {"apiVersion": GATEWAY_API, "kind": "GatewayClass", "metadata": {"name": name},
             "spec": {"controllerName": controller}},
            field_manager="test-setup",
        )

    def objects(self, kind: str, namespace: str | None = None,
                api_version: str = GATEWAY_API) -> dict[str, dict[str, Any]]:
        return {item["metadata"]["name"]: item
                for item in self.sim.objects(api_version, kind, namespace)}

    def publish_objects(self, publish_id: int) -> dict[tuple[str, str], dict[str, Any]]:
        """Every object labelled with the publish, by (kind, name), across the kinds used."""
        found = {}
        for api_version, kind in (
            ("v1", "Secret"), ("v1", "Service"), ("gateway.envoyproxy.io/v1alpha1", "Backend"),
            ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"),
            ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy"),
            (GATEWAY_API, "Gateway"), (GATEWAY_API, "HTTPRoute"), (GATEWAY_API, "GRPCRoute"),
        ):
            for item in self.sim.objects(api_version, kind):
                labels = item["metadata"].get("labels") or {}
                if labels.get("imp-gateway.io/publish") == str(publish_id):
                    found[(kind, item["metadata"]["name"])] = item
        return found

    def play_controller(self, publish_id: int) -> int:
        """Set the conditions a gateway controller would: Gateway Accepted and Programmed,
        every route's parent Accepted and ResolvedRefs. Returns the objects touched."""
        touched = 0
        for (kind, name), item in self.publish_objects(publish_id).items():
            generation = item["metadata"].get("generation", 1)
            namespace = item["metadata"]["namespace"]
            if kind == "Gateway":
                status = {"conditions": [
                    _condition(kind_, generation) for kind_ in ("Accepted", "Programmed")
                ]}
            elif kind in ("HTTPRoute", "GRPCRoute"):
                status = {"parents": [
                    {"parentRef": ref, "controllerName": ENVOY_CONTROLLER,
                     "conditions": [_condition(kind_, generation)
                                    for kind_ in ("Accepted", "ResolvedRefs")]}
                    for ref in item["spec"]["parentRefs"]
                ]}
            else:
                continue
            self.sim.set_status(item["apiVersion"], kind, namespace, name, status)
            touched += 1
        return touched


def _condition(kind: str, generation: int) -> dict[str, Any]:
    return {"type": kind, "status": "True", "reason": kind, "message": "",
            "observedGeneration": generation,
            "lastTransitionTime": "2026-01-01T00:00:00Z"}


# --- Data ----------------------------------------------------------------------------------


def make_cluster(name: str = "kr-seoul-prod", namespace: str = "imp-gateway") -> Cluster:
    return ClusterFactory(name=name, region="kr-seoul", namespace=namespace)


def registration_token(cluster: Cluster) -> str:
    _token, secret = create_registration_token(cluster)
    return secret


def make_publish(cluster: Cluster, slug: str, routes: int = 2) -> ProductPublish:
    """A publish of one HTTP service with `routes` routes behind one backend, on Envoy."""
    tenant = TenantFactory(slug=f"{slug}-tenant", name=f"{slug} tenant")
    gateway = GatewayFactory(tenant=tenant, name=f"{slug}-gateway")
    ListenerFactory(gateway=gateway)
    service = APIServiceFactory(tenant=tenant, name=f"{slug}-service")
    backend = BackendFactory(service=service, name="upstream")
    for number in range(routes):
        RouteFactory(service=service, backend=backend, name=f"route-{number}",
                     path=f"/{slug}/v1/items-{number}")
    publish = ProductPublishFactory(tenant=tenant, gateway=gateway, cluster=cluster,
                                    product__slug=slug)
    publish.api_services.set([service])
    return publish


def publish_now(publish: ProductPublish) -> int:
    """Publish (a new revision when something changed); the revision number."""
    revision, _created = publish_revision(publish)
    return revision.number


def deployment(publish_id: int) -> DeploymentStatus | None:
    return DeploymentStatus.objects.filter(publish_ref=publish_id).first()


# --- The agent process ---------------------------------------------------------------------


def agent_environment(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("IMPGATEWAY_") or key == "IMPGATEWAY_CRD_DIR"}
    env.update({
        # The agent needs no database and no control-plane settings.
        "DJANGO_SETTINGS_MODULE": "agent.settings",
        "PYTHONUNBUFFERED": "1",
        "KUBECONFIG": "/nonexistent",
    })
    env.update(overrides)
    return env


class AgentProcess:
    """`python manage.py agent ...` as a subprocess, its log in a file."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "manage.py"), "agent", *args],
            cwd=REPO_ROOT, env=env or agent_environment(), stdout=self._log,
            stderr=subprocess.STDOUT, text=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        """SIGKILL: the agent dies without releasing anything."""
        if self.alive():
            self.process.kill()
        self.process.wait(timeout=10)
        self._log.close()

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code


def agent_args(control_plane_url: str, kubeconfig: Path, *, name: str, token: str = "",
               token_file: Path | None = None, metrics_port: int = 0,
               extra: list[str] | None = None) -> list[str]:
    """Options for a test agent: short intervals so tests stay quick."""
    args = [
        "--server", control_plane_url, "--kubeconfig", str(kubeconfig), "--name", name,
        "--namespace", AGENT_NAMESPACE, "--metrics-port", str(metrics_port),
        "--metrics-address", "127.0.0.1",
        "--poll-wait", "5", "--heartbeat-interval", "1", "--status-interval", "0.3",
        "--drift-interval", "2", "--lease-duration", "2", "--renew-deadline", "1.3",
        "--retry-period", "0.25", "--max-backoff", "1",
    ]
    if token:
        args += ["--registration-token", token]
    if token_file is not None:
        args += ["--token-file", str(token_file)]
    return args + list(extra or [])


def metric(port: int, name: str, labels: str = "") -> float:
    """One sample of an agent's /metrics (0 when absent)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0
