"""/metrics: request, publish, agent, long-poll, revision-bump and Celery series, scraped the
way Prometheus does; several uvicorn workers and a prefork Celery worker add up."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from celery import Celery, shared_task
from django.test import AsyncClient
from prometheus_client.parser import text_string_to_metric_families

from clusters.choices import AgentStatus
from clusters.models import Agent
from clusters.wakeup import WaitOutcome, current_hub, publish_wakeups
from impgateway import metrics
from impgateway.demo import create_demo_data
from publishing.choices import DeploymentState, PublishStatus
from publishing.models import DeploymentStatus, ProductPublish
from publishing.services import withdraw
from tests.clusters.conftest import (
    TEST_REDIS_URL,
    SharedDatabase,
    celery_command,
    committed,
    stop_process,
    subprocess_env,
    wait_until,
)
from tests.conftest import REPO_ROOT, skip_or_fail
from tests.factories import AgentFactory

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(client, **headers: str) -> Samples:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.content.decode())


# --- Database counts -----------------------------------------------------------------------


@pytest.mark.django_db
def test_publishes_agents_and_deployments_are_counted_from_the_database(client):
    demo = create_demo_data()  # publishes every demo publish with publish_revision
    published = ProductPublish.objects.filter(status=PublishStatus.PUBLISHED).count()
    assert published == len(demo.publishes) > 1
    cluster = demo.publishes[0].cluster
    AgentFactory(cluster=cluster, status=AgentStatus.CONNECTED)
    AgentFactory(cluster=cluster, status=AgentStatus.CONNECTED)
    AgentFactory(cluster=cluster, status=AgentStatus.DISCONNECTED)
    ready = demo.publishes[0]
    DeploymentStatus.objects.create(
        publish=ready,
        publish_ref=ready.pk,
        cluster=ready.cluster,
        state=DeploymentState.READY,
        applied_revision=ready.current_revision.number,
    )

    samples = scrape(client)
    assert value(samples, "impgateway_database_up") == 1
    assert value(samples, "impgateway_publishes", status="PUBLISHED") == published
    assert value(samples, "impgateway_publishes", status="DRAFT") == 0
    assert value(samples, "impgateway_publishes", status="WITHDRAWN") == 0
    assert value(samples, "impgateway_agents", status="connected") == 2
    assert value(samples, "impgateway_agents", status="disconnected") == 1
    assert value(samples, "impgateway_deployments", state="Ready") == 1
    # Every known state is a series, so alerts and dashboards never see a gap.
    for state in DeploymentState.values:
        assert ("impgateway_deployments", frozenset({("state", state)})) in samples
    # The publish whose cluster reported its current revision Ready is applied; the rest wait.
    assert value(samples, "impgateway_publishes_unapplied") == published - 1
    assert value(samples, "impgateway_publishes_unapplied_oldest_age_seconds") >= 0

    withdraw(demo.publishes[1])
    Agent.objects.filter(cluster=cluster).update(status=AgentStatus.DISCONNECTED)
    samples = scrape(client)
    assert value(samples, "impgateway_publishes", status="PUBLISHED") == published - 1
    assert value(samples, "impgateway_publishes", status="WITHDRAWN") == 1
    assert value(samples, "impgateway_agents", status="connected") == 0
    assert value(samples, "impgateway_agents", status="disconnected") == 3
    assert value(samples, "impgateway_publishes_unapplied") == published - 2


@pytest.mark.django_db
def test_the_database_counts_take_two_queries(django_assert_num_queries):
    create_demo_data()
    AgentFactory.create_batch(3)
    with django_assert_num_queries(2):
        body, _content_type = metrics.exposition(None)
    assert b"impgateway_publishes{" in body


# --- Requests ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_requests_are_counted_by_view_method_and_status(client):
    before = scrape(client)
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405
    assert client.get("/no-such-page").status_code == 404
    assert client.get("/static/admin/css/base.css").status_code == 200
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests_total = "impgateway_http_requests_total"
    assert delta(requests_total, view="healthz", method="GET", status="200") == 2
    assert delta(requests_total, view="healthz", method="POST", status="405") == 1
    assert delta(requests_total, view=metrics.UNMATCHED_VIEW, method="GET", status="404") == 1
    assert delta(requests_total, view=metrics.STATIC_VIEW, method="GET", status="200") == 1
    # The first scrape itself was counted by the time of the second.
    assert delta(requests_total, view="metrics", method="GET", status="200") == 1
    duration = "impgateway_http_request_duration_seconds"
    assert delta(f"{duration}_count", view="healthz", method="GET") == 2
    assert delta(f"{duration}_bucket", view="healthz", method="GET", le="+Inf") == 2
    assert delta(f"{duration}_sum", view="healthz", method="GET") > 0


@pytest.mark.django_db(transaction=True)
def test_requests_through_the_asgi_handler_are_counted(client):
    before = scrape(client)
    response = async_to_sync(AsyncClient().get)("/healthz")
    assert response.status_code == 200
    after = scrape(client)
    labels = {"view": "healthz", "method": "GET", "status": "200"}
    assert (
        value(after, "impgateway_http_requests_total", **labels)
        - value(before, "impgateway_http_requests_total", **labels)
        == 1
    )


def test_the_middleware_keeps_the_handler_async_under_asgi():
    async def inner(request):
        return None

    def sync_inner(request):
        return None

    assert iscoroutinefunction(metrics.RequestMetricsMiddleware(inner))
    assert not iscoroutinefunction(metrics.RequestMetricsMiddleware(sync_inner))


# --- Long-polls and revision bumps ---------------------------------------------------------


@pytest.mark.django_db
def test_publishing_counts_one_revision_bump_per_cluster(client):
    before = scrape(client)
    with committed():
        demo = create_demo_data()  # one transaction: each cluster goes up once
    clusters = {publish.cluster_id for publish in demo.publishes}
    after_publish = scrape(client)
    with committed():
        withdraw(demo.publishes[0])
    after_withdraw = scrape(client)
    bumps = "impgateway_desired_state_revision_bumps_total"
    assert value(after_publish, bumps) - value(before, bumps) == len(clusters) > 1
    assert value(after_withdraw, bumps) - value(after_publish, bumps) == 1


def test_waiting_long_polls_are_counted_while_they_wait(settings):
    settings.AGENT_WAKEUP_REDIS_URL = ""  # in-process wake-ups
    waiters = "impgateway_desired_state_long_poll_waiters"

    def current() -> float:
        return value(parse(metrics.exposition(None, with_database=False)[0].decode()), waiters)

    async def two_waiting_agents() -> tuple[float, float, list[WaitOutcome]]:
        hub = current_hub()
        await hub.ready()
        idle = current()
        polls = [
            asyncio.create_task(hub.wait(cluster_id, known_revision=3, timeout=10))
            for cluster_id in (101, 102)
        ]
        await asyncio.sleep(0.05)
        waiting = current() - idle
        publish_wakeups({101: 4, 102: 4})
        outcomes = await asyncio.gather(*polls)
        return waiting, current() - idle, outcomes

    waiting, after, outcomes = asyncio.run(two_waiting_agents())
    assert waiting == 2
    assert after == 0
    assert outcomes == [WaitOutcome.CHANGED, WaitOutcome.CHANGED]


# --- Protection ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_metrics_token_is_required_when_set(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"impgateway_" not in refused.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic scrape-secret").status_code == 401
    samples = scrape(client, HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert value(samples, "impgateway_database_up") == 1


@pytest.mark.django_db
def test_metrics_are_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/admin/").status_code == 301
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_openmetrics_is_served_when_asked_for(client):
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.rstrip().endswith(b"# EOF")


# --- Celery tasks --------------------------------------------------------------------------


@shared_task(name="tests.impgateway.metrics_succeeds")
def succeeds() -> int:
    return 1


@shared_task(name="tests.impgateway.metrics_fails")
def fails() -> None:
    raise ValueError("failed on purpose")


@shared_task(bind=True, name="tests.impgateway.metrics_retries_once", max_retries=1)
def retries_once(self, attempt: int = 0) -> int:
    if attempt == 0:
        raise self.retry(kwargs={"attempt": 1}, countdown=0)
    return attempt


def test_celery_task_outcomes_are_counted_through_signals():
    def outcomes(task: str) -> dict[str, float]:
        samples = parse(metrics.exposition(None, with_database=False)[0].decode())
        return {
            outcome: value(samples, "impgateway_celery_tasks_total", task=task, outcome=outcome)
            for outcome in ("success", "failure", "retry")
        } | {"duration": value(samples, "impgateway_celery_task_duration_seconds_count", task=task)}

    before = {task.name: outcomes(task.name) for task in (succeeds, fails, retries_once)}
    succeeds.apply()
    succeeds.apply()
    fails.apply()
    retries_once.apply()
    after = {task.name: outcomes(task.name) for task in (succeeds, fails, retries_once)}

    def delta(task, outcome: str) -> float:
        return after[task.name][outcome] - before[task.name][outcome]

    assert delta(succeeds, "success") == 2 and delta(succeeds, "duration") == 2
    assert delta(fails, "failure") == 1 and delta(fails, "success") == 0
    assert delta(retries_once, "retry") == 1 and delta(retries_once, "success") == 1


# --- Several processes ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def multiprocess_pids(directory: Path) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("*.db")}


def test_two_uvicorn_workers_add_up_in_every_scrape(transactional_db, tmp_path):
    shared = SharedDatabase(tmp_path)
    shared.publish()
    port = free_port()
    multiprocess_dir = tmp_path / "prometheus"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "impgateway.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        cwd=REPO_ROOT,
        env=subprocess_env(**shared.env, PROMETHEUS_MULTIPROC_DIR=str(multiprocess_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    answered = 0
    try:
        started = wait_until(lambda: http_get(f"{base}/healthz")[0] == 200, timeout=60)
        assert started, stop_process(server)[-3000:]
        answered += 1
        # Both workers import the application (and its metrics) as they start.
        assert wait_until(lambda: len(multiprocess_pids(multiprocess_dir)) >= 2, timeout=30)
        for _ in range(30):
            status, _body = http_get(f"{base}/healthz")
            assert status == 200
            answered += 1
        totals = set()
        for _ in range(6):
            status, body = http_get(f"{base}/metrics")
            assert status == 200, body
            samples = parse(body)
            totals.add(
                value(
                    samples,
                    "impgateway_http_requests_total",
                    view="healthz",
                    method="GET",
                    status="200",
                )
            )
            assert value(samples, "impgateway_database_up") == 1
            assert value(samples, "impgateway_desired_state_long_poll_waiters") == 0
    finally:
        output = stop_process(server)
    assert totals == {answered}, output[-3000:]


def test_a_dead_process_stops_counting_as_waiting_but_its_counts_stay(tmp_path):
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    # A uvicorn worker killed while two long-polls waited: its gauge file says 2.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from impgateway import metrics; "
            "metrics.long_poll_waiters.inc(2); "
            "metrics.http_requests.labels(view='healthz', method='GET', status='200').inc(5)",
        ],
        cwd=REPO_ROOT,
        env=subprocess_env(PROMETHEUS_MULTIPROC_DIR=str(tmp_path)),
        check=True,
        timeout=60,
    )

    def collected() -> Samples:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(tmp_path))
        return parse(generate_latest(registry).decode())

    waiters = "impgateway_desired_state_long_poll_waiters"
    requests = {"view": "healthz", "method": "GET", "status": "200"}
    assert value(collected(), waiters) == 2
    metrics.forget_dead_processes(str(tmp_path))
    assert value(collected(), waiters) == 0
    assert value(collected(), "impgateway_http_requests_total", **requests) == 5


def test_a_prefork_worker_serves_its_children_task_outcomes(transactional_db, tmp_path):
    import redis

    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis is not reachable at {TEST_REDIS_URL}: {exc}")
    shared = SharedDatabase(tmp_path)
    shared.publish()
    prefix = f"impgateway-test-{uuid.uuid4().hex[:12]}:"
    port = free_port()
    token = "worker-scrape-secret"
    worker = subprocess.Popen(
        [
            *celery_command(),
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=REPO_ROOT,
        env=subprocess_env(
            **shared.env,
            CELERY_BROKER_URL=TEST_REDIS_URL,
            CELERY_KEY_PREFIX=prefix,
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
            WORKER_METRICS_PORT=str(port),
            METRICS_TOKEN=token,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sender = Celery("metrics-test", broker=TEST_REDIS_URL)
    sender.conf.broker_transport_options = {"global_keyprefix": prefix}
    task = "clusters.tasks.purge_registration_tokens"
    url = f"http://127.0.0.1:{port}/metrics"

    def successes() -> float:
        status, body = http_get(url, token)
        if status != 200:
            return -1
        return value(parse(body), "impgateway_celery_tasks_total", task=task, outcome="success")

    try:
        assert wait_until(lambda: successes() == 0, timeout=60), stop_process(worker)[-3000:]
        for _ in range(6):
            sender.send_task(task)
        done = wait_until(lambda: successes() == 6, timeout=60)
        refused, _body = http_get(url)
        _status, body = http_get(url, token)
    finally:
        sender.close()
        output = stop_process(worker)
    assert done, output[-3000:]
    assert refused == 401
    samples = parse(body)
    assert value(samples, "impgateway_celery_task_duration_seconds_count", task=task) == 6
    assert value(samples, "impgateway_celery_tasks_total", task=task, outcome="failure") == 0
