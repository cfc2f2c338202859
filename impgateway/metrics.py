"""Prometheus metrics of the control plane: requests, publishes, agents, long-polls, revision
bumps and Celery tasks, served at /metrics (web) and on WORKER_METRICS_PORT (Celery worker).

Several processes (uvicorn workers, Celery's prefork children) aggregate through
PROMETHEUS_MULTIPROC_DIR when it is set. Counts that live in the database (publishes by
status, deployments by state, agents by status) are read from it at scrape time, so every
web process reports the same numbers whatever it has seen itself.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from celery import signals as celery_signals
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Exists, F, Min, OuterRef, Value
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, choose_encoder, make_wsgi_app

logger = logging.getLogger(__name__)

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROCESS_DIR:
    # prometheus_client writes one file per process here; the directory must exist before
    # the first metric below is created. A process whose pid was used by an earlier
    # container instance must not inherit that process's live gauge values.
    Path(MULTIPROCESS_DIR).mkdir(parents=True, exist_ok=True)
    prometheus_multiprocess.mark_process_dead(os.getpid(), MULTIPROCESS_DIR)

# Long-polls last up to AGENT_LONGPOLL_MAX_WAIT (60 s), hence the long tail.
REQUEST_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
TASK_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_VIEW = "<unmatched>"
STATIC_VIEW = "<static>"

# --- Process metrics (aggregated across processes in multiprocess mode) --------------------

http_requests = Counter(
    "impgateway_http_requests",
    "HTTP requests answered, by view (URL name), method and status code.",
    ["view", "method", "status"],
)
http_request_duration = Histogram(
    "impgateway_http_request_duration_seconds",
    "Time from the request reaching Django to its response, by view and method.",
    ["view", "method"],
    buckets=REQUEST_DURATION_BUCKETS,
)
long_poll_waiters = Gauge(
    "impgateway_desired_state_long_poll_waiters",
    "Agent desired-state long-polls waiting for a change right now.",
    multiprocess_mode="livesum",
)
revision_bumps = Counter(
    "impgateway_desired_state_revision_bumps",
    "Desired-state revision bumps: one per cluster per committed change.",
)
celery_tasks = Counter(
    "impgateway_celery_tasks",
    "Celery tasks finished, by task name and outcome "
    "(success, failure, retry, ignored, rejected, revoked).",
    ["task", "outcome"],
)
celery_task_duration = Histogram(
    "impgateway_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    buckets=TASK_DURATION_BUCKETS,
)


# --- Database counts, read at scrape time --------------------------------------------------


class DatabaseCollector:
    """Publishes, deployments and agents by state, counted in two aggregate queries."""

    def collect(self) -> Iterator[Metric]:
        # Models are imported here, not at the top: services import this module to count.
        from clusters.choices import AgentStatus
        from publishing.choices import DeploymentState, PublishStatus

        families = {
            "publish": (
                GaugeMetricFamily(
                    "impgateway_publishes", "Product publishes, by status.", labels=["status"]
                ),
                PublishStatus.values,
            ),
            "deployment": (
                GaugeMetricFamily(
                    "impgateway_deployments",
                    "Deployment statuses (one per publish and cluster), by state.",
                    labels=["state"],
                ),
                DeploymentState.values,
            ),
            "agent": (
                GaugeMetricFamily(
                    "impgateway_agents",
                    "Agents, by status (disabled agents count as disconnected).",
                    labels=["status"],
                ),
                AgentStatus.values,
            ),
        }
        database_up = GaugeMetricFamily(
            "impgateway_database_up",
            "1 when the database answered the scrape's queries, else 0.",
        )
        try:
            counts = state_counts()
            unapplied, oldest = unapplied_publishes()
        except DatabaseError as exc:
            logger.warning("Metrics: database counts unavailable: %s", exc)
            database_up.add_metric([], 0)
            yield database_up
            return
        database_up.add_metric([], 1)
        yield database_up
        for kind, (family, known) in families.items():
            found = counts.get(kind, {})
            for value in sorted(set(known) | set(found)):
                family.add_metric([value], found.get(value, 0))
            yield family
        yield GaugeMetricFamily(
            "impgateway_publishes_unapplied",
            "Published publishes whose cluster has not reported their current revision Ready.",
            value=unapplied,
        )
        yield GaugeMetricFamily(
            "impgateway_publishes_unapplied_oldest_age_seconds",
            "Age of the oldest current revision not reported Ready yet (0 when none).",
            value=oldest,
        )


def state_counts() -> dict[str, dict[str, int]]:
    """{"publish": {status: n}, "deployment": {state: n}, "agent": {status: n}}, one query."""
    from clusters.models import Agent
    from publishing.models import DeploymentStatus, ProductPublish

    def grouped(queryset, kind: str, field: str):
        return (
            queryset.order_by()
            .annotate(kind=Value(kind), key=F(field))
            .values("kind", "key")
            .annotate(total=Count("pk"))
            .values_list("kind", "key", "total")
        )

    rows = grouped(ProductPublish.objects, "publish", "status").union(
        grouped(DeploymentStatus.objects, "deployment", "state"),
        grouped(Agent.objects, "agent", "status"),
        all=True,
    )
    counts: dict[str, dict[str, int]] = {}
    for kind, key, total in rows:
        counts.setdefault(kind, {})[key] = total
    return counts


def unapplied_publishes(now=None) -> tuple[int, float]:
    """How many published publishes await their cluster's Ready report of the current
    revision, and the age in seconds of the oldest such revision; one query."""
    from publishing.choices import DeploymentState, PublishStatus
    from publishing.models import DeploymentStatus, ProductPublish

    ready = DeploymentStatus.objects.filter(
        publish_ref=OuterRef("pk"),
        cluster_id=OuterRef("cluster_id"),
        state=DeploymentState.READY,
        applied_revision=OuterRef("current_revision__number"),
    )
    result = (
        ProductPublish.objects.filter(
            status=PublishStatus.PUBLISHED, current_revision__isnull=False
        )
        .exclude(Exists(ready))
        .aggregate(total=Count("pk"), oldest=Min("current_revision__created"))
    )
    oldest = result["oldest"]
    age = max(0.0, ((now or timezone.now()) - oldest).total_seconds()) if oldest else 0.0
    return result["total"], age


# --- Exposition ----------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_processes(path: str) -> None:
    """Drop the live gauges of processes that are gone (a uvicorn worker that was restarted),
    so their last values stop counting; their counters stay, as they must."""
    for file in Path(path).glob("gauge_live*_*.db"):
        try:
            pid = int(file.stem.rsplit("_", 1)[1])
        except ValueError:
            continue
        if not _pid_alive(pid):
            prometheus_multiprocess.mark_process_dead(pid, path)


class _Collectors:
    """Something `generate_latest` can read: the union of several collectors."""

    def __init__(self, collectors: Iterable[Any]) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def process_collectors() -> list[Any]:
    """The metrics this process tracks: all processes' files in multiprocess mode, else this
    process's registry (with its process and Python collectors)."""
    if MULTIPROCESS_DIR:
        forget_dead_processes(MULTIPROCESS_DIR)
        return [prometheus_multiprocess.MultiProcessCollector(None, path=MULTIPROCESS_DIR)]
    return [REGISTRY]


