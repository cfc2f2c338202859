"""Waking long-polling agents when their cluster's desired-state revision goes up.

After a bump commits, `publish_wakeups` sends one message per cluster: through Redis pub/sub
when AGENT_WAKEUP_REDIS_URL is set, so every web process behind a load balancer hears it, or
straight to this process's waiters when it is not (one web process, development).

Each event loop that serves long-polls has one `WakeupHub`: a single Redis pattern
subscription and, per cluster, one future its waiters share, so a thousand waiting agents
cost a thousand suspended coroutines and no threads. A waiter registers with the hub *before*
it reads the cluster's revision from the database; together with the hub remembering the
latest revision it heard per cluster, no change that commits after that read can be missed.
Whenever the subscription may have missed messages (Redis restarted, not reachable yet),
waiters are told to re-read the revision instead of trusting their silence.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from functools import lru_cache

import redis
import redis.asyncio
from django.conf import settings

from impgateway import metrics

from .loops import PerLoop

logger = logging.getLogger(__name__)

_SUBSCRIBE_TIMEOUT = 2.0
_RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class WaitOutcome(enum.Enum):
    CHANGED = "changed"  # a newer revision was announced
    TIMEOUT = "timeout"  # nothing happened, and the hub heard everything meanwhile
    RECHECK = "recheck"  # the hub may have missed a message: read the revision again


def channel_name(cluster_id: int) -> str:
    """The pub/sub channel of one cluster: `<AGENT_WAKEUP_CHANNEL>:<cluster id>`."""
    return f"{settings.AGENT_WAKEUP_CHANNEL}:{cluster_id}"


def _channel_pattern(prefix: str) -> str:
    escaped = "".join(f"\\{char}" if char in "*?[]\\" else char for char in prefix)
    return f"{escaped}:*"


# --- Publishing ---------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def publish_wakeups(revisions: dict[int, int]) -> None:
    """Announce new desired-state revisions ({cluster id: revision}), one message per cluster.

    Called after the bump has committed. A failure to reach Redis is logged, not raised: the
    change is committed, and waiters that miss it find it when their wait ends.
    """
    if not revisions:
        return
    url = settings.AGENT_WAKEUP_REDIS_URL
    if url:
        try:
            pipeline = _redis_client(url).pipeline(transaction=False)
            for cluster_id, revision in sorted(revisions.items()):
                pipeline.publish(channel_name(cluster_id), str(revision))
            pipeline.execute()
            return
        except redis.RedisError as exc:
            logger.warning(
                "Could not publish desired-state wake-ups for clusters %s through Redis: %s",
                sorted(revisions),
                exc,
            )
    for hub in _all_hubs():
        hub.notify_threadsafe(revisions)


# --- Waiting ------------------------------------------------------------------------------


class WakeupHub:
    """The waiters of one event loop, woken by Redis messages or in-process notifications."""

    def __init__(self, loop: asyncio.AbstractEventLoop, redis_url: str, channel: str) -> None:
        self.loop = loop
        self.redis_url = redis_url
        self.channel = channel
        self._latest: dict[int, int] = {}
        self._signals: dict[int, asyncio.Future[None]] = {}
        # Goes up whenever messages may have been lost; waiters that saw another value recheck.
        self._epoch = 0
        self._subscribed = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._closed = False
        self.waiting = 0  # requests waiting right now

    @property
    def reliable(self) -> bool:
        """True when every announcement reaches this hub (subscribed, or in-process mode)."""
        return not self.redis_url or self._subscribed.is_set()

    async def ready(self) -> None:
        """Start listening, and give a new subscription a moment to come up, before the caller
        reads a revision. A waiter that starts while the subscription is down is not trusted:
        it rechecks when the subscription comes up and when its wait ends."""
        if not self.redis_url or self._subscribed.is_set():
            return
        if self._listener is not None and not self._listener.done():
            return  # already connecting (or reconnecting): do not hold this request for it
        self._listener = self.loop.create_task(self._listen(), name="agent-wakeup-listener")
        try:
            await asyncio.wait_for(self._subscribed.wait(), _SUBSCRIBE_TIMEOUT)
        except TimeoutError:
            logger.warning("Desired-state wake-ups: no Redis subscription yet; waits will recheck")

    async def wait(self, cluster_id: int, known_revision: int, timeout: float) -> WaitOutcome:
        """Wait until the cluster's revision goes past `known_revision` or `timeout` passes."""
        deadline = self.loop.time() + timeout
        epoch = self._epoch
        trusted = self.reliable
        self.waiting += 1
        metrics.long_poll_waiters.inc()
        try:
            while True:
                if self._latest.get(cluster_id, -1) > known_revision:
                    return WaitOutcome.CHANGED
                if self._epoch != epoch:
                    return WaitOutcome.RECHECK
                remaining = deadline - self.loop.time()
                if remaining <= 0:
                    return WaitOutcome.TIMEOUT if trusted and self.reliable else WaitOutcome.RECHECK
                signal = self._signals.get(cluster_id)
                if signal is None or signal.done():
                    signal = self._signals[cluster_id] = self.loop.create_future()
                await asyncio.wait((signal,), timeout=remaining)
        finally:
            self.waiting -= 1
            metrics.long_poll_waiters.dec()

    def notify_threadsafe(self, revisions: dict[int, int]) -> None:
        """Deliver an in-process announcement from any thread."""
        try:
            self.loop.call_soon_threadsafe(self._deliver, dict(revisions))
        except RuntimeError:
            pass  # the loop has closed; nobody waits on it any more

    def _deliver(self, revisions: dict[int, int]) -> None:
        for cluster_id, revision in revisions.items():
            if revision > self._latest.get(cluster_id, -1):
                self._latest[cluster_id] = revision
            signal = self._signals.pop(cluster_id, None)
            if signal is not None and not signal.done():
                signal.set_result(None)

    def _wake_all(self) -> None:
        self._epoch += 1
        signals, self._signals = self._signals, {}
        for signal in signals.values():
            if not signal.done():
                signal.set_result(None)

    async def _listen(self) -> None:
        attempt = 0
        pattern = _channel_pattern(self.channel)
        prefix_length = len(self.channel) + 1
        while not self._closed:
            client = redis.asyncio.Redis.from_url(
                self.redis_url, socket_connect_timeout=2, socket_keepalive=True
            )
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(pattern)
                async for message in pubsub.listen():
                    kind = message["type"]
                    if kind == "psubscribe":
                        attempt = 0
                        # Anything published while we were not subscribed is lost: recheck.
                        self._wake_all()
                        self._subscribed.set()
                    elif kind == "pmessage":
                        self._on_message(message["channel"], message["data"], prefix_length)
            except (redis.RedisError, OSError) as exc:
                logger.warning("Desired-state wake-ups: Redis subscription lost: %s", exc)
            except Exception:
                # Whatever went wrong, the listener must come back: waiters depend on it.
                logger.exception("Desired-state wake-ups: the Redis listener failed")
            finally:
                self._subscribed.clear()
                self._wake_all()
                await _close_quietly(pubsub, client)
            delay = _RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)]
            attempt += 1
            await asyncio.sleep(delay)

    def _on_message(self, channel: bytes, data: bytes, prefix_length: int) -> None:
        try:
            cluster_id = int(channel[prefix_length:])
            revision = int(data)
        except ValueError:
            logger.warning("Desired-state wake-ups: ignoring a malformed message on %r", channel)
            return
        self._deliver({cluster_id: revision})

    def discard(self) -> None:
        """Stop listening without waiting: the hub was replaced, or its loop has closed."""
        self._closed = True
        if self._listener is not None and not self.loop.is_closed():
            self._listener.cancel()

    async def close(self) -> None:
        """Stop listening (the loop's end does this too, by cancelling the listener)."""
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except asyncio.CancelledError:
                pass
        self._wake_all()


async def _close_quietly(pubsub, client) -> None:
    try:
        await pubsub.aclose()
        await client.aclose()
    except (redis.RedisError, OSError, RuntimeError):
        pass


_hubs: PerLoop[WakeupHub] = PerLoop(release=lambda hub: hub.discard())


def _all_hubs() -> list[WakeupHub]:
    """The hubs of this process's open event loops."""
    return _hubs.all()


def waiting_agents() -> int:
    """How many desired-state requests of this process are waiting for a change now."""
    return sum(hub.waiting for hub in _all_hubs())


def current_hub() -> WakeupHub:
    """The hub of the running event loop, created on first use with the current settings."""
    redis_url, channel = settings.AGENT_WAKEUP_REDIS_URL, settings.AGENT_WAKEUP_CHANNEL
    return _hubs.get(
        lambda loop: WakeupHub(loop, redis_url, channel),
        outdated=lambda hub: (hub.redis_url, hub.channel) != (redis_url, channel),
    )
