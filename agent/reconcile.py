"""The reconcile step: one desired state in, the cluster (or the output directory) made to
match it, status reports out.

`Reconciler.reconcile(desired)` translates each publish with the publishing translator
(cached by spec hash, revision and gateway class names), applies it with Server-Side Apply,
records its inventory and prunes what left it, and removes withdrawn, moved and deleted
publishes; `check_drift()` and `refresh_status()` run on timers. Each returns the reports to
send, one per publish that changed. The runner calls these; tests call them directly.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clusters.protocol import (
    MAX_ENTRIES_PER_LIST,
    MAX_MESSAGE_LENGTH,
    MAX_OBJECTS_PER_CATEGORY,
    DesiredPublish,
    DesiredStateResponse,
    DriftEvent,
    ObjectChanges,
    ObjectCondition,
    PublishReport,
)
from publishing.translation import TranslationError, render_manifests
from publishing.translation.spec import Capabilities

from .apply import CONFIGURED, CREATED, FAILED, UNCHANGED, ChangeSet, apply_changeset
from .conditions import ROUTE_KINDS, all_true, conditions_of, object_ref
from .drift import check_drift, refused_event
from .inventory import Inventory, InventoryStore, PruneResult, prune
from .kube import KubeClient, KubeError, ObjectKey, missing_namespace
from .logs import log_event, warn_event
from .metrics import Metrics
from .sink import ManifestSink, SinkResult

NAMESPACE_API = "v1"
_TRANSLATION_CACHE_SIZE = 512


def spec_digest(spec: dict[str, Any]) -> str:
    """SHA-256 of a spec's canonical JSON: the agent's own content key for what it received."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Translator:
    """The publishing translator with a cache: a revision is rendered once per content."""

    def __init__(self, size: int = _TRANSLATION_CACHE_SIZE) -> None:
        self.size = size
        self._cache: OrderedDict[tuple[str, int, str], list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0

    @staticmethod
    def key(publish: DesiredPublish, capabilities: Capabilities) -> tuple[str, int, str]:
        names = json.dumps(capabilities.get("gateway_class_names") or {}, sort_keys=True)
        return (spec_digest(publish["spec"]), int(publish["revision"]), names)

    def manifests(self, publish: DesiredPublish, capabilities: Capabilities
                  ) -> list[dict[str, Any]]:
        """The publish's manifests; raises TranslationError."""
        key = self.key(publish, capabilities)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        manifests = render_manifests(publish["spec"], revision=int(publish["revision"]),
                                     capabilities=capabilities)
        with self._lock:
            self.renders += 1
            self._cache[key] = manifests
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return manifests


@dataclass
class PublishState:
    """What the agent last did for one publish, to report again and to check for drift."""

    publish_id: int
    revision: int
    translation_key: tuple[str, int, str]
    manifests: list[dict[str, Any]] = field(default_factory=list)
    objects: ObjectChanges = field(default_factory=dict)
    conditions: list[ObjectCondition] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    watched: list[ObjectKey] = field(default_factory=list)  # objects that carry conditions
    complete: bool = False  # everything applied and pruned; False: try again
    retry: bool = True  # False when trying again cannot help (a translation error)


def _refs(keys: list[ObjectKey]) -> list[dict[str, str]]:
    return [object_ref(key) for key in keys[:MAX_OBJECTS_PER_CATEGORY]]


def _cap_conditions(conditions: list[ObjectCondition]) -> list[ObjectCondition]:
    """At most the protocol's limit, the ones needing attention first."""
    rank = {"False": 0, "Unknown": 1, "True": 2}
    ordered = sorted(conditions, key=lambda item: rank.get(item["status"], 1))
    return ordered[:MAX_ENTRIES_PER_LIST]


def _message(text: str) -> str:
    return text[:MAX_MESSAGE_LENGTH]


def _carries_conditions(key: ObjectKey) -> bool:
    return key.kind == "Gateway" or key.kind in ROUTE_KINDS or key.kind.endswith("Policy")


def changes_from(changeset: ChangeSet, pruned: PruneResult | None = None) -> ObjectChanges:
    """A change set (and prune result) as the status report's `objects`."""
    changes: ObjectChanges = {}
    for action in (CREATED, CONFIGURED, UNCHANGED):
        keys = changeset.keys(action)
        if keys:
            changes[action] = _refs(keys)
    if pruned is not None and pruned.pruned:
        changes["pruned"] = _refs(pruned.pruned)
    failed = [{"object": object_ref(result.key), "error": _message(result.error)}
              for result in changeset.failed]
    if pruned is not None:
        failed += [{"object": object_ref(key), "error": _message(f"delete failed: {error}")}
                   for key, error in pruned.failed]
    if failed:
        changes["failed"] = failed[:MAX_OBJECTS_PER_CATEGORY]
    return changes


class Reconciler:
    """Applies desired states: to the cluster through `kube`, or as files through `sink`."""

    def __init__(
        self,
        *,
        kube: KubeClient | None,
        namespace: str,
        field_manager: str,
        metrics: Metrics,
        capabilities: Callable[[], Capabilities],
        may_write: Callable[[], bool] = lambda: True,
        sink: ManifestSink | None = None,
        concurrency: int = 4,
        translator: Translator | None = None,
    ) -> None:
        if kube is None and sink is None:
            raise ValueError("a reconciler needs a Kubernetes client or an output directory")
        self.kube = kube
        self.sink = sink
        self.namespace = namespace
        self.field_manager = field_manager
        self.metrics = metrics
        self.capabilities = capabilities
        self.may_write = may_write
        self.concurrency = concurrency
        self.translator = translator or Translator()
        self.inventories = (
            InventoryStore(kube, namespace, field_manager) if kube is not None and sink is None
            else None
        )
        self.applied: dict[int, PublishState] = {}
        self.removed: set[int] = set()
        self.removals_failed: set[int] = set()
        self._namespaces: set[str] = set()
        # Conflict events for the publishes whose objects another publish tried to write,
        # reported to those owners with the next reports.
        self._refused: dict[int, list[DriftEvent]] = {}
        self._refused_told: set[tuple[int, ObjectKey]] = set()
        # Set when a namespace the agent had made is gone (an API server restored empty, or a
        # namespace deleted): the runner then forgets everything and reconciles in full.
        self.lost_state = False

    # --- Whole desired states -------------------------------------------------------------

    def forget(self) -> None:
        """Drop what is remembered, so the next reconcile checks every object again (after a
        leader change, after the cluster lost state, or to measure a full no-change
        reconcile)."""
        self.applied.clear()
        self.removed.clear()
        self.removals_failed.clear()
        self._namespaces.clear()
        self.lost_state = False

    def _namespace_gone(self, error: KubeError | str) -> None:
        """Note a request that failed because its namespace does not exist (any more)."""
        namespace = missing_namespace(error)
        if namespace:
            self._namespaces.discard(namespace)
            self.lost_state = True

    @property
    def pending(self) -> bool:
        """True when some publish should be tried again (a failure that may pass)."""
        return bool(self.removals_failed) or any(
            not state.complete and state.retry for state in self.applied.values()
        )

    def reconcile(self, desired: DesiredStateResponse) -> list[PublishReport]:
        """Make the cluster match a complete desired state; the reports to send.

        Only ever called with a desired state that arrived whole: pruning relies on it.
        """
        capabilities = self.capabilities()
        publishes = sorted(desired["publishes"], key=lambda item: item["publish_id"])
        wanted = {item["publish_id"] for item in publishes}
        if self.kube is not None and self.sink is None:
            self.ensure_namespaces({self.namespace})
        # Raises KubeError when the inventories cannot be read: nothing has changed then.
        existing = self._existing_publishes()
        reports: list[PublishReport] = []
        for publish in publishes:
            state = self.applied.get(publish["publish_id"])
            key = self.translator.key(publish, capabilities)
            if state is not None and state.translation_key == key and (
                state.complete or not state.retry
            ):
                continue
            reports.append(self._apply_publish(publish, key, capabilities, existing))
        reasons = {item["publish_id"]: item["reason"] for item in desired["removals"]}
        orphans = set(existing) - wanted - set(reasons)
        for publish_id in sorted((set(reasons) | orphans) - wanted):
            if publish_id in self.removed and publish_id not in existing:
                continue
            reason = reasons.get(publish_id, "not in the desired state")
            report = self._remove_publish(publish_id, existing.get(publish_id), reason)
            if report is not None and report.get("removed"):
                self.removals_failed.discard(publish_id)
            else:
                self.removals_failed.add(publish_id)
            if report is not None:
                reports.append(report)
        self.removals_failed &= set(reasons) | orphans
        for publish_id in set(self.applied) - wanted:
            del self.applied[publish_id]
        self.metrics.publishes.set(len(wanted))
        return reports + self._conflict_reports()

    def _existing_publishes(self) -> dict[int, Inventory | None]:
        if self.sink is not None:
            return dict.fromkeys(self.sink.publish_ids())
        _kube, inventories = self._cluster()
        return dict(inventories.load_all())

    def _cluster(self) -> tuple[KubeClient, InventoryStore]:
        if self.kube is None or self.inventories is None:
            raise RuntimeError("this reconciler writes files; it has no cluster to apply to")
        return self.kube, self.inventories

    # --- One publish ----------------------------------------------------------------------

    def _translate(self, publish: DesiredPublish, capabilities: Capabilities
                   ) -> tuple[list[dict[str, Any]] | None, list[str]]:
        try:
            return self.translator.manifests(publish, capabilities), []
        except TranslationError as exc:
            self.metrics.errors.labels(source="translation").inc()
            log_event("translate", publish_id=publish["publish_id"],
                      revision=publish["revision"], result="failed", error=str(exc)[:300])
            return None, [_message(f"translation: {error}") for error in exc.errors]

    def _apply_publish(
        self,
        publish: DesiredPublish,
        key: tuple[str, int, str],
        capabilities: Capabilities,
        existing: dict[int, Inventory | None],
    ) -> PublishReport:
        publish_id, revision = publish["publish_id"], int(publish["revision"])
        self.removed.discard(publish_id)
        state = PublishState(publish_id, revision, key)
        self.applied[publish_id] = state
        manifests, errors = self._translate(publish, capabilities)
        if manifests is None:
            state.errors, state.retry = errors, False
            return {"publish_id": publish_id, "revision": revision, "objects": {},
                    "conditions": [], "errors": errors[:MAX_ENTRIES_PER_LIST]}
        state.manifests = manifests
        if self.sink is not None:
            result = self.sink.write(publish_id, manifests)
            state.objects = self._sink_changes(result)
            state.complete = True
        else:
            try:
                self._apply_to_cluster(state, existing.get(publish_id))
            except KubeError as exc:
                # The inventory could not be written: nothing of this publish was applied.
                self._namespace_gone(exc)
                self.metrics.errors.labels(source="kubernetes").inc()
                warn_event("publish_failed", publish_id=publish_id, revision=revision,
                          status=exc.status, error=exc.message[:300])
                state.errors = [_message(f"inventory: {exc}")]
                state.complete = False
        log_event("publish_applied", publish_id=publish_id, revision=revision,
                  complete=state.complete,
                  **{action: len(state.objects.get(action, [])) for action in
                     (CREATED, CONFIGURED, UNCHANGED, "pruned", FAILED)})
        return self._report(state)

    def _sink_changes(self, result: SinkResult) -> ObjectChanges:
        changes: ObjectChanges = {}
        for action in (CREATED, CONFIGURED, UNCHANGED, "pruned"):
            keys = getattr(result, action)
            if keys:
                changes[action] = _refs(keys)
            self.metrics.objects.labels(action=action).inc(len(keys))
        return changes

    def ensure_namespaces(self, namespaces: set[str], *, leader_only: bool = True,
                          recheck: bool = False) -> None:
        """Create missing namespaces the publishes write to (a real cluster may refuse: the
        objects then fail with the API server's message). Namespaces seen once are not asked
        for again unless `recheck`, or a request fails for want of one (`_namespace_gone`)."""
        kube = self.kube
        if kube is None:
            return
        for namespace in sorted(namespaces if recheck else namespaces - self._namespaces):
            key = ObjectKey(NAMESPACE_API, "Namespace", "", namespace)
            try:
                if kube.get(key) is None:
                    if leader_only and not self.may_write():
                        continue
                    kube.apply(
                        {"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": namespace,
                                      "labels": {"app.kubernetes.io/managed-by": "imp-gateway"}}},
                        field_manager=self.field_manager,
                    )
                    log_event("namespace_created", namespace=namespace)
                self._namespaces.add(namespace)
            except KubeError as exc:
                warn_event("namespace_check_failed", namespace=namespace, status=exc.status,
                          error=exc.message[:200])

    def _apply_to_cluster(self, state: PublishState, inventory: Inventory | None) -> None:
        kube, inventories = self._cluster()
        publish_id = state.publish_id
        keys = [ObjectKey.of(manifest) for manifest in state.manifests]
        wanted = set(keys)
        previous = inventory or Inventory(publish_id)
        self.ensure_namespaces({key.namespace for key in keys if key.namespace})
        # Record what we are about to create before creating it: a crash in between must
        # not leave objects no inventory knows.
        inventories.save(
            Inventory(publish_id, previous.objects | wanted, previous.revision,
                      previous.content_hash),
            self.may_write,
        )
        changeset = apply_changeset(
            kube, state.manifests, field_manager=self.field_manager,
            may_write=self.may_write, concurrency=self.concurrency,
        )
        stale = previous.objects - wanted
        pruned = PruneResult()
        # Objects another owner holds were never ours: they leave the inventory.
        foreign = {result.key for result in changeset.results if result.conflict}
        for result in changeset.failed:
            self._namespace_gone(result.error)
        if changeset.failed:
            # Keep what the publish had while its new objects are not all there.
            remaining = (wanted - foreign) | stale
        else:
            pruned = prune(kube, stale, publish_id, self.may_write)
            remaining = (wanted - foreign) | {key for key, _error in pruned.failed}
        self._note_conflicts(changeset)
        inventories.save(
            Inventory(publish_id, remaining, state.revision, state.translation_key[0]),
            self.may_write,
        )
        self._count(changeset, pruned)
        state.objects = changes_from(changeset, pruned)
        state.complete = not changeset.failed and not pruned.failed
        state.watched = [result.key for result in changeset.results
                         if result.live is not None and _carries_conditions(result.key)]
        state.conditions = [
            condition
            for result in changeset.results
            if result.live is not None
            for condition in conditions_of(result.live)
        ]
        if changeset.failed:
            self.metrics.errors.labels(source="kubernetes").inc(len(changeset.failed))

    def _note_conflicts(self, changeset: ChangeSet) -> None:
        """Remember, for each publish whose object a change set refused to write over, an
        event telling its owner (reported by `_conflict_reports`)."""
        for result in changeset.results:
            if result.owner is None or (result.owner, result.key) in self._refused_told:
                continue
            # Once per object and owner: drift passes meet the same conflict again and again.
            self._refused_told.add((result.owner, result.key))
            self._refused.setdefault(result.owner, []).append(refused_event(result.key))

    def _conflict_reports(self) -> list[PublishReport]:
        """Reports telling owners that another publish tried to write their objects."""
        reports = []
        for owner, events in sorted(self._refused.items()):
            state = self.applied.get(owner)
            if state is not None:
                reports.append(self._report(state, events))
        self._refused.clear()
        return reports

    def _count(self, changeset: ChangeSet, pruned: PruneResult) -> None:
        for action, count in changeset.counts().items():
            self.metrics.objects.labels(action=action).inc(count)
        self.metrics.objects.labels(action="pruned").inc(len(pruned.pruned))
        self.metrics.objects.labels(action=FAILED).inc(len(pruned.failed))

    def _report(self, state: PublishState, drift: list[DriftEvent] | None = None
                ) -> PublishReport:
        report: PublishReport = {
            "publish_id": state.publish_id,
            "revision": state.revision,
            "objects": state.objects,
            "conditions": _cap_conditions(state.conditions),
            "errors": state.errors[:MAX_ENTRIES_PER_LIST],
        }
        if drift:
            report["drift"] = drift[:MAX_ENTRIES_PER_LIST]
        return report

    # --- Removals -------------------------------------------------------------------------

    def _remove_publish(self, publish_id: int, inventory: Inventory | None, reason: str
                        ) -> PublishReport | None:
        self.applied.pop(publish_id, None)
        if self.sink is not None:
            pruned_keys = self.sink.remove(publish_id)
            self.metrics.objects.labels(action="pruned").inc(len(pruned_keys))
            self.removed.add(publish_id)
            log_event("publish_removed", publish_id=publish_id, reason=reason,
                      pruned=len(pruned_keys))
            report: PublishReport = {"publish_id": publish_id, "removed": True}
            if pruned_keys:
                report["objects"] = {"pruned": _refs(pruned_keys)}
            return report
        if inventory is None:
            self.removed.add(publish_id)
            return {"publish_id": publish_id, "removed": True}
        try:
            return self._prune_publish(publish_id, inventory, reason)
        except KubeError as exc:
            self.metrics.errors.labels(source="kubernetes").inc()
            warn_event("publish_removal_failed", publish_id=publish_id, status=exc.status,
                      error=exc.message[:300])
            return None

    def _prune_publish(self, publish_id: int, inventory: Inventory, reason: str
                       ) -> PublishReport:
        kube, inventories = self._cluster()
        result = prune(kube, inventory.objects, publish_id, self.may_write)
        self.metrics.objects.labels(action="pruned").inc(len(result.pruned))
        self.metrics.objects.labels(action=FAILED).inc(len(result.failed))
        changes = changes_from(ChangeSet(), result)
        if result.failed:
            # A failed delete stays in the inventory and is tried again.
            inventories.save(
                Inventory(publish_id, {key for key, _error in result.failed}, inventory.revision,
                          inventory.content_hash),
                self.may_write,
            )
            self.metrics.errors.labels(source="kubernetes").inc(len(result.failed))
            log_event("publish_removed", publish_id=publish_id, reason=reason,
                      pruned=len(result.pruned), failed=len(result.failed), complete=False)
            return {"publish_id": publish_id, "objects": changes,
                    "errors": [_message(f"removal ({reason}): {len(result.failed)} objects "
                                        "could not be deleted yet")]}
        inventories.delete(publish_id, self.may_write)
        self.removed.add(publish_id)
        log_event("publish_removed", publish_id=publish_id, reason=reason,
                  pruned=len(result.pruned), complete=True)
        return {"publish_id": publish_id, "removed": True, "objects": changes}

    # --- Timers: drift and status ---------------------------------------------------------

    def check_drift(self) -> list[PublishReport]:
        """Compare every applied publish with the cluster; correct and report drift."""
        if self.kube is None or self.sink is not None:
            return []
        reports: list[PublishReport] = []
        for publish_id in sorted(self.applied):
            state = self.applied[publish_id]
            if not state.manifests:
                continue
            changeset, events = check_drift(
                self.kube, state.manifests, publish_id=publish_id,
                field_manager=self.field_manager, may_write=self.may_write,
                concurrency=self.concurrency,
            )
            self._count(changeset, PruneResult())
            self._note_conflicts(changeset)
            for result in changeset.failed:
                self._namespace_gone(result.error)
            self.metrics.drift_events.inc(len(events))
            conditions = [condition for result in changeset.results if result.live is not None
                          for condition in conditions_of(result.live)]
            failed = bool(changeset.failed)
            if not events and not failed and conditions == state.conditions:
                continue
            if events or failed:
                state.objects = changes_from(changeset)
                state.complete = not failed
            state.conditions = conditions
            reports.append(self._report(state, events))
        return reports + self._conflict_reports()

    def refresh_status(self) -> list[PublishReport]:
        """Read conditions again for publishes not fully True yet; report what changed."""
        if self.kube is None:
            return []
        reports: list[PublishReport] = []
        for publish_id in sorted(self.applied):
            state = self.applied[publish_id]
            if not state.watched or all_true(state.conditions):
                continue
            conditions: list[ObjectCondition] = []
            try:
                for key in state.watched:
                    live = self.kube.get(key)
                    if live is not None:
                        conditions += conditions_of(live)
            except KubeError as exc:
                self.metrics.errors.labels(source="kubernetes").inc()
                warn_event("status_read_failed", publish_id=publish_id, status=exc.status,
                          error=exc.message[:200])
                continue
            if conditions != state.conditions:
                state.conditions = conditions
                log_event("status_changed", publish_id=publish_id, revision=state.revision,
                          all_true=all_true(conditions))
                reports.append(self._report(state))
        return reports

    @property
    def watching(self) -> bool:
        """True while some applied publish has conditions that are not all True."""
        return any(state.watched and not all_true(state.conditions)
                   for state in self.applied.values())