def exposition(accept: str | None, *, with_database: bool = True) -> tuple[bytes, str]:
    """The scrape body and its content type (Prometheus text or OpenMetrics, per `accept`)."""
    collectors = process_collectors()
    if with_database:
        collectors.append(DatabaseCollector())
    encoder, content_type = choose_encoder(accept or "")
    return encoder(_Collectors(collectors)), content_type


def token_allows(authorization: str | None) -> bool:
    """True when METRICS_TOKEN is unset or `authorization` is `Bearer <METRICS_TOKEN>`."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return True
    scheme, _space, credentials = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), expected.encode()
    )


def _unauthorized() -> HttpResponse:
    response = HttpResponse(
        b"metrics: send Authorization: Bearer <METRICS_TOKEN>\n",
        status=401,
        content_type="text/plain; charset=utf-8",
    )
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_http_methods(["GET", "HEAD"])
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: the control plane's metrics, optionally behind a bearer token."""
    if not token_allows(request.headers.get("Authorization")):
        return _unauthorized()
    body, content_type = exposition(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)


# --- Requests ------------------------------------------------------------------------------


def view_label(request: HttpRequest) -> str:
    """The URL name the request resolved to (bounded, unlike paths); <static> for files
    ServeStatic served before URL resolution, <unmatched> for everything else unresolved
    (404s, redirects of the security middleware)."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return STATIC_VIEW
    return UNMATCHED_VIEW


def observe_request(request: HttpRequest, response: HttpResponse, seconds: float) -> None:
    view = view_label(request)
    method = request.method if request.method in _KNOWN_METHODS else "other"
    http_requests.labels(view=view, method=method, status=str(response.status_code)).inc()
    http_request_duration.labels(view=view, method=method).observe(seconds)


class RequestMetricsMiddleware:
    """Counts and times every request, under WSGI and ASGI alike; first in MIDDLEWARE so
    redirects and refusals by later middleware are counted too."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        observe_request(request, response, time.perf_counter() - started)
        return response

    async def _acall(self, request: HttpRequest):
        started = time.perf_counter()
        response = await self.get_response(request)
        observe_request(request, response, time.perf_counter() - started)
        return response


