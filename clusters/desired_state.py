"""What an agent gets from `GET desired-state`: its cluster's revision, published specs and
removals, answered at once, from a conditional request, or after a long-poll.

The view is async and served under ASGI. A request that finds nothing new costs one query
(plus, at most every AGENT_SEEN_WRITE_INTERVAL seconds, the agent's last-seen write) and no
rendering. Rendering happens once per cluster and revision per event loop, however many of
the cluster's agents were waiting. The ORM work runs on a small pool of database threads
(AGENT_DB_THREADS), so waiting agents hold neither a thread nor a database connection. On
PostgreSQL the one query every request makes, the agent check, runs on the event loop itself
over async connections (at most AGENT_DB_THREADS per loop): no thread switch on the hot path.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from catalog.services import consumer_specs
from publishing.choices import AuthMode, PublishStatus
from publishing.deployments import ensure_deployment_rows, removals_for_cluster
from publishing.models import ProductPublish

from . import services
from .loops import PerLoop
from .models import Cluster
from .protocol import DesiredPublish, DesiredStateResponse, etag_matches
from .tokens import InvalidAgentToken, decode_access_token
from .wakeup import WaitOutcome, current_hub

T = TypeVar("T")

# How long a rendered answer is reused for later requests at the same revision, and for how
# many clusters per event loop; waiters woken together always share one rendering.
_RENDER_REUSE_SECONDS = 5.0
_RENDER_CACHE_CLUSTERS = 256


@dataclass(frozen=True)
class DesiredStateAnswer:
    """The outcome of a desired-state request: 200 with a body, or 304 without."""

    revision: int
    body: bytes | None  # None: not modified

    @property
    def status(self) -> int:
        return 304 if self.body is None else 200


# --- Database work (sync) ----------------------------------------------------------------


def render_desired_state(cluster_id: int) -> tuple[int, bytes]:
    """The cluster's desired state as JSON bytes, and the revision it is at.

    The revision is read first: a change that commits meanwhile can only make the content
    newer than its revision, never older, so an agent never skips a change.
    """
    cluster = Cluster.objects.values("id", "name", "namespace", "desired_state_revision").get(
        pk=cluster_id
    )
    published = ProductPublish.objects.filter(
        cluster_id=cluster_id, status=PublishStatus.PUBLISHED, current_revision__isnull=False
    ).values_list(
        "pk",
        "current_revision__number",
        "current_revision__content_hash",
        "current_revision__spec",
        "product_id",
    )
    rows = list(published.order_by("pk"))
    # API keys never rest in a revision: they are joined in here, for the publishes whose
    # revision uses API keys, in the revision's environment (an edit of the live publish
    # changes nothing until it is published), and every change to them bumps the clusters
    # serving them (catalog.services.serving_cluster_ids).
    consumers = consumer_specs(
        (product_id, spec["publish"]["environment"])
        for *_revision, spec, product_id in rows
        if spec["publish"]["auth_mode"] == AuthMode.API_KEY
    )
    publishes: list[DesiredPublish] = []
    for pk, number, content_hash, spec, product_id in rows:
        if spec["publish"]["auth_mode"] == AuthMode.API_KEY:
            spec["consumers"] = consumers.get((product_id, spec["publish"]["environment"]), [])
        publishes.append(
            {"publish_id": pk, "revision": number, "content_hash": content_hash, "spec": spec}
        )
    served = {item["publish_id"] for item in publishes}
    removals, tracked = removals_for_cluster(cluster_id, served)
    ensure_deployment_rows(cluster_id, served - tracked)
    document: DesiredStateResponse = {
        "revision": cluster["desired_state_revision"],
        "cluster": {
            "id": cluster["id"],
            "name": cluster["name"],
            "namespace": cluster["namespace"],
        },
        "publishes": publishes,
        "removals": removals,
    }
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return cluster["desired_state_revision"], body


# --- Database threads ---------------------------------------------------------------------


class DatabaseThreads:
    """A few long-lived threads running ORM calls for async views, one connection each.

    Django connections belong to threads; under an ASGI server each request would otherwise
    open its own. Here a thousand concurrent agents share `size` connections, and a waiting
    agent holds none.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"agent-db-{number}", daemon=True)
            for number in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, function: Callable[..., T], *args) -> Future[T]:
        future: Future[T] = Future()
        self._jobs.put((future, function, args))
        return future

    def close(self) -> None:
        """Stop the threads; each closes its database connections first."""
        for _thread in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                future, function, args = job
                if not future.set_running_or_notify_cancel():
                    continue
                # The same connection hygiene Django applies around every request.
                close_old_connections()
                try:
                    result = function(*args)
                except BaseException as exc:  # handed to the awaiting coroutine
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                finally:
                    close_old_connections()
        finally:
            connections.close_all()


