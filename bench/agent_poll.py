"""Benchmark: the agent desired-state endpoint on a real uvicorn server process.

Run: `.venv/bin/python bench/agent_poll.py [--waiters 1000] [--polls 2000]`
Uses PostgreSQL at 127.0.0.1:5432 when it answers (a throw-away database), else a SQLite file;
Redis at 127.0.0.1:6379 for wake-ups when it answers, else in-process wake-ups. Prints:
- no-change poll latency (304, p50/p95) beside a trivial view on the same stack and run;
- the time from a publish to each of N waiting long-polls answered;
- the server process's RSS and threads with N long-polls waiting.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
DESIRED = "/api/v1/agent/desired-state"
# Under the agent prefix, so the trivial view runs on the same handler and middleware.
TRIVIAL = "/api/v1/agent/bench-trivial"


# --- The server side: the project's ASGI app plus one trivial view -----------------------


async def trivial(request):
    """The cheapest async view on the same stack: middleware, routing, a JSON body."""
    from django.http import JsonResponse

    return JsonResponse({"ok": True})


def _urlpatterns():
    from django.urls import include, path

    return [path(TRIVIAL.lstrip("/"), trivial), path("", include("impgateway.urls"))]


def __getattr__(name: str):
    # `urlpatterns` is built when Django asks for it, after setup.
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def make_application():
    """uvicorn factory: impgateway's ASGI application with this module as the URLconf.

    BENCH_WITHOUT_MIDDLEWARE (comma-separated class paths) drops middleware, to show what
    each costs; the figures the benchmark reports by default use the project's full stack.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impgateway.settings")
    from django.conf import settings

    settings.ROOT_URLCONF = "bench.agent_poll"
    dropped = {name for name in os.environ.get("BENCH_WITHOUT_MIDDLEWARE", "").split(",") if name}
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name not in dropped]
    from impgateway.asgi import application

    return application


# --- The client side ----------------------------------------------------------------------


class Connection:
    """A minimal HTTP/1.1 keep-alive client, so client overhead does not blur the figures."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        response_headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _colon, value = line.decode().partition(":")
            response_headers[name.strip().lower()] = value.strip()
        if response_headers.get("transfer-encoding") == "chunked":
            while (size := int((await self.reader.readline()).strip(), 16)) > 0:
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        else:
            await self.reader.readexactly(int(response_headers.get("content-length", "0")))
        return status, response_headers

    def close(self) -> None:
        self.writer.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def process_figures(pid: int) -> tuple[float, int, float]:
    """RSS (MB), threads and CPU seconds of a process, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"]), cpu


async def wait_until_idle(pid: int, quiet: float = 0.5, timeout: float = 60) -> None:
    """Until the server has used no CPU for `quiet` seconds (every request is parked)."""
    deadline = time.monotonic() + timeout
    last = process_figures(pid)[2]
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet)
        now = process_figures(pid)[2]
        if now - last < 0.02:
            return
        last = now


async def measure_latency(port: int, token: str, etag: str, polls: int) -> dict[str, list]:
    connection = await Connection(port).open()
    auth = {"Authorization": f"Bearer {token}", "If-None-Match": etag}
    timings: dict[str, list[float]] = {"trivial": [], "poll": []}
    for round_number in range(polls + 200):
        for kind in ("trivial", "poll") if round_number % 2 else ("poll", "trivial"):
            started = time.perf_counter()
            if kind == "trivial":
                status, _headers = await connection.get(TRIVIAL)
                assert status == 200, status
            else:
                status, _headers = await connection.get(DESIRED, auth)
                assert status == 304, status
            if round_number >= 200:  # the first 200 rounds warm up
                timings[kind].append(time.perf_counter() - started)
    connection.close()
    return timings


async def long_polls(port, pid, tokens, etag, publish_change) -> dict:
    connections = [await Connection(port).open() for _ in tokens]
    rss_before, threads_before, _cpu = process_figures(pid)
    answered: list[tuple[float, int, str]] = []

    async def wait_one(connection: Connection, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "If-None-Match": etag}
        status, response_headers = await connection.get(f"{DESIRED}?wait=60", headers)
        answered.append((time.perf_counter(), status, response_headers.get("etag", "")))

    pairs = zip(connections, tokens, strict=True)
    tasks = [asyncio.ensure_future(wait_one(connection, token)) for connection, token in pairs]
    await wait_until_idle(pid)
    rss, threads, _cpu = process_figures(pid)
    early = len(answered)
    started = time.perf_counter()
    committed_at = await asyncio.to_thread(publish_change)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    for connection in connections:
        connection.close()
    delays = [at - started for at, _status, _etag in answered]
    return {
        "rss_before": rss_before,
        "rss_waiting": rss,
        "threads_before": threads_before,
        "threads_waiting": threads,
        "early": early,
        "statuses": sorted({status for _at, status, _etag in answered}),
        "etags": sorted({etag for _at, _status, etag in answered}),
        "publish_seconds": committed_at - started,
        "delays": delays,
    }


# --- Set-up -------------------------------------------------------------------------------


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def choose_database(workdir: str) -> tuple[dict[str, str], str]:
    if reachable("127.0.0.1", 5432):
        name = f"impgateway_bench_{uuid.uuid4().hex[:8]}"
        return {"DATABASE_URL": POSTGRES + name}, f"PostgreSQL ({name}, dropped afterwards)"
    path = os.path.join(workdir, "bench.sqlite3")
    return {"DATABASE_URL": "", "SQLITE_PATH": path}, f"SQLite ({path})"


