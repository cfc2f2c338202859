"""Benchmark: the in-cluster agent applying publishes to a simulated cluster.

Run: `.venv/bin/python bench/agent_apply.py [--publishes 50] [--objects 1000]`
Real processes: the control plane (one uvicorn process), `python -m kubesim` with the real
CRDs (../shared/crds or $IMPGATEWAY_CRD_DIR) and `manage.py agent`. Uses PostgreSQL at
127.0.0.1:5432 when it answers (a throw-away database), else a SQLite file; Redis at
127.0.0.1:6379 for long-poll wake-ups when it answers. Prints:
- publish-to-applied latency p50/p95 over N publishes (commit of the new revision until every
  object of the publish carries it in the cluster), against the 5 s sync loops of Kong and
  Gravitee and Argo CD's 120 s refresh;
- the time to apply about 1,000 objects (several publishes), by a fresh agent;
- the objects written by a no-change reconcile of the same objects (target 0), checked against
  the cluster's resourceVersions too.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
POSTGRES = "postgres://postgres@127.0.0.1:5432/"
REDIS = "redis://127.0.0.1:6379/12"
AGENT_NAMESPACE = "imp-gateway-system"
GATEWAY_API = "gateway.networking.k8s.io/v1"


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def wait_for(predicate, timeout: float, interval: float = 0.005):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# --- Set-up -------------------------------------------------------------------------------


def choose_database(workdir: str) -> tuple[dict[str, str], str]:
    if reachable("127.0.0.1", 5432):
        name = f"impgateway_bench_{uuid.uuid4().hex[:8]}"
        return {"DATABASE_URL": POSTGRES + name}, f"PostgreSQL ({name}, dropped afterwards)"
    path = os.path.join(workdir, "bench.sqlite3")
    return {"DATABASE_URL": "", "SQLITE_PATH": path}, f"SQLite ({path})"


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def make_publish(cluster, slug: str, routes: int):
    """A publish of one HTTP service with `routes` routes (each with a timeout, so each has
    its own BackendTrafficPolicy on Envoy Gateway) behind two backends."""
    from catalog.models import APIService, Backend, Gateway, Listener, Product, Route, Tenant
    from publishing.models import ProductPublish

    tenant, _ = Tenant.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    gateway = Gateway.objects.create(tenant=tenant, name=f"{slug}-gateway",
                                     gateway_class="envoy-gateway")
    Listener.objects.create(gateway=gateway, name="http", port=80, protocol="HTTP")
    service = APIService.objects.create(tenant=tenant, name=f"{slug}-service")
    backends = [
        Backend.objects.create(service=service, name=f"upstream-{n}", timeout_seconds=10,
                               endpoints=[f"upstream-{n}.default.svc.cluster.local:8080"])
        for n in range(2)
    ]
    for number in range(routes):
        Route.objects.create(service=service, backend=backends[number % 2],
                             name=f"route-{number}", path=f"/{slug}/v1/items-{number}",
                             timeout_seconds=5)
    product = Product.objects.create(tenant=tenant, name=slug.title(), slug=slug)
    publish = ProductPublish.objects.create(tenant=tenant, product=product, gateway=gateway,
                                            cluster=cluster, environment="dev")
    publish.api_services.set([service])
    return publish, backends[0]


class Run:
    """The processes of one benchmark run."""

    def __init__(self, workdir: Path, env: dict[str, str], crd_dir: Path) -> None:
        self.workdir = workdir
        self.env = env
        self.crd_dir = crd_dir
        self.processes: list[subprocess.Popen] = []

    def control_plane(self) -> str:
        port = free_port()
        self.processes.append(start(
            [sys.executable, "-m", "uvicorn", "impgateway.asgi:application", "--host",
             "127.0.0.1", "--port", str(port), "--lifespan", "off", "--no-access-log",
             "--log-level", "warning"], self.env, self.workdir / "control-plane.log"))
        if not wait_for(lambda: reachable("127.0.0.1", port), 30, 0.1):
            raise SystemExit("the control plane did not start")
        return f"http://127.0.0.1:{port}"

    def kubesim(self) -> Path:
        kubeconfig = self.workdir / "kubeconfig.yaml"
        self.processes.append(start(
            [sys.executable, "-m", "kubesim", "--crds", str(self.crd_dir),
             "--kubeconfig-out", str(kubeconfig)], self.env, self.workdir / "kubesim.log"))
        if not wait_for(kubeconfig.exists, 30, 0.1):
            raise SystemExit("kubesim did not start")
        return kubeconfig

    def agent(self, server: str, kubeconfig: Path, token: str, name: str, *extra: str,
              wait: bool = False) -> subprocess.Popen:
        agent_env = {**self.env, "DJANGO_SETTINGS_MODULE": "agent.settings"}
        command = [sys.executable, "manage.py", "agent", "--server", server, "--kubeconfig",
                   str(kubeconfig), "--registration-token", token, "--token-file",
                   str(self.workdir / f"{name}.token"), "--name", name, "--namespace",
                   AGENT_NAMESPACE, "--metrics-port", "0", "--drift-interval", "3600",
                   "--poll-wait", "30", *extra]
        process = start(command, agent_env, self.workdir / f"{name}.log")
        if wait:
            process.wait(timeout=600)
        else:
            self.processes.append(process)
        return process

    def close(self) -> None:
        for process in reversed(self.processes):
            stop(process)


def reconcile_figures(log: Path) -> tuple[float, dict[str, int]]:
    """The reconcile duration and object counts an --once agent logged."""
    text = log.read_text()
    durations = [float(value) for value in re.findall(r"event=reconcile .*duration=([\d.]+)",
                                                      text)]
    counts = {action: 0 for action in ("created", "configured", "unchanged", "pruned", "failed")}
    for line in text.splitlines():
        if "event=publish_applied" in line:
            for action in counts:
                match = re.search(rf" {action}=(\d+)", line)
                counts[action] += int(match.group(1)) if match else 0
    return (durations[-1] if durations else float("nan")), counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishes", type=int, default=50,
                        help="publishes timed for publish-to-applied latency")
    parser.add_argument("--objects", type=int, default=1000,
                        help="objects (about) for the bulk apply and no-change reconcile")
    parser.add_argument("--routes", type=int, default=5,
                        help="routes of the publish timed for latency")
    args = parser.parse_args()

    crd_dir = Path(os.environ.get("IMPGATEWAY_CRD_DIR") or ROOT.parent / "shared" / "crds")
    workdir = Path(tempfile.mkdtemp(prefix="impgateway-bench-agent-"))
    database_env, database_label = choose_database(str(workdir))
    redis_url = REDIS if reachable("127.0.0.1", 6379) else ""
    env = {
        **os.environ, **database_env,
        "DJANGO_SETTINGS_MODULE": "impgateway.settings",
        "AGENT_WAKEUP_REDIS_URL": redis_url,
        "AGENT_WAKEUP_CHANNEL": f"impgateway-bench-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
    }
    os.environ.update({k: v for k, v in env.items()
                       if k in database_env or k.startswith("AGENT") or k == "LOG_LEVEL"})
    os.environ["DJANGO_SETTINGS_MODULE"] = "impgateway.settings"
    if database_env.get("DATABASE_URL"):
        import psycopg

        with psycopg.connect(POSTGRES + "postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database_env["DATABASE_URL"].rsplit("/", 1)[1]}"')
    run = Run(workdir, env, crd_dir)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from agent.kube import ObjectKey, connect
        from clusters.models import Cluster
        from clusters.services import create_registration_token
        from publishing.services import publish_revision, revision_manifests

        server = run.control_plane()
        kubeconfig = run.kubesim()
        kube = connect(kubeconfig)
        kube.apply({"apiVersion": GATEWAY_API, "kind": "GatewayClass",
                    "metadata": {"name": "envoy-gateway"},
                    "spec": {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}},
                   field_manager="bench")
        print(f"database: {database_label}; wake-ups: "
              f"{'Redis ' + redis_url if redis_url else 'in-process'}; work dir {workdir}")

        # 1. Publish-to-applied latency: one agent following a cluster, N publishes.
        cluster = Cluster.objects.create(name="bench-latency", region="kr-seoul",
                                         cloud_provider="aws", namespace="latency")
        publish, backend = make_publish(cluster, "orders", args.routes)
        revision, _created = publish_revision(publish)
        manifests = revision_manifests(revision)
        last = ObjectKey.of(manifests[-1])  # the apply order ends with the routes

        def applied(number: int) -> bool:
            live = kube.get(last)
            labels = ((live or {}).get("metadata") or {}).get("labels") or {}
            return labels.get("imp-gateway.io/revision") == str(number)

        _token, secret = create_registration_token(cluster)
        run.agent(server, kubeconfig, secret, "bench-latency")
        if not wait_for(lambda: applied(revision.number), 60, 0.05):
            raise SystemExit(f"the agent did not apply the first revision; see {workdir}")
        latencies = []
        for _round in range(args.publishes):
            backend.timeout_seconds += 1
            backend.save(update_fields=["timeout_seconds"])
            revision, _created = publish_revision(publish)
            committed = time.perf_counter()
            if not wait_for(lambda number=revision.number: applied(number), 30):
                raise SystemExit(f"revision {revision.number} was not applied; see {workdir}")
            latencies.append(time.perf_counter() - committed)
        print(f"\npublish-to-applied latency over {len(latencies)} publishes "
              f"({len(manifests)} objects each, every one rewritten with the new revision):")
        print(f"  p50 {percentile(latencies, 0.5) * 1000:7.1f} ms   "
              f"p95 {percentile(latencies, 0.95) * 1000:7.1f} ms   "
              f"max {max(latencies) * 1000:7.1f} ms")
        print("  (Kong and Gravitee sync every 5 s; Argo CD refreshes every 120 s)")

        # 2. About 1,000 objects applied by a fresh agent, then a no-change reconcile.
        bulk = Cluster.objects.create(name="bench-bulk", region="us-east",
                                      cloud_provider="aws", namespace="bulk")
        total, keys, number = 0, [], 0
        while total < args.objects:
            bulk_publish, _ = make_publish(bulk, f"bulk-{number}", 48)
            bulk_revision, _ = publish_revision(bulk_publish)
            rendered = revision_manifests(bulk_revision)
            keys += [ObjectKey.of(manifest) for manifest in rendered]
            total += len(rendered)
            number += 1
        _token, secret = create_registration_token(bulk)
        once = ["--once", "--no-leader-election"]
        started = time.perf_counter()
        first = run.agent(server, kubeconfig, secret, "bench-bulk", *once, wait=True)
        wall = time.perf_counter() - started
        duration, counts = reconcile_figures(workdir / "bench-bulk.log")
        present = sum(kube.get(key) is not None for key in keys)
        print(f"\napply {total} objects ({number} publishes) with a fresh agent (--once): "
              f"exit {first.returncode}")
        print(f"  reconcile {duration:7.2f} s   whole run {wall:7.2f} s "
              f"(start, discovery, registration included)   "
              f"{total / duration:7.1f} objects/s")
        print(f"  created {counts['created']}, failed {counts['failed']}; "
              f"{present} of {total} objects in the cluster")

        versions = {key: kube.get(key)["metadata"]["resourceVersion"] for key in keys}
        second = run.agent(server, kubeconfig, "", "bench-bulk", *once, wait=True)
        duration, counts = reconcile_figures(workdir / "bench-bulk.log")
        rewritten = sum(kube.get(key)["metadata"]["resourceVersion"] != versions[key]
                        for key in keys)
        writes = counts["created"] + counts["configured"] + counts["pruned"]
        print(f"\nno-change reconcile of {total} objects (a new agent process, so every object "
              f"is checked again with a server-side dry run): exit {second.returncode}")
        print(f"  objects written: {writes} (agent's count), {rewritten} (resourceVersions "
              f"changed in the cluster); unchanged {counts['unchanged']}; "
              f"reconcile {duration:.2f} s")
        kube.close()
    finally:
        run.close()
        if database_env.get("DATABASE_URL"):
            import psycopg

            name = database_env["DATABASE_URL"].rsplit("/", 1)[1]
            with psycopg.connect(POSTGRES + "postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
