"""The long-running agent: threads for the desired-state long-poll, heartbeats, leader
election and the health endpoint, and a main loop that reconciles when something is due.

Modelled on healthchecks' `sendalerts`: SIGTERM only sets a flag, and the loop body
(`Agent.tick()`) is a small method that tests can call directly. With the control plane
unreachable the agent keeps the cluster as it is and retries with capped, jittered backoff.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clusters.protocol import DesiredStateResponse, HeartbeatRequest, PublishReport
from publishing.translation.spec import Capabilities

from . import capabilities as capability_discovery
from .apply import LeadershipLost
from .config import AgentConfig
from .kube import KubeClient, KubeConfigError, KubeError, connect
from .leader import LeaderElector
from .logs import log_event, warn_event
from .metrics import HealthServer, Metrics
from .platform import PlatformClient, PlatformError
from .reconcile import Reconciler
from .sink import ManifestSink


class AgentExit(Exception):
    """The agent stops with a non-zero exit; the message is a one-line reason."""


class Backoff:
    """Capped exponential backoff with jitter: half the delay fixed, half random."""

    def __init__(self, base: float = 0.5, cap: float = 60.0) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0

    def next(self) -> float:
        delay = min(self.cap, self.base * (2 ** self.failures))
        self.failures += 1
        return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311

    def reset(self) -> None:
        self.failures = 0


@dataclass
class _Schedule:
    next_drift: float = 0.0
    next_status: float = 0.0
    retry_at: float = 0.0


def merge_report(old: PublishReport | None, new: PublishReport) -> PublishReport:
    """The newer report wins; drift events of an unsent older one are kept."""
    if old is None or not old.get("drift"):
        return new
    merged: PublishReport = {**new, "drift": [*old.get("drift", []), *new.get("drift", [])]}
    return merged


class Agent:
    """One agent process: `run()` until stopped, or `run_once()`."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        platform: PlatformClient,
        kube: KubeClient | None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.platform = platform
        self.kube = kube
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.fatal: str = ""
        self._lock = threading.Lock()
        self._capabilities: Capabilities = {}
        self._capabilities_at = -math.inf
        self._sent_capabilities: Capabilities | None = None
        self.latest: DesiredStateResponse | None = None
        self.latest_revision: int | None = None
        self.reconciled_revision: int | None = None
        self.synced_once = False
        self.kube_ok = True  # the last reconcile, drift or status pass reached the API server
        self.registered = False
        self.control_plane_ok = False
        self.outbox: dict[int, PublishReport] = {}
        self._outbox_retry_at = 0.0
        self._outbox_backoff = Backoff(1.0, config.max_backoff)
        self._reconcile_backoff = Backoff(1.0, config.max_backoff)
        self._schedule = _Schedule()
        self._was_leading = False
        self._needs_full = True
        self.last_tick = clock()
        self.elector: LeaderElector | None = None
        if kube is not None and config.leader_election:
            self.elector = LeaderElector(
                kube, namespace=config.namespace, name=config.lease_name, identity=config.name,
                lease_duration=config.lease_duration, renew_deadline=config.renew_deadline,
                retry_period=config.retry_period, field_manager=config.field_manager,
                on_change=self._leadership_changed,
                on_error=lambda error: self.metrics.errors.labels(source="lease").inc(),
                ensure_namespace=lambda: self.reconciler.ensure_namespaces(
                    {config.namespace}, leader_only=False, recheck=True),
            )
        sink = ManifestSink(config.output_dir) if config.output_dir else None
        self.reconciler = Reconciler(
            kube=kube, namespace=config.namespace, field_manager=config.field_manager,
            metrics=self.metrics, capabilities=lambda: self._capabilities,
            may_write=self.may_write, sink=sink, concurrency=config.apply_concurrency,
        )
        self.health: HealthServer | None = None
        self._threads: list[threading.Thread] = []

    # --- State ----------------------------------------------------------------------------

    def may_write(self) -> bool:
        """Fences every write: only the leader (or a lone agent) writes."""
        return self.elector is None or self.elector.is_leader()

    def _leadership_changed(self, leading: bool) -> None:
        self.metrics.leader.set(1 if leading else 0)
        self.wake.set()

    def stop(self) -> None:
        """Ask the loop to end (the SIGTERM handler calls this)."""
        self.stopping.set()
        self.wake.set()

    def _fail(self, reason: str) -> None:
        self.fatal = reason
        log_event("fatal", level=logging.ERROR, reason=reason)
        self.stop()

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        idle = self.clock() - self.last_tick
        limit = max(300.0, 2 * self.config.drift_interval)
        return idle < limit, {"last_loop_seconds_ago": round(idle, 1)}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready: registered, the Kubernetes API answering (the Lease and the last reconcile,
        drift or status pass), and, when leading, the desired state applied at least once."""
        leading = self.may_write()
        kube_ok = self.kube_ok and not (self.elector is not None and self.elector.failing)
        ready = (self.registered and not self.fatal and kube_ok
                 and (not leading or self.synced_once))
        return ready, {
            "registered": self.registered,
            "leader": leading,
            "synced": self.synced_once,
            "kubernetes": "ok" if kube_ok else "failing",
            "control_plane": "ok" if self.control_plane_ok else "unreachable",
        }

    # --- Capabilities ---------------------------------------------------------------------

    def capabilities(self, refresh: bool = False) -> Capabilities:
        """The cluster's capabilities, discovered again when due (or asked)."""
        if self.kube is None:
            return {}
        due = self.clock() - self._capabilities_at >= self.config.capabilities_interval
        if refresh or due or not self._capabilities:
            discovered = capability_discovery.discover(self.kube)
            if discovered != self._capabilities:
                log_event("capabilities", kubernetes_version=discovered.get(
                    "kubernetes_version", ""), gateway_classes=",".join(
                    discovered.get("gateway_classes", [])), crds=len(discovered.get("crds", [])))
            self._capabilities = discovered
            self._capabilities_at = self.clock()
        return self._capabilities

    # --- Start-up -------------------------------------------------------------------------

    def _until_ready(self, what: str, action: Callable[[], Any], fatal: bool) -> Any:
        """Run `action` until it succeeds; fatal errors (and any error when `fatal`) end the
        agent with a one-line reason."""
        backoff = Backoff(1.0, self.config.max_backoff)
        while not self.stopping.is_set():
            try:
                return action()
            except PlatformError as exc:
                self.metrics.errors.labels(source="control_plane").inc()
                if exc.fatal or fatal or not exc.retryable:
                    raise AgentExit(f"{what}: {exc}") from None
                warn_event("retry", what=what, error=str(exc)[:300])
            except KubeError as exc:
                self.metrics.errors.labels(source="kubernetes").inc()
                if fatal or not exc.retryable and exc.status not in (401, 403):
                    raise AgentExit(f"{what}: Kubernetes API {exc}") from None
                warn_event("retry", what=what, error=str(exc)[:300])
            self.stopping.wait(backoff.next())
        raise AgentExit(f"{what}: stopped before it succeeded")

    def start(self) -> None:
        """Discover, register, and start the background threads."""
        log_event("starting", **self.config.describe())
        if self.config.metrics_port:
            self.health = HealthServer(
                self.config.metrics_address, self.config.metrics_port, self.metrics,
                liveness=self.liveness, readiness=self.readiness,
            )
            self.health.start()
            log_event("listening", address=self.config.metrics_address, port=self.health.port)
        once = self.config.once
        if self.kube is not None:
            self._until_ready("capability discovery", lambda: self.capabilities(refresh=True),
                              fatal=once)
            # The Lease and the inventories live in the agent's namespace (in a cluster it is
            # the pod's own; locally it may not exist yet).
            self.reconciler.ensure_namespaces({self.config.namespace}, leader_only=False)
        self._until_ready("registration", self.platform.token, fatal=once)
        self.registered = True
        if self.elector is None:
            self.metrics.leader.set(1)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # --- Background threads ---------------------------------------------------------------

    def poll_loop(self) -> None:
        """Long-poll desired state; hand every new one to the main loop."""
        backoff = Backoff(0.5, self.config.max_backoff)
        while not self.stopping.is_set():
            try:
                answer = self.platform.desired_state(self.latest_revision, self.config.poll_wait)
            except PlatformError as exc:
                self.control_plane_ok = False
                self.metrics.errors.labels(source="control_plane").inc()
                if exc.fatal:
                    self._fail(f"desired state: {exc}")
                    return
                delay = backoff.next()
                warn_event("poll_failed", error=str(exc)[:300], retry_in=round(delay, 2))
                self.stopping.wait(delay)
                continue
            backoff.reset()
            self.control_plane_ok = True
            if answer.document is not None:
                self._received(answer.document, answer.revision)

    def _received(self, document: DesiredStateResponse, revision: int | None) -> None:
        with self._lock:
            self.latest = document
            self.latest_revision = revision
        self.metrics.desired_revision.set(revision or 0)
        log_event("desired_state", revision=revision, publishes=len(document["publishes"]),
                  removals=len(document["removals"]))
        self.wake.set()

    def heartbeat_loop(self) -> None:
        """Report this agent's heartbeat (every agent, leader or not)."""
        backoff = Backoff(1.0, self.config.max_backoff)
        while not self.stopping.is_set():
            delay = self.config.heartbeat_interval
            try:
                self.send_heartbeat()
                backoff.reset()
            except PlatformError as exc:
                self.metrics.errors.labels(source="control_plane").inc()
                if exc.fatal:
                    self._fail(f"heartbeat: {exc}")
                    return
                delay = min(delay, backoff.next())
                warn_event("heartbeat_failed", error=str(exc)[:300])
            self.stopping.wait(delay)

    def send_heartbeat(self) -> None:
        """One heartbeat, with the capabilities when they changed since the last one."""
        payload: HeartbeatRequest = {}
        try:
            capabilities = self.capabilities()
        except KubeError as exc:
            # The heartbeat still goes: the agent is alive, only discovery failed.
            self.metrics.errors.labels(source="kubernetes").inc()
            warn_event("capabilities_failed", error=str(exc)[:300])
            capabilities = self._capabilities
        if capabilities and capabilities != self._sent_capabilities:
            payload["capabilities"] = capabilities
            if capabilities.get("gateway_class_names"):
                payload["gateway_class_names"] = capabilities["gateway_class_names"]
        answer = self.platform.heartbeat(payload)
        self._sent_capabilities = capabilities
        self.control_plane_ok = True
        log_event("heartbeat", agent_id=answer.get("agent_id"), leader=self.may_write(),
                  desired_state_revision=answer.get("desired_state_revision"))

    # --- The loop body --------------------------------------------------------------------

    def tick(self) -> None:
        """Do whatever is due: reconcile a new (or retried) desired state, check drift, read
        status back, send reports. Only the leader changes anything."""
        now = self.clock()
        self.last_tick = now
        leading = self.may_write()
        if leading != self._was_leading:
            self._was_leading = leading
            if leading:
                # A new leader trusts nothing it remembers: check every object again.
                self.reconciler.forget()
                self._needs_full = True
                self._schedule = _Schedule(next_drift=now + self.config.drift_interval)
        if not leading:
            return
        with self._lock:
            desired, revision = self.latest, self.latest_revision
        if desired is None:
            return
        try:
            retry_due = (self._needs_full or self.reconciler.pending) and (
                now >= self._schedule.retry_at
            )
            if revision != self.reconciled_revision or retry_due:
                self.reconcile(desired, revision)
                # Conditions were just read with the apply: report first, look again later.
                self.flush_reports()
                self._schedule.next_status = self.clock() + self.config.status_interval
            if self.clock() >= self._schedule.next_drift:
                self._timed("drift", self.reconciler.check_drift)
                self._schedule.next_drift = self.clock() + self.config.drift_interval
            if self.reconciler.lost_state:
                # Namespaces the agent made are gone (an API server restored empty): trust
                # nothing remembered, and apply everything again now.
                warn_event("cluster_state_lost", action="full reconcile")
                self.reconciler.forget()
                self._needs_full = True
                self._schedule.retry_at = self.clock()
                self.wake.set()
            if self.reconciler.watching and self.clock() >= self._schedule.next_status:
                self._timed("status", self.reconciler.refresh_status)
                self._schedule.next_status = self.clock() + self.config.status_interval
        except LeadershipLost as exc:
            warn_event("leadership_lost", detail=str(exc))
        self.flush_reports()

    def reconcile(self, desired: DesiredStateResponse, revision: int | None) -> None:
        """Apply one desired state and queue its reports."""
        started = self.clock()
        try:
            reports = self.reconciler.reconcile(desired)
        except KubeError as exc:
            self.kube_ok = False
            self.metrics.errors.labels(source="kubernetes").inc()
            delay = self._reconcile_backoff.next()
            self._schedule.retry_at = self.clock() + delay
            # Tried: a newer revision goes at once, this one again after the backoff.
            self.reconciled_revision = revision
            self._needs_full = True
            warn_event("reconcile_failed", revision=revision, error=str(exc)[:300],
                      retry_in=round(delay, 2))
            return
        duration = self.clock() - started
        self.kube_ok = True
        self.metrics.reconcile_duration.labels(trigger="desired_state").observe(duration)
        self._needs_full = False
        self.reconciled_revision = revision
        self._queue(reports)
        if self.reconciler.pending:
            delay = self._reconcile_backoff.next()
            self._schedule.retry_at = self.clock() + delay
            log_event("reconcile", revision=revision, reports=len(reports), complete=False,
                      duration=round(duration, 3), retry_in=round(delay, 2))
        else:
            self._reconcile_backoff.reset()
            self.synced_once = True
            self.metrics.last_sync.set(time.time())
            log_event("reconcile", revision=revision, reports=len(reports), complete=True,
                      duration=round(duration, 3))

    def _timed(self, trigger: str, step: Callable[[], list[PublishReport]]) -> None:
        started = self.clock()
        try:
            reports = step()
        except KubeError as exc:
            self.kube_ok = False
            self.metrics.errors.labels(source="kubernetes").inc()
            warn_event(f"{trigger}_failed", error=str(exc)[:300])
            return
        self.kube_ok = True
        self.metrics.reconcile_duration.labels(trigger=trigger).observe(self.clock() - started)
        self._queue(reports)

    def _queue(self, reports: list[PublishReport]) -> None:
        for report in reports:
            publish_id = report["publish_id"]
            self.outbox[publish_id] = merge_report(self.outbox.get(publish_id), report)

    def flush_reports(self, force: bool = False) -> bool:
        """Send queued reports; kept for a later try when the control plane is away."""
        if not self.outbox:
            return True
        if not force and self.clock() < self._outbox_retry_at:
            return False
        batch = dict(self.outbox)
        try:
            outcomes = self.platform.report_status(list(batch.values()))
        except PlatformError as exc:
            self.metrics.errors.labels(source="control_plane").inc()
            if exc.fatal:
                self._fail(f"status report: {exc}")
                return False
            if not exc.retryable and exc.status != 401:
                # The server will not take these reports however often they are sent.
                warn_event("report_rejected", reports=len(batch), error=str(exc)[:500])
                for publish_id, report in batch.items():
                    if self.outbox.get(publish_id) is report:
                        del self.outbox[publish_id]
                return False
            delay = self._outbox_backoff.next()
            self._outbox_retry_at = self.clock() + delay
            warn_event("report_failed", reports=len(batch), error=str(exc)[:300],
                      retry_in=round(delay, 2))
            return False
        self._outbox_backoff.reset()
        for publish_id, report in batch.items():
            if self.outbox.get(publish_id) is report:
                del self.outbox[publish_id]
        for outcome in outcomes:
            log_event("reported", publish_id=outcome.get("publish_id"),
                      result=outcome.get("result"), state=outcome.get("state", ""))
        return True

    def _next_wakeup(self) -> float:
        now = self.clock()
        deadlines = [now + 1.0]
        if self.may_write() and self.latest is not None:
            deadlines.append(self._schedule.next_drift)
            if self.reconciler.watching:
                deadlines.append(self._schedule.next_status)
            if self.reconciler.pending or self._needs_full:
                deadlines.append(self._schedule.retry_at)
        if self.outbox:
            deadlines.append(self._outbox_retry_at)
        return max(0.0, min(deadlines) - now)

    # --- Running --------------------------------------------------------------------------

    def run(self) -> None:
        """Run until stopped; raises AgentExit on a condition an operator must fix."""
        try:
            self.start()
            if self.elector is not None:
                self._spawn("leader", lambda: self.elector.run(self.stopping))
            self._spawn("poll", self.poll_loop)
            self._spawn("heartbeat", self.heartbeat_loop)
            while not self.stopping.is_set():
                self.wake.clear()
                self.tick()
                self.wake.wait(self._next_wakeup())
        finally:
            self.shutdown()
        if self.fatal:
            raise AgentExit(self.fatal)

    def shutdown(self) -> None:
        """Release the Lease, send what is queued, stop serving health."""
        self.stopping.set()
        for thread in self._threads:
            if thread.name == "leader":
                thread.join(timeout=self.config.retry_period + 5)
        if self.outbox:
            self.flush_reports(force=True)
        if self.health is not None:
            self.health.stop()
        log_event("stopped", name=self.config.name)

    def run_once(self) -> None:
        """Apply the current desired state once and report; AgentExit on any failure."""
        try:
            self.start()
            if self.elector is not None:
                self._acquire_once()
            try:
                answer = self.platform.desired_state(None, 0)
            except PlatformError as exc:
                raise AgentExit(f"desired state: {exc}") from None
            if answer.document is None:
                raise AgentExit("desired state: the control plane answered without a body")
            self._received(answer.document, answer.revision)
            self.tick()
            if self.outbox and not self.flush_reports(force=True):
                raise AgentExit("status report: the control plane did not take the report")
            if self.fatal:
                raise AgentExit(self.fatal)
            failures = self._failures()
            if failures or not self.synced_once:
                raise AgentExit(
                    f"apply incomplete: {failures or 'the Kubernetes API did not answer'}"
                )
        finally:
            if self.elector is not None:
                self.elector.release()
            if self.health is not None:
                self.health.stop()

    def _acquire_once(self) -> None:
        if self.elector is None:
            return
        deadline = self.clock() + self.config.lease_duration + 2 * self.config.retry_period
        while self.clock() < deadline and not self.stopping.is_set():
            self.elector.step()
            if self.elector.is_leader():
                return
            self.stopping.wait(self.config.retry_period)
        raise AgentExit(
            f"leader election: agent '{self.elector.holder}' holds Lease "
            f"{self.config.namespace}/{self.config.lease_name}; stop it or pass "
            "--no-leader-election"
        )

    def _failures(self) -> str:
        parts = []
        for publish_id, state in sorted(self.reconciler.applied.items()):
            failed = state.objects.get("failed", [])
            if failed or state.errors:
                first = (state.errors or [item["error"] for item in failed])[0]
                parts.append(f"publish #{publish_id}: {len(failed)} objects failed, "
                             f"{len(state.errors)} errors ({first[:200]})")
        for publish_id in sorted(self.reconciler.removals_failed):
            parts.append(f"publish #{publish_id}: removal incomplete")
        return "; ".join(parts)


def build_agent(config: AgentConfig) -> Agent:
    """An agent with real clients: the Kubernetes API from the kubeconfig (or the pod's
    service account), the control plane from --server. The GitOps sink reads the cluster too
    (capabilities, and the Lease when several agents run)."""
    try:
        kube = connect(config.kubeconfig, pool_size=max(8, config.apply_concurrency * 2))
    except KubeConfigError as exc:
        raise AgentExit(str(exc)) from None
    agent: Agent | None = None

    def capabilities() -> Capabilities:
        return agent.capabilities() if agent is not None else {}

    platform = PlatformClient(
        config.server, name=config.name, registration_token=config.registration_token,
        token_file=config.token_file, capabilities=capabilities,
    )
    agent = Agent(config, platform=platform, kube=kube)
    return agent
