"""Long-polls on a real ASGI server: 200 waiting agents on one uvicorn server, one publish,
every waiter answered; woken in-process or through Redis, also across servers."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
import redis
from django.db import transaction

from clusters import wakeup
from clusters.models import Agent, Cluster
from clusters.services import bump_desired_state_on_commit, set_agents_enabled
from clusters.wakeup import publish_wakeups, waiting_agents
from publishing.services import publish_revision
from tests.factories import ClusterFactory

from .conftest import ServerThread, make_publish, token_for, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/agent/desired-state"


def agents_of(cluster: Cluster, count: int) -> list[str]:
    Agent.objects.bulk_create(Agent(cluster=cluster, name=f"agent-{n}") for n in range(count))
    return [token_for(agent) for agent in Agent.objects.filter(cluster=cluster).order_by("pk")]


class Waiters:
    """Long-polls held open from a client thread with its own event loop."""

    def __init__(self, base_urls: list[str], tokens: list[str], etag: str, wait: int) -> None:
        self.base_urls, self.tokens, self.etag, self.wait = base_urls, tokens, etag, wait
        self.results: list[tuple[int, str, float]] = []
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _poll(self, client: httpx.AsyncClient, base_url: str, token: str) -> None:
        response = await client.get(
            f"{base_url}{URL}",
            params={"wait": self.wait},
            headers={"Authorization": f"Bearer {token}", "If-None-Match": self.etag},
        )
        self.results.append(
            (response.status_code, response.headers.get("ETag", ""), time.monotonic())
        )

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=len(self.tokens) + 10)
        async with httpx.AsyncClient(limits=limits, timeout=self.wait + 30) as client:
            await asyncio.gather(
                *(
                    self._poll(client, self.base_urls[n % len(self.base_urls)], token)
                    for n, token in enumerate(self.tokens)
                )
            )

    def __enter__(self) -> Waiters:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.thread.join(timeout=self.wait + 40)


def etag_of(base_url: str, token: str) -> str:
    response = httpx.get(f"{base_url}{URL}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


@pytest.fixture(params=["in-process", "redis"])
def wakeups(request, settings) -> str:
    if request.param == "redis":
        request.getfixturevalue("redis_wakeups")
    return request.param


def test_200_waiters_on_one_server_are_all_answered_after_one_publish(wakeups, server):
    cluster = ClusterFactory()
    publish = make_publish(cluster)
    tokens = agents_of(cluster, 200)
    etag = etag_of(server.url, tokens[0])
    threads_before = threading.active_count()
    with Waiters([server.url], tokens, etag, wait=30) as waiters:
        assert wait_until(lambda: waiting_agents() == 200, timeout=20), waiting_agents()
        # A waiting agent holds no thread (Django would park one per request): the client's
        # thread and the database threads are all that is added.
        assert threading.active_count() - threads_before < 20, threading.active_count()
        published_at = time.monotonic()
        publish_revision(publish)  # commits: bump, then wake-up
    assert len(waiters.results) == 200
    assert {status for status, _etag, _at in waiters.results} == {200}
    new_revision = Cluster.objects.get(pk=cluster.pk).desired_state_revision
    assert {etag for _status, etag, _at in waiters.results} == {f'"{new_revision}"'}
    # Woken, not answered when the 30 s wait ended (which would also give 200: a recheck).
    # Latency is measured in bench/agent_poll.py, not here.
    slowest = max(at for _status, _etag, at in waiters.results) - published_at
    assert slowest < 15, f"the last waiter was answered {slowest:.2f} s after the publish"
    assert waiting_agents() == 0


def test_a_waiter_with_nothing_new_gets_304_when_its_wait_ends(wakeups, server):
    cluster = ClusterFactory()
    [token] = agents_of(cluster, 1)
    etag = etag_of(server.url, token)
    started = time.monotonic()
    with Waiters([server.url], [token], etag, wait=1) as waiters:
        pass
    assert [status for status, _etag, _at in waiters.results] == [304]
    assert 0.9 <= waiters.results[0][2] - started < 10  # ended with its 1 s wait, not hung


def test_a_change_to_another_cluster_wakes_nobody_here(wakeups, server):
    mine, other = ClusterFactory(), ClusterFactory()
    [token] = agents_of(mine, 1)
    etag = etag_of(server.url, token)
    with Waiters([server.url], [token], etag, wait=1) as waiters:
        assert wait_until(lambda: waiting_agents() == 1, timeout=10)
        bump_desired_state_on_commit([other.pk])
    assert [status for status, _etag, _at in waiters.results] == [304]


def test_disabling_an_agent_ends_its_wait_with_401_at_once(wakeups, server):
    """Revocation reaches long-polls: the disabled agent's wait ends at once with 401 (it
    used to get the next desired state, API keys included, long after being disabled); the
    cluster's other agent is merely woken."""
    cluster = ClusterFactory()
    disabled_token, other_token = agents_of(cluster, 2)
    agent = Agent.objects.filter(cluster=cluster).order_by("pk").first()
    etag = etag_of(server.url, disabled_token)
    with Waiters([server.url], [disabled_token, other_token], etag, wait=30) as waiters:
        assert wait_until(lambda: waiting_agents() == 2, timeout=10), waiting_agents()
        disabled_at = time.monotonic()
        set_agents_enabled([agent.pk], enabled=False)
    statuses = sorted(status for status, _etag, _at in waiters.results)
    assert statuses == [200, 401], waiters.results
    # Woken by the disabling, not checked when the 30 s wait ended.
    slowest = max(at for _status, _etag, at in waiters.results) - disabled_at
    assert slowest < 15, f"answered {slowest:.2f} s after the agent was disabled"


