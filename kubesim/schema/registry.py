"""The registry of kinds a cluster serves: CRDs from YAML plus Kubernetes' own kinds, each
with its compiled schema, validated the way the API server validates a create or update."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import names
from . import fielderrors, objectmeta
from .corekinds import CORE_KINDS
from .fielderrors import FieldError
from .models import CoreKind, object_meta_schema
from .nodes import SchemaCompiler, SchemaNode, UnsupportedRule
from .normalize import Normalizer
from .openapivalidation import BLOCKING_REASONS, RULES_NOT_CHECKED, Validator
from .rules import RuleRunner

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class ResourceType:
    """One group/version/kind as API discovery describes it."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    served: bool
    storage: bool
    printer_columns: tuple[dict, ...]
    subresources: dict
    crd: dict | None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


class _CompiledKind:
    """A kind's schema compiled once, and the server's validation pipeline over it."""

    def __init__(
        self, resource: ResourceType, root: SchemaNode, core: CoreKind | None,
        unsupported: list[UnsupportedRule],
    ) -> None:
        self.resource = resource
        self.root = root
        self.core = core
        self.unsupported = unsupported
        self.name_check = core.name_check if core else names.dns1123_subdomain
        self.has_rules = bool(root.rules) or root.rules_below

    def normalize(self, manifest: dict, *, prune: bool, defaults: bool, strict: bool) -> Normalizer:
        normalizer = Normalizer(prune=prune, defaults=defaults, strict=strict)
        normalizer.result = normalizer.run(self.root, manifest, None)
        if defaults and self.core is not None and self.core.default is not None:
            self.core.default(normalizer.result)
        return normalizer

    def validate(self, manifest: dict, old: dict | None, strict: bool) -> list[FieldError]:
        # The server's order: decode (unknown fields), prune, default, then validate the
        # object: metadata, OpenAPI schema, list-type uniqueness, kind rules, CEL.
        normalized = self.normalize(manifest, prune=True, defaults=True, strict=strict)
        obj = normalized.result
        old_obj = (
            self.normalize(old, prune=True, defaults=True, strict=False).result
            if isinstance(old, dict)
            else None
        )
        errors = list(normalized.errors)
        metadata = obj.get("metadata", {})
        errors.extend(
            objectmeta.validate_object_meta(
                {} if metadata is None else metadata,
                namespaced=self.resource.namespaced,
                name_check=self.name_check,
            )
        )
        validator = Validator(strict=strict)
        validator.check(self.root, obj, None)
        errors.extend(validator.errors)
        errors.extend(validator.list_errors)
        if self.core is not None and self.core.check is not None and not any(
            error.reason == fielderrors.TYPE_INVALID for error in errors
        ):
            # A built-in kind with a wrongly typed field never decodes on a real server, so
            # its semantic checks only ever see well-typed objects.
            errors.extend(self.core.check(obj, old_obj))
        if self.has_rules:
            if any(error.reason in BLOCKING_REASONS for error in errors):
                errors.append(RULES_NOT_CHECKED)
            else:
                runner = RuleRunner()
                runner.run(self.root, obj, old_obj, None)
                errors.extend(runner.errors)
        return errors


def _crd_root_schema(schema: dict) -> dict:
    """A version's openAPIV3Schema with what the server implies at the root: apiVersion and
    kind strings, and ObjectMeta for metadata (keeping the CRD's own name constraints)."""
    properties = dict(schema.get("properties") or {})
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})
    metadata = object_meta_schema()
    crd_metadata = properties.get("metadata") or {}
    meta_properties = dict(metadata["properties"])
    for name, constraints in (crd_metadata.get("properties") or {}).items():
        if name in meta_properties and isinstance(constraints, dict):
            meta_properties[name] = {**meta_properties[name], **constraints}
    properties["metadata"] = {**metadata, "properties": meta_properties}
    return {**schema, "type": "object", "properties": properties}


