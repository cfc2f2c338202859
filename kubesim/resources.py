"""The resources the emulated cluster serves: one per served group/version/kind.

Built from the schema registry (CRDs below the CRD directory plus the built-in kinds); a CRD
object is stored once per group and resource and read under each served version, as a real
API server does for CRDs whose versions share a schema and have no conversion webhook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from .conversion import CONVERTERS, SHARED_STORAGE, Converter, identity
from .coretypes import SCHEMAS as CORE_SCHEMAS
from .mergeschema import TypeNode, build_object_type
from .tables import jsonpath_results

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "finalize": ["update"]}
_CORE_SUBRESOURCES = {"Namespace": ("status", "finalize"), "Service": ("status",),
                      "Node": ("status",)}
# Fields of built-in kinds a field selector may name besides metadata.name and namespace
# (each kind's GetAttrs / field label conversion in k8s.io/kubernetes pkg/registry).
_OBJECT_REFERENCE_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                            "fieldPath")
_FIELD_SELECTORS: dict[tuple[str, str], list[str]] = {
    ("", "Secret"): ["type"],
    ("", "Namespace"): ["status.phase"],
    ("", "Service"): ["spec.clusterIP", "spec.type"],
    ("", "Node"): ["spec.unschedulable"],
    ("", "Event"): [*(f"involvedObject.{f}" for f in _OBJECT_REFERENCE_FIELDS), "reason",
                    "reportingComponent", "type"],
    ("events.k8s.io", "Event"): [*(f"regarding.{f}" for f in _OBJECT_REFERENCE_FIELDS),
                                 "reason", "reportingController", "type"],
}
# Built-in kinds whose registry strategy allows a PUT to create (AllowCreateOnUpdate).
_CREATE_ON_UPDATE = {"Lease", "Endpoints"}


class ResourceTypeLike(Protocol):
    """What the simulated cluster reads from kubesim.schema.ResourceType."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple
    categories: tuple
    served: bool
    storage: bool
    printer_columns: tuple
    subresources: dict
    crd: dict | None


def version_priority(version: str) -> tuple:
    """Sort key for Kubernetes versions: GA before beta before alpha, newer first."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


@dataclass(eq=False)
class Resource:
    """One served resource at one version."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: list[str]
    categories: list[str]
    subresources: tuple[str, ...]
    printer_columns: list[dict[str, Any]]
    custom: bool
    openapi_schema: dict[str, Any]
    selectable_fields: list[str] = field(default_factory=list)
    storage_version: str = ""
    # How the stored form becomes this resource's form and back (see conversion.py).
    to_storage: Converter = identity
    from_storage: Converter = identity

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        return SHARED_STORAGE.get((self.group, self.plural), (self.group, self.plural))

    @property
    def storage_api_version(self) -> str:
        group = self.storage_key[0]
        return f"{group}/{self.storage_version}" if group else self.storage_version

    @property
    def group_resource(self) -> str:
        """``plural.group``, how error messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def tracks_generation(self) -> bool:
        return self.custom or self.kind == "EndpointSlice"

    @property
    def allow_create_on_update(self) -> bool:
        return not self.custom and self.kind in _CREATE_ON_UPDATE

    @property
    def verbs(self) -> list[str]:
        if self.kind == "Namespace":
            return [v for v in VERBS if v != "deletecollection"]
        return list(VERBS)

    def subresource_verbs(self, name: str) -> list[str]:
        return list(_SUBRESOURCE_VERBS.get(name, ["get"]))

    @cached_property
    def type_node(self) -> TypeNode:
        return build_object_type(self.openapi_schema)

    def field_selectors(self) -> dict[str, Any]:
        """Fields a field selector may use, each with how to read it from an object."""
        fields: dict[str, Any] = {
            "metadata.name": lambda o: (o.get("metadata") or {}).get("name"),
        }
        if self.namespaced:
            fields["metadata.namespace"] = lambda o: (o.get("metadata") or {}).get("namespace")
        extra = [] if self.custom else _FIELD_SELECTORS.get((self.group, self.kind), [])
        for path in [*extra, *self.selectable_fields]:
            def read(obj: dict[str, Any], path: str = path) -> Any:
                found = jsonpath_results("." + path.lstrip("."), obj)
                return found[0] if found else None

            fields[path.lstrip(".")] = read
        return fields


class Catalog:
    """All served resources, indexed the ways URLs and manifests name them."""

    def __init__(self, resource_types: list[ResourceTypeLike]) -> None:
        self.resources: list[Resource] = []
        storage_versions: dict[tuple[str, str], str] = {}
        for rt in resource_types:
            if rt.storage and (rt.group, rt.plural) not in SHARED_STORAGE:
                storage_versions[(rt.group, rt.plural)] = rt.version
        for rt in resource_types:
            if not rt.served:
                continue
            resource = _resource_from_type(rt)
            resource.storage_version = storage_versions.get(resource.storage_key, rt.version)
            self.resources.append(resource)
        self._by_path = {(r.group, r.version, r.plural): r for r in self.resources}
        self._by_kind = {(r.group, r.version, r.kind): r for r in self.resources}

    def find(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_path.get((group, version, plural))

    def find_kind(self, api_version: str, kind: str) -> Resource | None:
        group, _, version = api_version.rpartition("/")
        return self._by_kind.get((group, version, kind))

    def versions(self) -> dict[str, list[str]]:
        """Every served group with its versions, preferred version first."""
        groups: dict[str, set[str]] = {}
        for r in self.resources:
            groups.setdefault(r.group, set()).add(r.version)
        return {g: sorted(v, key=version_priority) for g, v in sorted(groups.items())}

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        return sorted(
            (r for r in self.resources if r.group == group and r.version == version),
            key=lambda r: r.plural,
        )


def _resource_from_type(rt: ResourceTypeLike) -> Resource:
    custom = rt.crd is not None
    subresources = set((rt.subresources or {}).keys())
    selectable: list[str] = []
    schema: dict[str, Any] = {}
    if custom:
        for version in rt.crd["spec"].get("versions", []):
            if version.get("name") == rt.version:
                schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
                subresources |= set((version.get("subresources") or {}).keys())
                selectable = [f["jsonPath"] for f in version.get("selectableFields") or []]
        subresources |= set((rt.crd["spec"].get("subresources") or {}).keys())
    else:
        schema = CORE_SCHEMAS.get((rt.group, rt.version, rt.kind), {"type": "object"})
        subresources |= set(_CORE_SUBRESOURCES.get(rt.kind, ()))
    # Only status (and a namespace's finalize) are served; scale needs a controller.
    subresources &= {"status", "finalize"}
    to_storage, from_storage = CONVERTERS.get((rt.group, rt.plural), (identity, identity))
    return Resource(
        to_storage=to_storage,
        from_storage=from_storage,
        group=rt.group,
        version=rt.version,
        kind=rt.kind,
        plural=rt.plural,
        singular=rt.singular or rt.kind.lower(),
        namespaced=rt.namespaced,
        short_names=list(rt.short_names or ()),
        categories=list(rt.categories or ()),
        subresources=tuple(sorted(subresources)),
        printer_columns=[dict(c) for c in rt.printer_columns or ()],
        custom=custom,
        openapi_schema=schema,
        selectable_fields=selectable,
    )