def test_a_woken_waiter_is_checked_again_before_it_is_answered(wakeups, server):
    """Even when the change that wakes it is not the disabling itself (a publish committed
    just after the agent was disabled, before the disabling woke anyone), a waiting agent is
    checked again: a disabled one gets 401, never the desired state."""
    cluster = ClusterFactory()
    publish = make_publish(cluster)
    [token] = agents_of(cluster, 1)
    etag = etag_of(server.url, token)
    with Waiters([server.url], [token], etag, wait=30) as waiters:
        assert wait_until(lambda: waiting_agents() == 1, timeout=10)
        Agent.objects.filter(cluster=cluster).update(enabled=False)  # no wake-up of its own
        publish_revision(publish)
    assert [status for status, _etag, _at in waiters.results] == [401]


def test_two_servers_are_both_woken_through_redis(redis_wakeups, database_threads):
    cluster = ClusterFactory()
    publish = make_publish(cluster)
    tokens = agents_of(cluster, 40)
    with ServerThread() as first, ServerThread() as second:
        etag = etag_of(first.url, tokens[0])
        with Waiters([first.url, second.url], tokens, etag, wait=30) as waiters:
            assert wait_until(lambda: waiting_agents() == 40, timeout=20)
            # The wake-up reaches the servers only through Redis: no in-process delivery.
            assert all(hub.redis_url for hub in wakeup._all_hubs())
            publish_revision(publish)
    assert sorted(status for status, _etag, _at in waiters.results) == [200] * 40


def test_one_message_per_cluster_per_transaction(redis_wakeups, redis_url):
    first, second = ClusterFactory(), ClusterFactory()
    subscriber = redis.Redis.from_url(redis_url).pubsub()
    subscriber.psubscribe(f"{redis_wakeups}:*")
    assert subscriber.get_message(timeout=2)["type"] == "psubscribe"
    with transaction.atomic():
        bump_desired_state_on_commit([first.pk])
        bump_desired_state_on_commit([first.pk, second.pk])
        bump_desired_state_on_commit([second.pk])
    messages = []
    while (message := subscriber.get_message(timeout=1)) is not None:
        messages.append((message["channel"].decode(), int(message["data"])))
    subscriber.close()
    assert sorted(messages) == [
        (f"{redis_wakeups}:{first.pk}", 1),
        (f"{redis_wakeups}:{second.pk}", 1),
    ]


def test_with_redis_down_a_change_is_still_delivered_in_process(settings, caplog):
    settings.AGENT_WAKEUP_REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    delivered: list[dict[int, int]] = []

    class Recorder:
        def notify_threadsafe(self, revisions):
            delivered.append(revisions)

    original = wakeup._all_hubs
    wakeup._all_hubs = lambda: [Recorder()]
    try:
        publish_wakeups({5: 9})
    finally:
        wakeup._all_hubs = original
    assert delivered == [{5: 9}]
    assert "Could not publish desired-state wake-ups for clusters [5]" in caplog.text


def test_with_redis_down_waits_still_end_on_time(settings, server):
    settings.AGENT_WAKEUP_REDIS_URL = "redis://127.0.0.1:9/0"
    cluster = ClusterFactory()
    [token] = agents_of(cluster, 1)
    etag = etag_of(server.url, token)
    bump_desired_state_on_commit([cluster.pk])  # announced nowhere: found by the recheck
    started = time.monotonic()
    with Waiters([server.url], [token], etag, wait=1) as waiters:
        pass
    assert [status for status, _etag, _at in waiters.results] == [200]
    assert waiters.results[0][2] - started < 10  # ended with its 1 s wait, not hung