_threads: DatabaseThreads | None = None
_threads_lock = threading.Lock()


def _database_threads(size: int) -> DatabaseThreads:
    global _threads
    with _threads_lock:
        if _threads is None or _threads.size != size:
            if _threads is not None:
                _threads.close()
            _threads = DatabaseThreads(size)
        return _threads


def close_database_threads() -> None:
    """Stop the database threads and close the agent readers' connections (tests, and servers
    that want a clean shutdown)."""
    global _threads
    with _threads_lock:
        if _threads is not None:
            _threads.close()
            _threads = None
    _readers.clear()


async def run_database(function: Callable[..., T], *args) -> T:
    """Run ORM work from async code: on the database threads, or (AGENT_DB_THREADS=0) on
    Django's thread for this request, which is the caller's thread under the test client."""
    size = settings.AGENT_DB_THREADS
    if size == 0:
        return await sync_to_async(function)(*args)
    return await asyncio.wrap_future(_database_threads(size).submit(function, *args))


# --- The agent check on the event loop (PostgreSQL) -----------------------------------------


class AgentReader:
    """Runs the agent check (`services.read_agent_sql`) of one event loop over async psycopg
    connections: at most `size` of them, opened when first needed and then kept.

    Every agent request checks its agent in the database, so that disabling an agent revokes
    its tokens at once. Handed to a database thread, the check added two thread switches to
    the database round trip (a no-change poll took 1.24 ms, now 0.70 ms in bench/agent_poll.py);
    here the round trip is all it costs.
    """

    def __init__(self, size: int, connect_params: dict) -> None:
        self._connect_params = connect_params
        self._slots = asyncio.Semaphore(size)
        self._idle: list[psycopg.AsyncConnection] = []

    async def read_agent(self, agent_id: int, cluster_id: int) -> tuple | None:
        async with self._slots:
            while True:
                reused = bool(self._idle)
                connection = self._idle.pop() if reused else await self._connect()
                try:
                    cursor = await connection.execute(
                        services.read_agent_sql("postgresql"), [agent_id, cluster_id]
                    )
                    row = await cursor.fetchone()
                except psycopg.OperationalError:
                    connection.pgconn.finish()
                    if reused:
                        continue  # closed by the server while idle: try the next one
                    raise
                except BaseException:
                    # Cancelled or failed half-way: the connection's state is unknown.
                    connection.pgconn.finish()
                    raise
                self._idle.append(connection)
                return row

    async def _connect(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(**self._connect_params, autocommit=True)

    def close(self) -> None:
        """Close the idle connections; callable from any thread, also once the loop is gone."""
        while self._idle:
            self._idle.pop().pgconn.finish()


_readers: PerLoop[AgentReader] = PerLoop(release=AgentReader.close)


def _agent_reader() -> AgentReader | None:
    """The running loop's reader; None on SQLite and when AGENT_DB_THREADS is 0 (the test
    client, whose requests must see the test's own transaction)."""
    connection = connections["default"]
    if settings.AGENT_DB_THREADS == 0 or connection.vendor != "postgresql":
        return None

    def create(loop) -> AgentReader:
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)  # Django's cursor class is a sync one
        return AgentReader(settings.AGENT_DB_THREADS, params)

    return _readers.get(create)