class SchemaRegistry:
    """Kinds known to a (real or simulated) API server and how to validate their objects.

    Schemas and CEL rules compile on first use of a kind and are cached, so validating many
    objects is cheap; `unsupported_rules()` compiles everything.
    """

    def __init__(self, crds: Iterable[dict] = ()) -> None:
        self._lock = threading.RLock()
        self._crds: dict[str, dict] = {}
        # (apiVersion, kind) -> resource type, and the schema source to compile it from.
        self._types: dict[tuple[str, str], ResourceType] = {}
        self._sources: dict[tuple[str, str], tuple[str, dict | CoreKind]] = {}
        self._compiled: dict[tuple[str, str], _CompiledKind] = {}
        for core in CORE_KINDS:
            resource = ResourceType(
                group=core.group,
                version=core.version,
                kind=core.kind,
                plural=core.plural,
                singular=core.singular,
                namespaced=core.namespaced,
                short_names=core.short_names,
                categories=core.categories,
                served=True,
                storage=True,
                printer_columns=core.printer_columns,
                subresources=core.subresources,
                crd=None,
            )
            self._types[(core.api_version, core.kind)] = resource
            self._sources[(core.api_version, core.kind)] = (core.kind, core)
        for crd in crds:
            self.add_crd(crd)

    @classmethod
    def from_directory(cls, crd_dir: str | Path) -> SchemaRegistry:
        """Every CRD in the YAML files below `crd_dir` (multi-document files too), plus the
        core kinds. Copies under an `experimental/` folder of a CRD already loaded from the
        standard channel are skipped: both define the same CRD."""
        root = Path(crd_dir)
        files = [
            path
            for path in root.rglob("*")
            if path.suffix in (".yaml", ".yml") and path.is_file()
        ]

        def experimental(path: Path) -> bool:
            return "experimental" in path.relative_to(root).parts

        files.sort(key=lambda path: (experimental(path), str(path)))
        registry = cls()
        for path in files:
            for document in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER):
                if not isinstance(document, dict):
                    continue
                if document.get("kind") != "CustomResourceDefinition":
                    continue
                name = document.get("metadata", {}).get("name", "")
                if name in registry._crds and experimental(path):
                    continue
                registry.add_crd(document)
        return registry

    def add_crd(self, crd: dict) -> None:
        """Register (or replace) a CustomResourceDefinition document."""
        spec = crd["spec"]
        names = spec["names"]
        name = crd["metadata"]["name"]
        with self._lock:
            previous = self._crds.get(name)
            if previous is not None:
                for key in [k for k, t in self._types.items() if t.crd is previous]:
                    del self._types[key]
                    self._sources.pop(key, None)
                    self._compiled.pop(key, None)
            self._crds[name] = crd
            for version in spec.get("versions") or ():
                api_version = f"{spec['group']}/{version['name']}"
                resource = ResourceType(
                    group=spec["group"],
                    version=version["name"],
                    kind=names["kind"],
                    plural=names["plural"],
                    singular=names.get("singular") or names["kind"].lower(),
                    namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                    short_names=tuple(names.get("shortNames") or ()),
                    categories=tuple(names.get("categories") or ()),
                    served=bool(version.get("served", True)),
                    storage=bool(version.get("storage", False)),
                    printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                    subresources=dict(version.get("subresources") or {}),
                    crd=crd,
                )
                key = (api_version, names["kind"])
                schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
                if spec.get("preserveUnknownFields"):
                    # Legacy CRDs that opted out of pruning keep every field.
                    schema = {**schema, "x-kubernetes-preserve-unknown-fields": True}
                self._types[key] = resource
                self._sources[key] = (name, schema)
                self._compiled.pop(key, None)

    def crds(self) -> list[dict]:
        return list(self._crds.values())

    def resource_types(self) -> list[ResourceType]:
        """Every served group/version/kind, core kinds included."""
        return [resource for resource in self._types.values() if resource.served]

    def resource_type(self, api_version: str, kind: str) -> ResourceType | None:
        """The kind at that apiVersion, served or not (see `served`)."""
        return self._types.get((api_version, kind))

    def _compiled_kind(self, key: tuple[str, str]) -> _CompiledKind:
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is None:
                crd_name, source = self._sources[key]
                compiler = SchemaCompiler(crd_name)
                if isinstance(source, CoreKind):
                    root = compiler.compile(source.schema())
                    core = source
                else:
                    root = compiler.compile(_crd_root_schema(source))
                    core = None
                compiled = _CompiledKind(self._types[key], root, core, compiler.unsupported)
                self._compiled[key] = compiled
        return compiled

    def _lookup(self, manifest: Any) -> tuple[_CompiledKind | None, list[FieldError]]:
        if not isinstance(manifest, dict):
            kind_name = type(manifest).__name__
            return None, [
                fielderrors.type_invalid(
                    fielderrors.NO_FIELD, kind_name, f"an object must be a JSON object: {kind_name}"
                )
            ]
        api_version = manifest.get("apiVersion")
        kind = manifest.get("kind")
        errors = []
        if not isinstance(api_version, str) or not api_version:
            errors.append(fielderrors.required("apiVersion"))
        if not isinstance(kind, str) or not kind:
            errors.append(fielderrors.required("kind"))
        if errors:
            return None, errors
        resource = self._types.get((api_version, kind))
        if resource is None:
            kinds = sorted(k for (v, k) in self._types if v == api_version)
            if kinds:
                return None, [fielderrors.not_supported("kind", kind, kinds)]
            return None, [
                fielderrors.invalid(
                    "apiVersion",
                    api_version,
                    f'no matches for kind "{kind}" in version "{api_version}"',
                )
            ]
        if not resource.served:
            return None, [
                fielderrors.invalid(
                    "apiVersion",
                    api_version,
                    f'version "{resource.version}" of {resource.plural}.{resource.group} '
                    "is not served",
                )
            ]
        return self._compiled_kind((api_version, kind)), []

    def validate(
        self, manifest: dict, *, old: dict | None = None, strict: bool = True
    ) -> list[FieldError]:
        """Every error the API server would report for creating `manifest` (or updating
        `old` to it). strict=True also reports fields the schema does not know (the server's
        fieldValidation=Strict, reason FieldValueForbidden, message 'unknown field "..."')
        and nulls in non-nullable fields; strict=False ignores them, as the server prunes."""
        compiled, errors = self._lookup(manifest)
        if compiled is None:
            return errors
        return compiled.validate(manifest, old, strict)

    def prune(self, manifest: dict) -> dict:
        """A copy without the fields the schema does not know, as the server stores it."""
        return self._normalized(manifest, prune=True, defaults=False)

    def apply_defaults(self, manifest: dict) -> dict:
        """A copy with schema defaults applied and nulls of non-nullable fields dropped: the
        server's defaulting stage (run `prune` first to mirror it fully)."""
        return self._normalized(manifest, prune=False, defaults=True)

    def _normalized(self, manifest: dict, *, prune: bool, defaults: bool) -> dict:
        compiled, errors = self._lookup(manifest)
        if compiled is None:
            raise ValueError("; ".join(str(error) for error in errors))
        return compiled.normalize(manifest, prune=prune, defaults=defaults, strict=False).result

    def unsupported_rules(self) -> list[UnsupportedRule]:
        """(crd name, json path, rule, why) for every CEL rule that could not be compiled,
        across all versions of all CRDs; compiles every schema."""
        found: list[UnsupportedRule] = []
        for key in list(self._sources):
            found.extend(self._compiled_kind(key).unsupported)
        return found


def validate_manifest(manifest: dict, registry: SchemaRegistry) -> list[FieldError]:
    """`registry.validate(manifest)` with strict checking."""
    return registry.validate(manifest)