def drop_database(url: str) -> None:
    if not url:
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES + "postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_data(agents: int):
    """Demo data (real publishes with real specs) and `agents` agents on one cluster."""
    from clusters.models import Agent
    from clusters.tokens import issue_access_token
    from impgateway.demo import create_demo_data

    demo = create_demo_data()
    publish = demo.publishes[0]
    cluster = publish.cluster
    Agent.objects.bulk_create(Agent(cluster=cluster, name=f"bench-{n}") for n in range(agents))
    tokens = [
        issue_access_token(agent.pk, cluster.pk, agent.token_generation)[0]
        for agent in Agent.objects.filter(cluster=cluster, name__startswith="bench-")
    ]
    return cluster, publish, tokens


def publisher(publish):
    """A real publish of a real change: a backend's timeout, snapshotted and published."""

    def publish_change() -> float:
        from django.db import connections

        from catalog.models import Backend
        from publishing.services import publish_revision

        try:
            backend = Backend.objects.filter(service__publishes=publish).order_by("pk").first()
            backend.timeout_seconds = (backend.timeout_seconds or 10) + 1
            backend.save()
            revision, created = publish_revision(publish)
            assert created, "the change made no new revision"
            return time.perf_counter()
        finally:
            connections.close_all()

    return publish_change


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.agent_poll:make_application", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--lifespan", "on", "--no-access-log",
         "--log-level", "warning", "--backlog", "4096", "--timeout-keep-alive", "120"],
        cwd=ROOT, env=env,
    )
    deadline = time.monotonic() + 30
    while not reachable("127.0.0.1", port):
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.1)
    return server, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--polls", type=int, default=2000)
    parser.add_argument(
        "--without-middleware",
        default="",
        help="Comma-separated middleware to leave out of the server (to see what each costs).",
    )
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="impgateway-bench-")
    database_env, database_label = choose_database(workdir)
    redis_url = REDIS if reachable("127.0.0.1", 6379) else ""
    env = {
        **os.environ,
        **database_env,
        "DJANGO_SETTINGS_MODULE": "impgateway.settings",
        "AGENT_WAKEUP_REDIS_URL": redis_url,
        "AGENT_WAKEUP_CHANNEL": f"impgateway-bench-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
        "BENCH_WITHOUT_MIDDLEWARE": args.without_middleware,
    }
    os.environ.update({k: v for k, v in env.items() if k in database_env or k.startswith("AGENT")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "impgateway.settings"
    if database_env.get("DATABASE_URL"):
        import psycopg

        with psycopg.connect(POSTGRES + "postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database_env["DATABASE_URL"].rsplit("/", 1)[1]}"')
    server = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        cluster, publish, tokens = build_data(args.waiters)
        from clusters.models import Cluster

        etag = f'"{Cluster.objects.get(pk=cluster.pk).desired_state_revision}"'
        server, port = start_server(env)
        wakeups = f"Redis {redis_url}" if redis_url else "in-process"
        print(f"database: {database_label}; wake-ups: {wakeups}")
        print(f"server: one uvicorn process (pid {server.pid}), cluster {cluster.name}, "
              f"{len(tokens)} agents; middleware left out: {args.without_middleware or 'none'}")

        timings = asyncio.run(measure_latency(port, tokens[0], etag, args.polls))
        poll, plain = timings["poll"], timings["trivial"]
        p50, p95 = percentile(poll, 0.5), percentile(poll, 0.95)
        t50, t95 = percentile(plain, 0.5), percentile(plain, 0.95)
        print(f"\nno-change poll (304), {len(poll)} sequential requests on one connection:")
        print(f"  trivial view  p50 {t50 * 1000:7.3f} ms   p95 {t95 * 1000:7.3f} ms")
        print(f"  no-change poll p50 {p50 * 1000:7.3f} ms   p95 {p95 * 1000:7.3f} ms")
        print(f"  ratio          p50 {p50 / t50:6.2f}x      p95 {p95 / t95:6.2f}x"
              "   (target <= 1.5x)")

        result = asyncio.run(long_polls(port, server.pid, tokens, etag, publisher(publish)))
        delays = result["delays"]
        print(f"\n{len(tokens)} long-polls (?wait=60) waiting, then one publish:")
        print(f"  answered before the publish: {result['early']}; statuses {result['statuses']}; "
              f"ETags {result['etags']}")
        print(f"  publish_revision itself (snapshot, validate, commit): "
              f"{result['publish_seconds'] * 1000:.0f} ms")
        print(f"  publish -> answered: first {min(delays) * 1000:.0f} ms, "
              f"p50 {percentile(delays, 0.5) * 1000:.0f} ms, "
              f"p95 {percentile(delays, 0.95) * 1000:.0f} ms, "
              f"max {max(delays) * 1000:.0f} ms   (target p95 < 1000 ms)")
        print(f"  server RSS: {result['rss_before']:.0f} MB before, "
              f"{result['rss_waiting']:.0f} MB with {len(tokens)} waiting (target < 300 MB); "
              f"threads {result['threads_before']} before, {result['threads_waiting']} waiting")
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        from django.db import connections

        connections.close_all()
        drop_database(database_env.get("DATABASE_URL", ""))


if __name__ == "__main__":
    main()
