"""The write pipeline every verb ends in: create, update and delete of one object through the
resource's strategy, field manager, validation and the store.

The counterpart of k8s.io/apiserver pkg/registry/generic/registry/store.go (``Create``,
``Update``, ``Delete``) with pkg/registry/rest (``BeforeCreate``, ``BeforeUpdate``,
``BeforeDelete``); the verb handlers decode the request and call these. Callers hold the
store's lock, so read-modify-write sequences are atomic.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime
from secrets import choice
from typing import Any

from . import errors
from .fieldmanager import FieldManager
from .fieldpath import FieldSet
from .jsonvalue import copy_json, json_equal
from .resources import Resource
from .schema import SchemaRegistry, invalid_status
from .store import Store
from .strategy import Allocator, Strategy

BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_METADATA_ORDER = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)
_METADATA_RANK = {name: position for position, name in enumerate(_METADATA_ORDER)}


# UIDs and audit IDs need to be unique, not secret: a seeded generator and plain formatting
# cost a fifth of uuid.uuid4() (18-28 us a call here, a tenth of a no-change apply's time).
_IDS = random.Random(int.from_bytes(os.urandom(16), "big"))  # noqa: S311
_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)
_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48))


def new_uid() -> str:
    """A random version 4 UUID, as metadata.uid and Audit-Id carry."""
    text = "%032x" % (_IDS.getrandbits(128) & _VERSION_MASK | _VERSION_4)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Registry:
    """Create, update and delete for every served resource of one cluster."""

    def __init__(self, schemas: SchemaRegistry, store: Store, namespaces: Resource) -> None:
        self.schemas = schemas
        self.store = store
        self.namespaces = namespaces
        self.allocator = Allocator()

    # the parts of the pipeline ---------------------------------------------------------------
    def strategy(self, resource: Resource) -> Strategy:
        return Strategy(resource, self.allocator, self.schemas.apply_defaults)

    def field_manager(self, resource: Resource, subresource: str) -> FieldManager:
        if subresource == "status":
            ignored = FieldSet.of((("f", "spec"),))
        elif subresource == "finalize" or resource.has_status:
            ignored = FieldSet.of((("f", "status"),))
        else:
            ignored = FieldSet()
        return FieldManager(resource.type_node, resource.api_version, resource.kind,
                            subresource=subresource, ignored=ignored, now=utc_now)

    def validate(self, resource: Resource, obj: dict[str, Any],
                 old: dict[str, Any] | None) -> None:
        problems = self.schemas.validate(obj, old=old, strict=False)
        if problems:
            name = (obj.get("metadata") or {}).get("name", "")
            raise errors.from_status(invalid_status(resource.group, resource.kind, name,
                                                    problems))

    def decode_stage(self, resource: Resource, body: dict[str, Any], duplicates: list[str],
                     mode: str, warnings: list[str]) -> dict[str, Any]:
        """What decoding a request body does: unknown fields dropped (and reported as
        fieldValidation asks), then defaults applied, before any field manager sees it."""
        pruned = self.schemas.prune(body)
        problems = [*duplicates, *(f'unknown field "{p}"' for p in _dropped(body, pruned))]
        if problems and mode == "Strict":
            raise errors.bad_request(
                f"{resource.kind} in version \"{resource.version}\" cannot be handled as a "
                f"{resource.kind}: strict decoding error: " + ", ".join(problems))
        if mode == "Warn":
            warnings.extend(problems)
        return self.schemas.apply_defaults(pruned)

    def place(self, resource: Resource, namespace: str | None, body: dict[str, Any]) -> None:
        """Put the object in the URL's namespace (or none, for cluster-scoped kinds)."""
        metadata = body["metadata"]
        if resource.namespaced:
            if metadata.get("namespace") and metadata["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)

    def require_namespace(self, namespace: str) -> None:
        if self.store.get(self.namespaces.storage_key, "", namespace) is None:
            raise errors.namespace_not_found(namespace)

    @staticmethod
    def check_preconditions(resource: Resource, old: dict[str, Any],
                            new: dict[str, Any]) -> None:
        metadata, old_metadata = new.get("metadata") or {}, old["metadata"]
        wanted = metadata.get("resourceVersion")
        if wanted and wanted != old_metadata.get("resourceVersion"):
            raise errors.conflict(resource, old_metadata["name"], errors.STALE)
        uid = metadata.get("uid")
        if uid and uid != old_metadata.get("uid"):
            raise errors.conflict(
                resource, old_metadata["name"],
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                f"{old_metadata.get('uid')}")

    @staticmethod
    def versioned(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """A copy of the stored object as the requested version shows it (schemas are
        shared), with ObjectMeta's field order as the API server writes it."""
        obj = resource.from_storage(obj)
        ordered: dict[str, Any] = {"apiVersion": resource.api_version, "kind": resource.kind}
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            ordered["metadata"] = dict(sorted(
                metadata.items(), key=lambda item: _METADATA_RANK.get(item[0], 99)))
        ordered.update((k, v) for k, v in obj.items() if k not in ordered)
        return copy_json(ordered)

    @staticmethod
    def storable(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        return {**resource.to_storage(obj), "apiVersion": resource.storage_api_version}

    # create ----------------------------------------------------------------------------------
    def create(self, resource: Resource, namespace: str | None, body: dict[str, Any],
               manager: str, *, dry_run: bool, managed: bool = False) -> tuple[int, dict]:
        metadata = body.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        self.place(resource, namespace, body)
        if resource.namespaced:
            self.require_namespace(metadata.get("namespace", ""))
        if not managed:
            self.field_manager(resource, "").update(None, body, manager)
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = self._generated_name(resource, body)
        # BeforeCreate fills the system fields: a new UID for every create, dry runs too.
        self.strategy(resource).prepare_for_create(body, uid=new_uid(), now=utc_now())
        body["apiVersion"], body["kind"] = resource.api_version, resource.kind
        self.validate(resource, body, None)
        ns, name = body["metadata"].get("namespace", ""), body["metadata"].get("name", "")
        if self.store.get(resource.storage_key, ns, name) is not None:
            raise errors.already_exists(resource, name)
        if dry_run:
            return 201, body
        stored = self.store.write(resource.storage_key, self.storable(resource, body),
                                  created=True)
        return 201, self.versioned(resource, stored)

    def _generated_name(self, resource: Resource, body: dict[str, Any]) -> str:
        metadata = body["metadata"]
        prefix = metadata["generateName"][:58]
        for _ in range(100):
            name = prefix + "".join(choice(_NAME_CHARS) for _ in range(5))
            if self.store.get(resource.storage_key, metadata.get("namespace", ""), name) is None:
                return name
        raise errors.already_exists(resource, prefix)

    # update ----------------------------------------------------------------------------------
    def update(self, resource: Resource, subresource: str, old: dict[str, Any],
               new: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        """The shared end of PUT, PATCH and apply on an existing object."""
        strategy = self.strategy(resource)
        previous = self.versioned(resource, old)
        new["apiVersion"], new["kind"] = resource.api_version, resource.kind
        if subresource == "status":
            strategy.prepare_for_status_update(new, previous)
        elif subresource == "finalize":
            strategy.prepare_for_finalize(new, previous)
        else:
            strategy.prepare_for_update(new, previous)
        new["metadata"]["resourceVersion"] = previous["metadata"].get("resourceVersion")
        unchanged = _same_ignoring_managed_times(new, previous)
        # A custom resource's unchanged values pass validation whatever the schema says now
        # (apiextensions-apiserver pkg/registry/customresource/strategy.go ``ValidateUpdate``,
        # CRDValidationRatcheting): an update that changes nothing has nothing to report.
        if not (unchanged and resource.custom):
            self.validate(resource, new, previous)
        if unchanged:
            # The API server drops writes that would only move managedFields timestamps.
            return previous
        if dry_run:
            return new
        metadata = new["metadata"]
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            self.store.remove(resource.storage_key, metadata.get("namespace", ""),
                              metadata["name"])
            return new
        stored = self.store.write(resource.storage_key, self.storable(resource, new),
                                  created=False)
        return self.versioned(resource, stored)

    # delete ----------------------------------------------------------------------------------
    def delete(self, resource: Resource, old: dict[str, Any],
               dry_run: bool) -> tuple[int, dict[str, Any]]:
        """Delete one object: at once, or, while finalizers remain, by setting
        deletionTimestamp (which bumps a tracked generation: rest.BeforeDelete and
        store.go ``markAsDeleting``)."""
        metadata = old["metadata"]
        name, namespace = metadata["name"], metadata.get("namespace", "")
        obj = self.versioned(resource, old)
        if resource is self.namespaces:
            return self._delete_namespace(resource, obj, dry_run)
        if metadata.get("finalizers"):
            if not metadata.get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = utc_now()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                if obj["metadata"].get("generation", 0) > 0:
                    obj["metadata"]["generation"] += 1
                if not dry_run:
                    stored = self.store.write(resource.storage_key,
                                              self.storable(resource, obj), created=False)
                    obj = self.versioned(resource, stored)
            return 200, obj
        if not dry_run:
            self.store.remove(resource.storage_key, namespace, name)
        details: dict[str, Any] = {"name": name}
        if resource.group:
            details["group"] = resource.group
        details["kind"] = resource.plural
        details["uid"] = metadata.get("uid", "")
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                     "status": "Success", "details": details}

    def _delete_namespace(self, resource: Resource, obj: dict[str, Any],
                          dry_run: bool) -> tuple[int, dict[str, Any]]:
        name = obj["metadata"]["name"]
        if name in PROTECTED_NAMESPACES:
            raise errors.forbidden(resource, name, "this namespace may not be deleted")
        obj["metadata"].setdefault("deletionTimestamp", utc_now())
        obj["status"] = {"phase": "Terminating"}
        if not dry_run:
            # The namespace controller's work, done at once: contents first.
            for key in self.store.storage_keys():
                for item in self.store.list(key, name):
                    self.store.remove(key, name, item["metadata"]["name"])
            self.store.remove(resource.storage_key, "", name)
        return 200, obj


def _dropped(original: Any, pruned: Any, path: str = "") -> list[str]:
    """Paths present in ``original`` but gone from ``pruned``: the unknown fields."""
    found: list[str] = []
    if isinstance(original, dict) and isinstance(pruned, dict):
        for key, value in original.items():
            child = f"{path}.{key}" if path else key
            if key not in pruned:
                found.append(child)
            else:
                found.extend(_dropped(value, pruned[key], child))
    elif isinstance(original, list) and isinstance(pruned, list) and len(original) == len(
            pruned):
        for index, (left, right) in enumerate(zip(original, pruned, strict=True)):
            found.extend(_dropped(left, right, f"{path}[{index}]"))
    return found


def _same_ignoring_managed_times(new: dict[str, Any], old: dict[str, Any]) -> bool:
    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        body = copy_json(obj)
        for entry in (body.get("metadata") or {}).get("managedFields") or []:
            if isinstance(entry, dict):
                entry.pop("time", None)
        return body

    return json_equal(strip(new), strip(old))