async def authenticate(claims) -> services.AgentSession:
    """`services.authenticate_agent` for async views: the check on the event loop where the
    database allows it, the rare last-seen write on a database thread."""
    reader = _agent_reader()
    if reader is None:
        return await run_database(services.authenticate_agent, claims)
    row = await reader.read_agent(claims.agent_id, claims.cluster_id)
    now = timezone.now()
    session, seen_due = services.agent_session(claims, row, now)
    if seen_due:
        await run_database(services.note_agent_seen, claims.agent_id, now)
    return session


# --- Rendering, once per cluster and revision ----------------------------------------------


class RenderCache:
    """Rendered answers of one event loop: concurrent requests share one rendering."""

    def __init__(self) -> None:
        self._answers: OrderedDict[int, tuple[int, bytes, float]] = OrderedDict()
        self._renders: dict[int, asyncio.Task[tuple[int, bytes]]] = {}

    async def get(self, cluster_id: int, at_least: int) -> tuple[int, bytes]:
        """The cluster's rendered state at revision `at_least` or newer."""
        while True:
            cached = self._answers.get(cluster_id)
            if (
                cached is not None
                and cached[0] >= at_least
                and time.monotonic() - cached[2] < _RENDER_REUSE_SECONDS
            ):
                return cached[0], cached[1]
            render = self._renders.get(cluster_id)
            if render is None:
                render = asyncio.get_running_loop().create_task(self._render(cluster_id))
                self._renders[cluster_id] = render
            revision, body = await asyncio.shield(render)
            if revision >= at_least:
                return revision, body
            # That rendering started before the revision we know of: render again.

    async def _render(self, cluster_id: int) -> tuple[int, bytes]:
        try:
            revision, body = await run_database(render_desired_state, cluster_id)
        finally:
            self._renders.pop(cluster_id, None)
        self._answers[cluster_id] = (revision, body, time.monotonic())
        self._answers.move_to_end(cluster_id)
        while len(self._answers) > _RENDER_CACHE_CLUSTERS:
            self._answers.popitem(last=False)
        return revision, body


_render_caches: PerLoop[RenderCache] = PerLoop()


def _render_cache() -> RenderCache:
    return _render_caches.get(lambda loop: RenderCache())


# --- The request ---------------------------------------------------------------------------


async def serve_desired_state(
    token: str, if_none_match: str | None, wait: int
) -> DesiredStateAnswer:
    """Answer one desired-state request of the agent holding `token`.

    `wait` (seconds, already capped) > 0 holds a request whose `If-None-Match` names the
    current revision until the revision changes or the time is up. Raises
    clusters.tokens.InvalidAgentToken.
    """
    try:
        return await _serve(token, if_none_match, wait)
    except Cluster.DoesNotExist:
        # Deleted while the request was on its way; its agents went with it.
        raise InvalidAgentToken("token revoked: the cluster no longer exists") from None


async def _serve(token: str, if_none_match: str | None, wait: int) -> DesiredStateAnswer:
    claims = decode_access_token(token)
    hub = None
    if wait > 0:
        hub = current_hub()
        # Listen before reading the revision, so a change committed after the read wakes us.
        await hub.ready()
    session = await authenticate(claims)
    cluster_id, known = session.cluster_id, session.desired_state_revision
    cache = _render_cache()
    if not etag_matches(if_none_match, known):
        revision, body = await cache.get(cluster_id, known)
        return DesiredStateAnswer(revision, body)
    if hub is None:
        return DesiredStateAnswer(known, None)
    deadline = time.monotonic() + wait
    while True:
        outcome = await hub.wait(cluster_id, known, max(0.0, deadline - time.monotonic()))
        # The agent may have been disabled while it waited (which wakes its cluster's
        # waiters): check it again before answering, with a body or without.
        session = await authenticate(claims)
        if outcome is WaitOutcome.CHANGED:
            revision, body = await cache.get(cluster_id, known + 1)
            return DesiredStateAnswer(revision, body)
        if session.desired_state_revision != known:
            revision, body = await cache.get(cluster_id, session.desired_state_revision)
            return DesiredStateAnswer(revision, body)
        if outcome is WaitOutcome.TIMEOUT or time.monotonic() >= deadline:
            return DesiredStateAnswer(known, None)
