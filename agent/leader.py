"""Leader election through a `coordination.k8s.io/v1` Lease, as client-go's leaderelection
package does it: one holder at a time, renewed every retry period, taken over by a follower
once the holder has not renewed for the lease duration.

Expiry is judged on this process's monotonic clock (when it first saw the current record),
never by comparing wall clocks across nodes. The leader stops writing once its last
successful renewal is older than the renew deadline, which is shorter than the lease
duration, so two agents never write at once. On shutdown the leader releases the Lease and a
follower takes over at once.
"""

from __future__ import annotations

import enum
import math
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .kube import KubeClient, KubeError, ObjectKey, missing_namespace
from .logs import log_event, warn_event

LEASE_API = "coordination.k8s.io/v1"


def micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime: RFC 3339 with microseconds, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Attempt(enum.Enum):
    HELD = "held"  # acquired or renewed: we lead
    TAKEN = "taken"  # another agent holds a valid lease
    FAILED = "failed"  # the API server did not answer or another write won the race


class LeaderElector:
    """Acquires and renews one Lease from a background thread; `is_leader()` fences writes."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float,
        renew_deadline: float,
        retry_period: float,
        field_manager: str,
        on_change: Callable[[bool], None] | None = None,
        on_error: Callable[[KubeError], None] | None = None,
        ensure_namespace: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.key = ObjectKey(LEASE_API, "Lease", namespace, name)
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.field_manager = field_manager
        self.on_change = on_change or (lambda leading: None)
        self.on_error = on_error or (lambda error: None)
        # Creates the Lease's namespace: an API server restored empty has none, and without a
        # Lease no agent would ever lead again to create it.
        self.ensure_namespace = ensure_namespace or (lambda: None)
        self.clock = clock
        self.failing = False  # the last attempt could not reach or write the Lease
        self.holder = ""
        self._leading = False
        self._renewed_at = -math.inf
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = -math.inf
        self._lock = threading.Lock()

    def is_leader(self) -> bool:
        """True while the last renewal is younger than the renew deadline."""
        with self._lock:
            return self._leading and self.clock() < self._renewed_at + self.renew_deadline

    # --- One attempt ----------------------------------------------------------------------

    def _spec(self, now: datetime, previous: dict[str, Any] | None) -> dict[str, Any]:
        previous = previous or {}
        same_holder = previous.get("holderIdentity") == self.identity
        transitions = int(previous.get("leaseTransitions") or 0)
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, math.ceil(self.lease_duration)),
            "acquireTime": previous.get("acquireTime") if same_holder and previous.get(
                "acquireTime") else micro_time(now),
            "renewTime": micro_time(now),
            "leaseTransitions": transitions if same_holder or not previous else transitions + 1,
        }

    def try_acquire_or_renew(self) -> Attempt:
        started = self.clock()
        now = datetime.now(UTC)
        lease = self.kube.get(self.key)
        if lease is None:
            body = {
                "apiVersion": LEASE_API,
                "kind": "Lease",
                "metadata": {"name": self.key.name, "namespace": self.key.namespace},
                "spec": self._spec(now, None),
            }
            try:
                self.kube.create(body, field_manager=self.field_manager)
            except KubeError as exc:
                if exc.conflict:
                    return Attempt.FAILED
                if not missing_namespace(exc):
                    raise
                log_event("namespace_missing", namespace=self.key.namespace, needed_by="lease")
                self.ensure_namespace()
                self.kube.create(body, field_manager=self.field_manager)
            self._held(started, body["spec"])
            return Attempt.HELD
        spec = lease.get("spec") or {}
        record = (spec.get("holderIdentity"), spec.get("renewTime"),
                  spec.get("leaseDurationSeconds"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, started
        self.holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if self.holder and self.holder != self.identity and started < self._observed_at + duration:
            return Attempt.TAKEN
        lease["spec"] = self._spec(now, spec)
        try:
            self.kube.replace(lease, field_manager=self.field_manager)
        except KubeError as exc:
            if exc.conflict:
                return Attempt.FAILED
            raise
        self._held(started, lease["spec"])
        return Attempt.HELD

    def _held(self, started: float, spec: dict[str, Any]) -> None:
        self._observed = (spec["holderIdentity"], spec["renewTime"],
                          spec["leaseDurationSeconds"], spec["leaseTransitions"])
        self._observed_at = started
        self.holder = self.identity
        with self._lock:
            # Measured from before the request: a follower cannot have seen this renewal earlier.
            self._renewed_at = started

    # --- The loop -------------------------------------------------------------------------

    def _set_leading(self, leading: bool, reason: str) -> None:
        with self._lock:
            changed = self._leading != leading
            self._leading = leading
        if changed:
            log_event("leader" if leading else "follower", identity=self.identity,
                      lease=f"{self.key.namespace}/{self.key.name}", reason=reason,
                      holder=self.holder)
            self.on_change(leading)

    def step(self) -> None:
        """One acquire-or-renew attempt and what follows from it."""
        try:
            attempt = self.try_acquire_or_renew()
            self.failing = False
        except KubeError as exc:
            self.failing = True
            self.on_error(exc)
            warn_event("lease_error", identity=self.identity,
                      status=exc.status, error=exc.message[:200])
            attempt = Attempt.FAILED
        if attempt is Attempt.HELD:
            self._set_leading(True, "acquired or renewed")
        elif attempt is Attempt.TAKEN:
            self._set_leading(False, "another agent holds the lease")
        elif not self.is_leader():
            self._set_leading(False, "renew deadline passed")

    def run(self, stop: threading.Event) -> None:
        """Acquire and renew until `stop` is set, then release the Lease if we hold it."""
        while not stop.is_set():
            self.step()
            # Jitter keeps followers from hitting the API server in step.
            stop.wait(self.retry_period * (0.8 + 0.4 * random.random()))  # noqa: S311
        self.release()

    def release(self) -> None:
        """Give the Lease up (holder emptied) so a follower need not wait for it to expire."""
        if not self.is_leader():
            self._set_leading(False, "stopping")
            return
        try:
            lease = self.kube.get(self.key)
            spec = (lease or {}).get("spec") or {}
            if lease is not None and spec.get("holderIdentity") == self.identity:
                now = micro_time(datetime.now(UTC))
                lease["spec"] = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1,
                                 "acquireTime": now, "renewTime": now}
                self.kube.replace(lease, field_manager=self.field_manager)
        except KubeError as exc:
            warn_event("lease_release_failed", identity=self.identity, status=exc.status,
                      error=exc.message[:200])
        self._set_leading(False, "released on shutdown")
