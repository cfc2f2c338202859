"""Server-side apply and managedFields, as the API server's field manager computes them.

``FieldManager.apply`` merges an applied configuration into the live object, removes what the
applier owned before and no longer applies (unless someone else owns it), reports conflicts
with other managers and records ownership; ``FieldManager.update`` records what a create,
update or patch changed under an ``Update`` entry. The layering (strip of metadata fields,
one ``Update`` entry per manager and API version, a cap of ten ``Update`` entries, the
``before-first-apply`` owner of an object that has none, the kubectl last-applied annotation)
follows k8s.io/apiserver's fieldmanager package.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .fieldpath import FieldSet, Path, path_string
from .jsonvalue import copy_json
from .mergeschema import TypeNode
from .typed import (
    check_applied,
    compare,
    ensure_named_fields_are_members,
    json_equal,
    merge,
    remove_items,
    to_field_set,
)

APPLY = "Apply"
UPDATE = "Update"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
BEFORE_FIRST_APPLY = "before-first-apply"
ANCIENT_CHANGES = "ancient-changes"
MAX_UPDATE_MANAGERS = 10

# Fields no manager ever owns (fieldmanager's stripMetaManager).
STRIPPED = FieldSet.of(
    *(
        (("f", name),)
        for name in ("apiVersion", "kind", "metadata")
    ),
    *(
        (("f", "metadata"), ("f", name))
        for name in (
            "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
            "generation", "managedFields", "resourceVersion",
        )
    ),
)


@dataclass
class ManagerEntry:
    """One entry of metadata.managedFields."""

    manager: str
    operation: str
    api_version: str
    fields: FieldSet
    time: str | None = None
    subresource: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        # Appliers are one entry whatever API version they used; updaters one per version.
        version = "" if self.operation == APPLY else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    def describe(self) -> str:
        """How conflict messages name a manager (fieldmanager's printManager)."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text

    def encode(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time is not None:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = self.fields.to_fields_v1()
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


Managed = dict[tuple[str, str, str, str], ManagerEntry]


class ManagedFieldsError(ValueError):
    """metadata.managedFields could not be read."""


def decode_managed_fields(entries: Any) -> Managed:
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ManagedFieldsError("managedFields must be a list")
    managed: Managed = {}
    for raw in entries:
        if not isinstance(raw, dict):
            raise ManagedFieldsError("managedFields entries must be objects")
        operation = raw.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ManagedFieldsError(f"unsupported operation {operation!r}")
        if raw.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise ManagedFieldsError(f"unsupported fieldsType {raw.get('fieldsType')!r}")
        try:
            fields = FieldSet.from_fields_v1(raw.get("fieldsV1") or {})
        except (ValueError, TypeError, AttributeError) as exc:
            raise ManagedFieldsError(str(exc)) from exc
        entry = ManagerEntry(
            manager=str(raw.get("manager", "")),
            operation=operation,
            api_version=str(raw.get("apiVersion", "")),
            fields=fields,
            time=raw.get("time"),
            subresource=str(raw.get("subresource", "")),
        )
        managed[entry.key] = entry
    return managed


def encode_managed_fields(managed: Managed) -> list[dict[str, Any]]:
    entries = sorted(
        managed.values(),
        key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource),
    )
    return [entry.encode() for entry in entries]


def _is_reset(entries: Any) -> bool:
    """An explicit ``[]`` or ``[{}]`` asks the server to forget all ownership."""
    return isinstance(entries, list) and (not entries or entries == [{}])


@dataclass
class Conflict:
    manager: ManagerEntry
    path: Path


class ApplyConflict(Exception):
    """A non-forced apply would change fields that other managers own."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        super().__init__(self.message())

    def message(self) -> str:
        if len(self.conflicts) == 1:
            c = self.conflicts[0]
            return (
                f"Apply failed with 1 conflict: conflict with {c.manager.describe()}: "
                f"{path_string(c.path)}"
            )
        by_manager: dict[str, list[Path]] = {}
        for c in self.conflicts:
            by_manager.setdefault(c.manager.describe(), []).append(c.path)
        lines: list[str] = []
        for name in sorted(by_manager):
            lines.append(f"conflicts with {name}:")
            lines.extend(f"- {path_string(p)}" for p in by_manager[name])
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[dict[str, str]]:
        return [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {c.manager.describe()}",
                "field": path_string(c.path),
            }
            for c in self.conflicts
        ]


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    body = copy_json(obj)
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return body


class FieldManager:
    """Tracks field ownership for one resource (and subresource) at one API version."""

    def __init__(
        self,
        node: TypeNode,
        api_version: str,
        kind: str,
        *,
        subresource: str = "",
        ignored: FieldSet | None = None,
        now: Callable[[], str],
    ) -> None:
        self.node = node
        self.api_version = api_version
        self.kind = kind
        self.subresource = subresource
        self.ignored = ignored or FieldSet()
        self.now = now

    # Update --------------------------------------------------------------------------------
    def update(self, live: dict[str, Any] | None, new: dict[str, Any], manager: str) -> None:
        """Record in ``new`` (in place) the fields that ``manager`` changed from ``live``."""
        live = live or self._empty_object()
        managed = self._managed_for_update(live, new)
        managed = self._update(
            _without_managed_fields(live), _without_managed_fields(new), managed, manager
        )
        self._set_managed(new, managed)

    def _managed_for_update(self, live: dict[str, Any], new: dict[str, Any]) -> Managed:
        live_entries = (live.get("metadata") or {}).get("managedFields")
        if self.subresource:
            return self._decode_or_empty(live_entries)
        new_entries = (new.get("metadata") or {}).get("managedFields")
        if _is_reset(new_entries):
            return {}
        try:
            managed = decode_managed_fields(new_entries)
        except ManagedFieldsError:
            managed = {}
        # Clients that do not know managedFields must not wipe them by omission.
        return managed or self._decode_or_empty(live_entries)

    @staticmethod
    def _decode_or_empty(entries: Any) -> Managed:
        try:
            return decode_managed_fields(entries)
        except ManagedFieldsError:
            return {}

    def _update(
        self, live: dict[str, Any], new: dict[str, Any], managed: Managed, manager: str
    ) -> Managed:
        comparison = compare(live, new, self.node).exclude(self.ignored)
        changed = comparison.changed()
        # An update takes the fields it changes from everyone else, and what it removes is
        # owned by nobody any more.
        for entry in managed.values():
            entry.fields = entry.fields.difference(changed).difference(comparison.removed)
        operation_fields = changed.recursive_difference(self.ignored).difference(STRIPPED)
        managed = self._strip(managed)
        if not operation_fields.empty():
            entry = ManagerEntry(manager, UPDATE, self.api_version, operation_fields,
                                 subresource=self.subresource)
            previous = managed.get(entry.key)
            if previous is not None:
                entry.fields = entry.fields.union(previous.fields)
            entry.time = self.now()
            managed[entry.key] = entry
        return self._cap_update_managers(managed)

    # Apply ---------------------------------------------------------------------------------
    def apply(
        self, live: dict[str, Any] | None, config: dict[str, Any], manager: str, force: bool
    ) -> dict[str, Any]:
        """Merge ``config`` into ``live`` as ``manager``; the result carries managedFields.

        Raises ApplyConflict, or TypedValueError when the configuration does not fit the
        schema."""
        check_applied(config, self.node)
        creating = live is None
        live = live or self._empty_object()
        managed = self._decode_or_empty((live.get("metadata") or {}).get("managedFields"))
        live_body = _without_managed_fields(live)
        if not managed and not creating:
            managed = self._update(
                self._empty_object(), live_body, managed, BEFORE_FIRST_APPLY
            )
        try:
            result, managed = self._apply(live_body, config, managed, manager, force)
        except ApplyConflict as conflict:
            allowed = self._allowed_by_last_applied(live_body) if manager == "kubectl" else None
            if allowed is None:
                raise
            remaining = [c for c in conflict.conflicts if not allowed.has(c.path)]
            if remaining:
                raise ApplyConflict(remaining) from None
            result, managed = self._apply(live_body, config, managed, manager, True)
        if manager == "kubectl" and LAST_APPLIED in (
            (result.get("metadata") or {}).get("annotations") or {}
        ):
            result = copy_json(result)
            result["metadata"]["annotations"][LAST_APPLIED] = _last_applied_value(config)
        self._set_managed(result, managed)
        return result

    def _apply(
        self,
        live: dict[str, Any],
        config: dict[str, Any],
        managed: Managed,
        manager: str,
        force: bool,
    ) -> tuple[dict[str, Any], Managed]:
        managed = {k: replace(v) for k, v in managed.items()}
        merged = merge(live, config, self.node)
        entry = ManagerEntry(
            manager, APPLY, self.api_version,
            to_field_set(config, self.node).recursive_difference(self.ignored),
            subresource=self.subresource,
        )
        last = managed.get(entry.key)
        if last is not None:
            entry.time = last.time
        managed[entry.key] = entry
        merged = self._prune(merged, managed, entry, last)

        comparison = compare(live, merged, self.node).exclude(self.ignored)
        changed = comparison.changed()
        conflicts: list[Conflict] = []
        for key, other in managed.items():
            if key == entry.key:
                continue
            owned = other.fields.intersection(changed)
            conflicts.extend(Conflict(other, path) for path in owned.paths())
        if conflicts and not force:
            raise ApplyConflict(conflicts)
        for key, other in managed.items():
            if key != entry.key:
                other.fields = other.fields.difference(changed).difference(comparison.removed)
        managed = self._strip(managed)
        if json_equal(live, merged):
            return live, managed
        if entry.key in managed:
            managed[entry.key].time = self.now()
        return merged, managed

    def _prune(
        self, merged: Any, managed: Managed, entry: ManagerEntry, last: ManagerEntry | None
    ) -> Any:
        """Remove what the applier applied last time and no longer applies, unless another
        manager owns it (fieldmanager's prune, addBackOwnedItems, addBackDanglingItems)."""
        if last is None or last.fields.empty():
            return merged
        node = self.node
        last_fields = ensure_named_fields_are_members(last.fields, node)
        pruned = remove_items(merged, last_fields, node)
        owned = FieldSet()
        for other in managed.values():
            owned = owned.union(other.fields)
        merged_set = ensure_named_fields_are_members(to_field_set(merged, node), node)
        pruned_set = ensure_named_fields_are_members(to_field_set(pruned, node), node)
        keep = pruned_set.union(ensure_named_fields_are_members(owned, node))
        pruned = remove_items(merged, merged_set.difference(keep), node)
        pruned_set = ensure_named_fields_are_members(to_field_set(pruned, node), node)
        dangling = merged_set.difference(pruned_set).intersection(last_fields)
        return remove_items(merged, dangling, node)

    def _allowed_by_last_applied(self, live: dict[str, Any]) -> FieldSet | None:
        """kubectl's upgrade from client-side apply: the fields of the last-applied
        annotation that still match the live object may be taken without a conflict."""
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        try:
            last_applied = json.loads(annotations[LAST_APPLIED])
        except (KeyError, ValueError):
            return None
        if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != (
            self.api_version
        ):
            return None
        comparison = compare(last_applied, live, self.node)
        return (
            to_field_set(last_applied, self.node)
            .difference(comparison.modified)
            .difference(comparison.added)
            .difference(comparison.removed)
        )

    # shared --------------------------------------------------------------------------------
    def _empty_object(self) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind}

    @staticmethod
    def _strip(managed: Managed) -> Managed:
        result: Managed = {}
        for key, entry in managed.items():
            entry.fields = entry.fields.difference(STRIPPED)
            if not entry.fields.empty():
                result[key] = entry
        return result

    @staticmethod
    def _cap_update_managers(managed: Managed) -> Managed:
        """Keep at most ten Update entries: fold the oldest into ``ancient-changes``."""
        updates = [e for e in managed.values() if e.operation == UPDATE]
        if len(updates) <= MAX_UPDATE_MANAGERS:
            return managed
        updates.sort(key=lambda e: e.time or "")
        for entry in updates[: len(updates) - MAX_UPDATE_MANAGERS]:
            del managed[entry.key]
            ancient = ManagerEntry(ANCIENT_CHANGES, UPDATE, entry.api_version, entry.fields,
                                   time=entry.time, subresource=entry.subresource)
            previous = managed.get(ancient.key)
            if previous is not None:
                ancient.fields = ancient.fields.union(previous.fields)
            managed[ancient.key] = ancient
        return managed

    @staticmethod
    def _set_managed(obj: dict[str, Any], managed: Managed) -> None:
        metadata = obj.setdefault("metadata", {})
        if managed:
            metadata["managedFields"] = encode_managed_fields(managed)
        else:
            metadata.pop("managedFields", None)


def _last_applied_value(config: dict[str, Any]) -> str:
    body = copy_json(config)
    annotations = (body.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            body["metadata"].pop("annotations")
    return json.dumps(body, separators=(",", ":"), sort_keys=True) + "\n"