# --- Celery tasks (connected where the worker imports this module: CELERY_IMPORTS) ---------

_task_started: dict[str, float] = {}
_task_started_lock = threading.Lock()
_OUTCOMES = {
    "SUCCESS": "success",
    "FAILURE": "failure",
    "RETRY": "retry",
    "IGNORED": "ignored",
    "REJECTED": "rejected",
}


def _task_name(sender: Any) -> str:
    return getattr(sender, "name", None) or "unknown"


@celery_signals.task_prerun.connect(weak=False)
def _task_prerun(sender: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        with _task_started_lock:
            _task_started[task_id] = time.perf_counter()


@celery_signals.task_postrun.connect(weak=False)
def _task_postrun(
    sender: Any = None, task_id: str | None = None, state: str | None = None, **kwargs: Any
) -> None:
    name = _task_name(sender)
    with _task_started_lock:
        started = _task_started.pop(task_id, None) if task_id else None
    if started is not None:
        celery_task_duration.labels(task=name).observe(time.perf_counter() - started)
    outcome = _OUTCOMES.get(state or "", (state or "unknown").lower())
    celery_tasks.labels(task=name, outcome=outcome).inc()


@celery_signals.task_revoked.connect(weak=False)
def _task_revoked(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
    # Revoked before it ran: no prerun or postrun. `sender` is the task, when known.
    name = _task_name(sender) if sender is not None else getattr(request, "task", None)
    celery_tasks.labels(task=name or "unknown", outcome="revoked").inc()


@celery_signals.worker_process_init.connect(weak=False)
def _worker_process_init(**kwargs: Any) -> None:
    if MULTIPROCESS_DIR:
        prometheus_multiprocess.mark_process_dead(os.getpid(), MULTIPROCESS_DIR)


@celery_signals.worker_process_shutdown.connect(weak=False)
def _worker_process_shutdown(pid: int | None = None, **kwargs: Any) -> None:
    if MULTIPROCESS_DIR:
        prometheus_multiprocess.mark_process_dead(pid or os.getpid(), MULTIPROCESS_DIR)


# --- The worker's metrics endpoint ---------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - wsgiref's name
        return  # a scrape every few seconds would drown the worker's log


def worker_metrics_app() -> Callable:
    """A WSGI app serving this worker's (and its children's) metrics, behind METRICS_TOKEN."""
    if MULTIPROCESS_DIR:
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
    else:
        registry = REGISTRY
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not token_allows(environ.get("HTTP_AUTHORIZATION")):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
            return [b"metrics: send Authorization: Bearer <METRICS_TOKEN>\n"]
        return metrics_app(environ, start_response)

    return app


def start_worker_metrics_server(port: int, address: str = "") -> ThreadingWSGIServer:
    """Serve worker_metrics_app on `port` (all interfaces by default) from a daemon thread."""
    server = make_server(
        address, port, worker_metrics_app(), ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server


@celery_signals.worker_init.connect(weak=False)
def _worker_init(sender: Any = None, **kwargs: Any) -> None:
    port = settings.WORKER_METRICS_PORT
    if not port:
        return
    # A name ("prefork") at this point of the start, or a class when given as one.
    pool = getattr(sender, "pool_cls", "")
    pool_name = pool if isinstance(pool, str) else getattr(pool, "__module__", "")
    if not MULTIPROCESS_DIR and "prefork" in pool_name:
        logger.warning(
            "WORKER_METRICS_PORT without PROMETHEUS_MULTIPROC_DIR: the prefork pool's child "
            "processes run the tasks, so task metrics will be missing; set the directory"
        )
    start_worker_metrics_server(port)
    logger.info("Worker metrics on port %d", port)
