"""The Kubernetes REST API over the store: routing, verbs and their admission pipeline.

Independent of HTTP: ``APIServer.handle`` takes a ``Request`` and returns a ``Response``; the
HTTP layer (server.py) only moves bytes. Writes run one at a time under the store's lock, so
read-modify-write sequences (resourceVersion checks, apply merges) are atomic.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from secrets import choice
from typing import Any

import yaml

from . import discovery, errors, openapi, protobuf
from .decoding import DecodeError, parse_json, parse_yaml
from .errors import APIError
from .fieldmanager import ApplyConflict, FieldManager
from .fieldpath import FieldSet
from .patch import (
    APPLY_PATCH,
    APPLY_PATCH_CBOR,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from .resources import Catalog, Resource
from .schema import invalid_status
from .selectors import (
    SelectorError,
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)
from .store import ResourceVersionTooOld, Store
from .strategy import Allocator, Strategy
from .tables import table_cells, table_columns
from .typed import TypedValueError, json_equal

logger = logging.getLogger(__name__)

BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_MAX_MANAGER_LENGTH = 128
_DEFAULT_WATCH_SECONDS = 1800
_METADATA_ORDER = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Request:
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterator[bytes] | None = None


@dataclass
class _Target:
    """What a resource URL names."""

    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str
    watch: bool


@dataclass
class _Output:
    """How the client asked to see objects: plain JSON or YAML, or a meta.k8s.io view."""

    media: str = "application/json"
    view: str = ""  # "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
    view_version: str = "v1"


class APIServer:
    """One simulated cluster's API."""

    def __init__(self, registry: Any, *, token: str | None = None,
                 bookmark_interval: float = 60.0) -> None:
        self.registry = registry
        self.bookmark_interval = bookmark_interval
        self.catalog = Catalog(registry.resource_types())
        self.store = Store()
        self.allocator = Allocator()
        self.token = token
        self.server_address = ""
        self._openapi_v2: dict[str, Any] | None = None
        self._openapi_v3: dict[str, tuple[dict[str, Any], str]] | None = None
        namespaces = self.catalog.find("", "v1", "namespaces")
        if namespaces is None:
            raise ValueError("the schema registry does not serve v1 namespaces")
        self.namespaces = namespaces
        for name in BOOTSTRAP_NAMESPACES:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            self._create(self.namespaces, None, body, "kube-apiserver", dry_run=False)

    # entry point ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except APIError as error:
            return self._status_response(error)
        except Exception:
            logger.exception("kubesim: %s %s failed", request.method, request.path)
            return self._status_response(errors.internal("an internal error occurred"))

    def _status_response(self, error: APIError) -> Response:
        return _json_response(error.code, error.status())

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(
            ("/healthz/", "/livez/", "/readyz/")
        ):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return _json_response(200, discovery.KUBERNETES_VERSION)
        if self.token is not None and request.header("authorization") != f"Bearer {self.token}":
            raise errors.unauthorized()
        parts = [p for p in path.split("/") if p]
        if not parts:
            return _json_response(200, {"paths": ["/api", "/api/v1", "/apis", "/healthz",
                                                  "/openapi/v2", "/openapi/v3", "/version"]})
        if parts[0] == "api":
            if len(parts) == 1:
                return self._discovery_root(request, core=True)
            if parts[1] != "v1":
                raise errors.resource_not_found()
            if len(parts) == 2:
                return self._resource_list(request, "", "v1")
            return self._resource_request(request, "", "v1", parts[2:])
        if parts[0] == "apis":
            if len(parts) == 1:
                return self._discovery_root(request, core=False)
            group = parts[1]
            if len(parts) == 2:
                body = discovery.api_group(self.catalog, group)
                if body is None:
                    raise errors.resource_not_found()
                return _json_response(200, body)
            if len(parts) == 3:
                return self._resource_list(request, group, parts[2])
            return self._resource_request(request, group, parts[2], parts[3:])
        if parts[0] == "openapi":
            return self._openapi(request, parts[1:])
        raise errors.resource_not_found()

    # discovery and OpenAPI -----------------------------------------------------------------
    def _discovery_root(self, request: Request, *, core: bool) -> Response:
        accept = request.header("accept")
        for media in (discovery.AGGREGATED_V2, discovery.AGGREGATED_V2BETA1):
            wanted = _media_params(media)
            if any(_media_params(entry) == wanted for entry in accept.split(",")):
                version = wanted["v"]
                body = discovery.aggregated(self.catalog, core=core, version=version)
                return _json_response(200, body, content_type=media)
        if core:
            return _json_response(200, discovery.api_versions(self.server_address))
        return _json_response(200, discovery.api_group_list(self.catalog))

    def _resource_list(self, request: Request, group: str, version: str) -> Response:
        body = discovery.api_resource_list(self.catalog, group, version)
        if body is None:
            raise errors.resource_not_found()
        return _json_response(200, body)

    def _openapi(self, request: Request, parts: list[str]) -> Response:
        if parts == ["v2"]:
            accept = request.header("accept")
            if "protobuf" in accept and "json" not in accept:
                return Response(200, openapi.v2_protobuf(), openapi.PROTOBUF_V2)
            if self._openapi_v2 is None:
                self._openapi_v2 = openapi.v2_document(self.catalog)
            return _json_response(200, self._openapi_v2)
        if not parts or parts[0] != "v3":
            raise errors.resource_not_found()
        documents = self._openapi_documents()
        if len(parts) == 1:
            hashes = {path: digest for path, (_, digest) in documents.items()}
            return _json_response(200, openapi.v3_index(self.catalog, hashes))
        found = documents.get("/".join(parts[1:]))
        if found is None:
            raise errors.resource_not_found()
        headers = [("Etag", f'"{found[1]}"')]
        if request.query.get("hash") == found[1]:
            headers.append(("Cache-Control", "public, immutable"))
        return _json_response(200, found[0], headers=headers)

    def _openapi_documents(self) -> dict[str, tuple[dict[str, Any], str]]:
        if self._openapi_v3 is None:
            documents = {}
            for group, versions in self.catalog.versions().items():
                for version in versions:
                    document = openapi.v3_document(self.catalog, group, version)
                    if document is not None:
                        documents[openapi.group_version_path(group, version)] = (
                            document, openapi.document_hash(document)
                        )
            self._openapi_v3 = documents
        return self._openapi_v3

    # resource URLs -------------------------------------------------------------------------
    def _resource_request(self, request: Request, group: str, version: str,
                          rest: list[str]) -> Response:
        target = self._target(group, version, rest)
        method = request.method
        output = _negotiate(request.header("accept"))
        if target.watch or (method == "GET" and target.name is None
                            and _flag(request.query.get("watch"))):
            if method != "GET":
                raise errors.method_not_allowed()
            return self._watch(request, target, output)
        if method == "GET":
            if target.name is None:
                return self._list(request, target, output)
            return self._get(target, output)
        if method == "POST":
            if target.name is not None or (target.resource.namespaced
                                            and target.namespace is None):
                raise errors.method_not_allowed()
            return self._post(request, target, output)
        if method == "PUT" and target.name is not None:
            return self._put(request, target, output)
        if method == "PATCH" and target.name is not None:
            return self._patch(request, target, output)
        if method == "DELETE":
            if target.name is None:
                return self._delete_collection(request, target, output)
            return self._delete(request, target, output)
        raise errors.method_not_allowed()

    def _target(self, group: str, version: str, rest: list[str]) -> _Target:
        watch = bool(rest) and rest[0] == "watch"
        if watch:
            rest = rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = self.catalog.find(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
            elif group:
                raise errors.resource_not_found()
        if not rest or len(rest) > 3:
            raise errors.resource_not_found()
        resource = self.catalog.find(group, version, rest[0])
        if resource is None:
            raise errors.resource_not_found()
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else ""
        if subresource and subresource not in resource.subresources:
            raise errors.resource_not_found()
        if resource.namespaced and name is not None and namespace is None:
            raise errors.resource_not_found()
        return _Target(resource, namespace, name, subresource, watch)

    # reads ---------------------------------------------------------------------------------
    def _get(self, target: _Target, output: _Output) -> Response:
        stored = self.store.get(target.resource.storage_key, target.namespace or "",
                                target.name or "")
        if stored is None:
            raise errors.not_found(target.resource, target.name or "")
        obj = self._versioned(target.resource, stored)
        if output.view == "Table":
            return self._table_response(target.resource, [obj], output, {})
        if output.view == "PartialObjectMetadata":
            return self._render(200, _partial(obj, output.view_version), output)
        return self._render(200, obj, output)

    def _matching(self, request: Request, resource: Resource,
                  namespace: str | None) -> list[dict[str, Any]]:
        labels, fields, supported = self._selectors(request, resource)
        return [
            obj for obj in self.store.list(resource.storage_key, namespace)
            if labels_match(labels, (obj.get("metadata") or {}).get("labels"))
            and fields_match(fields, obj, supported)
        ]

    def _selectors(self, request: Request, resource: Resource) -> tuple[list, list, dict]:
        supported = resource.field_selectors()
        try:
            labels = parse_label_selector(request.query.get("labelSelector", ""))
            fields = parse_field_selector(request.query.get("fieldSelector", ""), supported)
        except SelectorError as error:
            raise errors.bad_request(str(error)) from None
        return labels, fields, supported

    def _list(self, request: Request, target: _Target, output: _Output) -> Response:
        resource = target.resource
        with self.store.lock:
            revision = self.store.revision
            items = self._matching(request, resource, target.namespace)
        metadata: dict[str, Any] = {"resourceVersion": str(revision)}
        start = request.query.get("continue", "")
        if start:
            try:
                token = json.loads(base64.urlsafe_b64decode(start.encode()))
                after = (token["start"][0], token["start"][1])
            except (ValueError, KeyError, TypeError, IndexError):
                raise errors.bad_request("continue key is not valid: invalid token") from None
            items = [o for o in items if _object_key(o) > after]
        limit = request.query.get("limit", "")
        if limit.isdigit() and 0 < int(limit) < len(items):
            rest = len(items) - int(limit)
            items = items[: int(limit)]
            key = _object_key(items[-1])
            metadata["continue"] = base64.urlsafe_b64encode(
                json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": key}).encode()
            ).decode()
            metadata["remainingItemCount"] = rest
        items = [self._versioned(resource, o) for o in items]
        if output.view == "Table":
            return self._table_response(resource, items, output, metadata,
                                        request.query.get("includeObject", ""))
        if output.view in ("PartialObjectMetadataList", "PartialObjectMetadata"):
            return self._render(200, {
                "kind": "PartialObjectMetadataList",
                "apiVersion": f"meta.k8s.io/{output.view_version}",
                "metadata": metadata,
                "items": [_partial(o, output.view_version) for o in items],
            }, output)
        return self._render(200, self._list_body(resource, items, metadata), output)

    def _list_body(self, resource: Resource, items: list[dict[str, Any]],
                   metadata: dict[str, Any]) -> dict[str, Any]:
        if not resource.custom:
            # Built-in lists are typed: their items carry no kind or apiVersion.
            items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                     for o in items]
        return {"kind": f"{resource.kind}List", "apiVersion": resource.api_version,
                "metadata": metadata, "items": items}

    def _table_response(self, resource: Resource, items: list[dict[str, Any]],
                        output: _Output, metadata: dict[str, Any],
                        include: str = "") -> Response:
        return self._render(200, self._table(resource, items, output, metadata, include),
                            output)

    def _table(self, resource: Resource, items: list[dict[str, Any]], output: _Output,
               metadata: dict[str, Any], include: str = "",
               columns: bool = True) -> dict[str, Any]:
        rows = []
        for obj in items:
            row: dict[str, Any] = {"cells": table_cells(resource.kind, resource.printer_columns,
                                                        resource.custom, obj)}
            if include == "Object":
                row["object"] = obj
            elif include != "None":
                row["object"] = _partial(obj, output.view_version)
            rows.append(row)
        table: dict[str, Any] = {
            "kind": "Table",
            "apiVersion": f"meta.k8s.io/{output.view_version}",
            "metadata": metadata,
            "columnDefinitions": table_columns(resource.kind, resource.printer_columns,
                                               resource.custom) if columns else None,
            "rows": rows,
        }
        return table

    def _watch(self, request: Request, target: _Target, output: _Output) -> Response:
        resource = target.resource
        labels, fields, supported = self._selectors(request, resource)
        if target.name is not None:
            fields = [*fields, *parse_field_selector(f"metadata.name={target.name}", supported)]
        timeout = request.query.get("timeoutSeconds", "")
        seconds = int(timeout) if timeout.isdigit() else _DEFAULT_WATCH_SECONDS
        since = request.query.get("resourceVersion", "")
        if since and not since.isdigit():
            raise errors.bad_request(f"invalid resource version: {since}")

        def matches(obj: dict[str, Any]) -> bool:
            metadata = obj.get("metadata") or {}
            if target.namespace is not None and metadata.get("namespace") != target.namespace:
                return False
            return labels_match(labels, metadata.get("labels")) and fields_match(
                fields, obj, supported)

        with self.store.lock:
            initial: list[dict[str, Any]] = []
            if since in ("", "0"):
                revision = self.store.revision
                initial = [o for o in self.store.list(resource.storage_key, target.namespace)
                           if matches(o)]
            else:
                revision = int(since)
        state = {"first": True}

        def encode(kind: str, obj: dict[str, Any]) -> bytes:
            body = self._versioned(resource, obj)
            if output.view == "Table":
                body = self._table(resource, [body], output, {}, columns=state["first"])
            state["first"] = False
            return json.dumps({"type": kind, "object": body}).encode() + b"\n"

        def events() -> Iterator[bytes]:
            deadline = time.monotonic() + seconds
            last = revision
            for obj in initial:
                yield encode("ADDED", obj)
            while not self.store.closed:
                with self.store.lock:
                    current = self.store.revision
                    try:
                        found = self.store.events_after(last, resource.storage_key)
                    except ResourceVersionTooOld:
                        found = None
                if found is None:
                    error = errors.expired(f"too old resource version: {last} ({current})")
                    yield json.dumps({"type": "ERROR", "object": error.status()}).encode() + b"\n"
                    return
                for event in found:
                    if matches(event.object):
                        yield encode(event.type, event.object)
                last = max(last, current)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self.store.wait(current, min(remaining, 1.0))

        return Response(200, content_type="application/json", stream=events())

    # writes --------------------------------------------------------------------------------
    def _post(self, request: Request, target: _Target, output: _Output) -> Response:
        resource = target.resource
        body, duplicates = self._decode_body(request, resource)
        self._check_type(resource, body)
        warnings: list[str] = []
        body = self._decoded(request, resource, body, duplicates, warnings)
        manager = self._manager(request)
        with self.store.lock:
            status, obj = self._create(resource, target.namespace, body, manager,
                                       dry_run=self._dry_run(request))
        return self._render(status, obj, output, warnings)

    def _create(self, resource: Resource, namespace: str | None, body: dict[str, Any],
                manager: str, *, dry_run: bool, managed: bool = False) -> tuple[int, dict]:
        metadata = body.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        self._place(resource, namespace, body)
        if resource.namespaced:
            self._require_namespace(metadata.get("namespace", ""))
        if not managed:
            self._field_manager(resource, "").update(None, body, manager)
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = self._generated_name(resource, body)
        self._strategy(resource).prepare_for_create(body, uid=str(uuid.uuid4()), now=utc_now())
        body["apiVersion"], body["kind"] = resource.api_version, resource.kind
        self._validate(resource, body, None)
        ns, name = body["metadata"].get("namespace", ""), body["metadata"].get("name", "")
        if self.store.get(resource.storage_key, ns, name) is not None:
            raise errors.already_exists(resource, name)
        if dry_run:
            return 201, body
        stored = self.store.write(resource.storage_key, self._storable(resource, body),
                                  created=True)
        return 201, self._versioned(resource, stored)

    def _generated_name(self, resource: Resource, body: dict[str, Any]) -> str:
        metadata = body["metadata"]
        prefix = metadata["generateName"][:58]
        for _ in range(100):
            name = prefix + "".join(choice(_NAME_CHARS) for _ in range(5))
            if self.store.get(resource.storage_key, metadata.get("namespace", ""), name) is None:
                return name
        raise errors.already_exists(resource, prefix)

    def _put(self, request: Request, target: _Target, output: _Output) -> Response:
        resource = target.resource
        body, duplicates = self._decode_body(request, resource)
        self._check_type(resource, body)
        metadata = body.setdefault("metadata", {})
        if metadata.get("name") != target.name:
            raise errors.bad_request(
                f"the name of the object ({metadata.get('name', '')}) does not match the name "
                f"on the URL ({target.name})")
        warnings: list[str] = []
        body = self._decoded(request, resource, body, duplicates, warnings)
        manager = self._manager(request)
        dry_run = self._dry_run(request)
        with self.store.lock:
            old = self.store.get(resource.storage_key, target.namespace or "", target.name or "")
            if old is None:
                if target.subresource or not resource.allow_create_on_update:
                    raise errors.not_found(resource, target.name or "")
                status, obj = self._create(resource, target.namespace, body, manager,
                                           dry_run=dry_run)
                return self._render(status, obj, output, warnings)
            self._place(resource, target.namespace, body)
            self._check_preconditions(resource, old, body)
            live = self._versioned(resource, old)
            self._field_manager(resource, target.subresource).update(live, body, manager)
            obj = self._update(resource, target.subresource, old, body, dry_run)
        return self._render(200, obj, output, warnings)

    def _patch(self, request: Request, target: _Target, output: _Output) -> Response:
        resource = target.resource
        kind = request.content_type
        if kind in (APPLY_PATCH, APPLY_PATCH_CBOR):
            if kind == APPLY_PATCH_CBOR:
                raise errors.unsupported_media_type(self._patch_types(resource))
            return self._apply(request, target, output)
        if "force" in request.query:
            raise self._patch_options_error("force", "FieldValueForbidden",
                                            "Forbidden: may not be specified for non-apply "
                                            "patch")
        if kind not in self._patch_types(resource):
            raise errors.unsupported_media_type(self._patch_types(resource))
        try:
            patch, _ = parse_json(request.body)
        except DecodeError as error:
            raise errors.bad_request(f"error decoding patch: {error}") from None
        manager = self._manager(request)
        dry_run = self._dry_run(request)
        with self.store.lock:
            old = self.store.get(resource.storage_key, target.namespace or "", target.name or "")
            if old is None:
                raise errors.not_found(resource, target.name or "")
            live = self._versioned(resource, old)
            try:
                if kind == MERGE_PATCH:
                    if not isinstance(patch, dict):
                        raise PatchError("patch must be a JSON object", 400)
                    new = merge_patch(live, patch)
                elif kind == JSON_PATCH:
                    new = json_patch(live, patch)
                else:
                    new = strategic_merge_patch(live, patch, resource.openapi_schema)
            except PatchError as error:
                if error.status == 400:
                    raise errors.bad_request(str(error)) from None
                raise APIError(422, "Invalid", str(error)) from None
            if not isinstance(new, dict):
                raise errors.bad_request("the patched object is not a JSON object")
            self._check_type(resource, new)
            metadata = new.setdefault("metadata", {})
            if metadata.get("name") != target.name:
                raise errors.bad_request(
                    f"the name of the object ({metadata.get('name', '')}) does not match the "
                    f"name on the URL ({target.name})")
            warnings: list[str] = []
            new = self._decoded(request, resource, new, [], warnings)
            self._place(resource, target.namespace, new)
            self._check_preconditions(resource, old, new)
            self._field_manager(resource, target.subresource).update(live, new, manager)
            obj = self._update(resource, target.subresource, old, new, dry_run)
        return self._render(200, obj, output, warnings)

    def _apply(self, request: Request, target: _Target, output: _Output) -> Response:
        resource = target.resource
        manager = request.query.get("fieldManager", "")
        if not manager:
            raise self._patch_options_error("fieldManager", "FieldValueRequired",
                                            "Required value: is required for apply patch")
        self._check_manager(manager)
        force_text = request.query.get("force", "false").lower()
        if force_text not in ("true", "false", "1", "0", ""):
            raise errors.bad_request(f"invalid boolean value for force: {force_text}")
        force = force_text in ("true", "1")
        try:
            config, duplicates = parse_yaml(request.body)
        except DecodeError as error:
            raise errors.bad_request(f"error decoding YAML: {error}") from None
        if not isinstance(config, dict):
            raise errors.bad_request("error decoding YAML: the applied configuration must be "
                                     "an object")
        warnings: list[str] = []
        if duplicates:
            mode = self._validation_directive(request)
            if mode == "Strict":
                raise errors.bad_request(
                    "error strict decoding YAML: error converting YAML to JSON: yaml: "
                    "unmarshal errors:\n  " + "\n  ".join(duplicates))
            if mode == "Warn":
                warnings.extend(duplicates)
        group, _, version = (config.get("apiVersion") or "").rpartition("/")
        if (group, version, config.get("kind")) != (resource.group, resource.version,
                                                    resource.kind):
            raise errors.bad_request(
                f"invalid object type: {group}/{version}, Kind={config.get('kind', '')}")
        metadata = config.get("metadata")
        if metadata is None:
            metadata = config["metadata"] = {}
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        if metadata.get("managedFields") is not None:
            raise errors.bad_request("metadata.managedFields must be nil")
        if metadata.get("name", target.name) != target.name:
            raise errors.bad_request(
                f"the name of the object ({metadata.get('name')}) does not match the name on "
                f"the URL ({target.name})")
        if resource.namespaced and metadata.get("namespace", target.namespace) != \
                target.namespace:
            raise errors.bad_request("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
        dry_run = self._dry_run(request)
        with self.store.lock:
            old = self.store.get(resource.storage_key, target.namespace or "", target.name or "")
            if old is None and target.subresource:
                raise errors.not_found(resource, target.name or "")
            if old is None and resource.namespaced:
                self._require_namespace(target.namespace or "")
            live = self._versioned(resource, old) if old is not None else None
            wanted_version = metadata.get("resourceVersion")
            if wanted_version and (old is None or wanted_version != old["metadata"].get(
                    "resourceVersion")):
                raise errors.conflict(resource, target.name or "", errors.STALE)
            manager_for = self._field_manager(resource, target.subresource)
            try:
                merged = manager_for.apply(live, config, manager, force)
            except ApplyConflict as conflict:
                raise APIError(409, "Conflict", conflict.message(),
                               {"causes": conflict.causes()}) from None
            except TypedValueError as error:
                gvk = f"{resource.api_version if resource.group else '/' + resource.version}"
                raise errors.internal(
                    f"failed to create typed patch object ({target.namespace or ''}/"
                    f"{target.name}; {gvk}, Kind={resource.kind}): {error}") from None
            merged.setdefault("metadata", {})["name"] = target.name
            if old is None:
                status, obj = self._create(resource, target.namespace, merged, manager,
                                           dry_run=dry_run, managed=True)
                return self._render(status, obj, output, warnings)
            obj = self._update(resource, target.subresource, old, merged, dry_run)
        return self._render(200, obj, output, warnings)

    def _update(self, resource: Resource, subresource: str, old: dict[str, Any],
                new: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        """The shared end of PUT, PATCH and apply on an existing object."""
        strategy = self._strategy(resource)
        previous = self._versioned(resource, old)
        new["apiVersion"], new["kind"] = resource.api_version, resource.kind
        if subresource == "status":
            strategy.prepare_for_status_update(new, previous)
        elif subresource == "finalize":
            strategy.prepare_for_finalize(new, previous)
        else:
            strategy.prepare_for_update(new, previous)
        new["metadata"]["resourceVersion"] = previous["metadata"].get("resourceVersion")
        self._validate(resource, new, previous)
        if _same_ignoring_managed_times(new, previous):
            # The API server drops writes that would only move managedFields timestamps.
            return previous
        if dry_run:
            return new
        metadata = new["metadata"]
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            self.store.remove(resource.storage_key, metadata.get("namespace", ""),
                              metadata["name"])
            return new
        stored = self.store.write(resource.storage_key, self._storable(resource, new),
                                  created=False)
        return self._versioned(resource, stored)

    def _delete(self, request: Request, target: _Target, output: _Output) -> Response:
        resource = target.resource
        options = self._delete_options(request)
        dry_run = self._dry_run(request) or options.get("dryRun") == ["All"]
        with self.store.lock:
            old = self.store.get(resource.storage_key, target.namespace or "", target.name or "")
            if old is None:
                raise errors.not_found(resource, target.name or "")
            preconditions = options.get("preconditions") or {}
            metadata = old["metadata"]
            for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = preconditions.get(key)
                if wanted and wanted != metadata.get(key):
                    raise errors.conflict(
                        resource, target.name or "",
                        f"Precondition failed: {label} in precondition: {wanted}, {label} in "
                        f"object meta: {metadata.get(key, '')}")
            status, body = self._delete_object(resource, old, dry_run)
        return self._render(status, body, output)

    def _delete_object(self, resource: Resource, old: dict[str, Any],
                       dry_run: bool) -> tuple[int, dict[str, Any]]:
        metadata = old["metadata"]
        name, namespace = metadata["name"], metadata.get("namespace", "")
        obj = self._versioned(resource, old)
        if resource is self.namespaces or (not resource.custom and resource.kind == "Namespace"):
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
        if metadata.get("finalizers"):
            if not metadata.get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = utc_now()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                if not dry_run:
                    stored = self.store.write(resource.storage_key,
                                              self._storable(resource, obj), created=False)
                    obj = self._versioned(resource, stored)
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

    def _delete_collection(self, request: Request, target: _Target,
                           output: _Output) -> Response:
        resource = target.resource
        if "deletecollection" not in resource.verbs or (resource.namespaced
                                                         and target.namespace is None):
            raise errors.method_not_allowed()
        dry_run = self._dry_run(request)
        with self.store.lock:
            deleted = []
            for obj in self._matching(request, resource, target.namespace):
                self._delete_object(resource, obj, dry_run)
                deleted.append(self._versioned(resource, obj))
            metadata = {"resourceVersion": str(self.store.revision)}
        return self._render(200, self._list_body(resource, deleted, metadata), output)

    # status writes for tests ---------------------------------------------------------------
    def update_status(self, resource: Resource, namespace: str, name: str,
                      status: dict[str, Any], manager: str) -> dict[str, Any]:
        """What a controller's PUT of ``/status`` does; used by SimCluster.set_status."""
        with self.store.lock:
            old = self.store.get(resource.storage_key, namespace, name)
            if old is None:
                raise errors.not_found(resource, name)
            live = self._versioned(resource, old)
            new = copy.deepcopy(live)
            new["status"] = copy.deepcopy(status)
            subresource = "status" if resource.has_status else ""
            self._field_manager(resource, subresource).update(live, new, manager)
            return self._update(resource, subresource, old, new, dry_run=False)

    # pipeline helpers ----------------------------------------------------------------------
    def _strategy(self, resource: Resource) -> Strategy:
        return Strategy(resource, self.allocator, self.registry.apply_defaults)

    def _field_manager(self, resource: Resource, subresource: str) -> FieldManager:
        if subresource == "status":
            ignored = FieldSet.of((("f", "spec"),))
        elif subresource == "finalize":
            ignored = FieldSet.of((("f", "status"),))
        elif resource.has_status:
            ignored = FieldSet.of((("f", "status"),))
        else:
            ignored = FieldSet()
        return FieldManager(resource.type_node, resource.api_version, resource.kind,
                            subresource=subresource, ignored=ignored, now=utc_now)

    def _validate(self, resource: Resource, obj: dict[str, Any],
                  old: dict[str, Any] | None) -> None:
        problems = self.registry.validate(obj, old=old, strict=False)
        if problems:
            name = (obj.get("metadata") or {}).get("name", "")
            raise errors.from_status(invalid_status(resource.group, resource.kind, name,
                                                    problems))

    def _patch_options_error(self, field_name: str, reason: str, message: str) -> APIError:
        return APIError(
            422, "Invalid",
            f'PatchOptions.meta.k8s.io "" is invalid: {field_name}: {message}',
            {"group": "meta.k8s.io", "kind": "PatchOptions",
             "causes": [{"reason": reason, "message": message, "field": field_name}]},
        )

    def _check_type(self, resource: Resource, body: Any) -> None:
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON or YAML object")
        api_version = body.setdefault("apiVersion", resource.api_version)
        kind = body.setdefault("kind", resource.kind)
        if api_version != resource.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({resource.api_version})")
        if kind != resource.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind "
                f"({resource.kind})")

    def _place(self, resource: Resource, namespace: str | None, body: dict[str, Any]) -> None:
        """Put the object in the URL's namespace (or none, for cluster-scoped kinds)."""
        metadata = body["metadata"]
        if resource.namespaced:
            if metadata.get("namespace") and metadata["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match "
                                         "the namespace sent on the request")
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)

    def _require_namespace(self, namespace: str) -> None:
        found = self.store.get(self.namespaces.storage_key, "", namespace)
        if found is None:
            raise errors.namespace_not_found(namespace)

    def _check_preconditions(self, resource: Resource, old: dict[str, Any],
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

    def _decode_body(self, request: Request, resource: Resource) -> tuple[Any, list[str]]:
        kind = request.content_type
        try:
            if kind in ("application/yaml", "application/x-yaml", "text/yaml"):
                return parse_yaml(request.body)
            if kind in ("", "application/json", "*/*"):
                return parse_json(request.body)
            if kind == protobuf.MEDIA_TYPE and not resource.custom:
                return protobuf.decode(request.body), []
        except (DecodeError, protobuf.ProtobufError) as error:
            raise errors.bad_request(f"error decoding request body: {error}") from None
        accepted = ["application/json", "application/yaml"]
        if not resource.custom:
            accepted.append(protobuf.MEDIA_TYPE)
        raise errors.unsupported_media_type(accepted)

    def _validation_directive(self, request: Request) -> str:
        value = request.query.get("fieldValidation", "") or "Warn"
        if value not in ("Ignore", "Warn", "Strict"):
            raise errors.bad_request(f"fieldValidation must be one of Ignore, Warn, Strict: "
                                     f"{value}")
        return value

    def _decoded(self, request: Request, resource: Resource, body: dict[str, Any],
                 duplicates: list[str], warnings: list[str]) -> dict[str, Any]:
        """What decoding a request body does: unknown fields dropped (and reported as
        fieldValidation asks), then defaults applied, before any field manager sees it."""
        mode = self._validation_directive(request)
        pruned = self.registry.prune(body)
        problems = [*duplicates, *(f'unknown field "{p}"' for p in _dropped(body, pruned))]
        if problems and mode == "Strict":
            raise errors.bad_request(
                f"{resource.kind} in version \"{resource.version}\" cannot be handled as a "
                f"{resource.kind}: strict decoding error: " + ", ".join(problems))
        if mode == "Warn":
            warnings.extend(problems)
        return self.registry.apply_defaults(pruned)

    def _dry_run(self, request: Request) -> bool:
        value = request.query.get("dryRun", "")
        if value and value != "All":
            raise errors.bad_request(f"Invalid dry run value: {value}")
        return value == "All"

    def _delete_options(self, request: Request) -> dict[str, Any]:
        if not request.body.strip():
            return {}
        try:
            options, _ = parse_json(request.body)
        except DecodeError as error:
            raise errors.bad_request(f"error decoding DeleteOptions: {error}") from None
        return options if isinstance(options, dict) else {}

    def _manager(self, request: Request) -> str:
        manager = request.query.get("fieldManager", "")
        if not manager:
            # The API server's default: the user agent up to its first "/".
            manager = request.header("user-agent").split("/")[0][:_MAX_MANAGER_LENGTH]
        self._check_manager(manager)
        return manager or "unknown"

    def _check_manager(self, manager: str) -> None:
        if len(manager) > _MAX_MANAGER_LENGTH:
            raise self._patch_options_error(
                "fieldManager", "FieldValueTooLong",
                f"Too long: may not be more than {_MAX_MANAGER_LENGTH} bytes")

    @staticmethod
    def _patch_types(resource: Resource) -> list[str]:
        types = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
        if not resource.custom:
            types.insert(2, STRATEGIC_MERGE_PATCH)
        return types

    def _versioned(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored object as the requested version shows it (schemas are shared)."""
        ordered = {"apiVersion": resource.api_version, "kind": resource.kind}
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            # ObjectMeta's field order, as the API server writes it.
            rank = {name: position for position, name in enumerate(_METADATA_ORDER)}
            ordered["metadata"] = dict(sorted(metadata.items(),
                                              key=lambda item: rank.get(item[0], len(rank))))
        ordered.update((k, v) for k, v in obj.items() if k not in ordered)
        return copy.deepcopy(ordered)

    def _storable(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(obj)
        group = resource.group
        stored["apiVersion"] = f"{group}/{resource.storage_version}" if group else \
            resource.storage_version
        return stored

    def _render(self, status: int, body: dict[str, Any], output: _Output,
                warnings: list[str] | tuple[str, ...] = ()) -> Response:
        headers = [("Warning", f'299 - {json.dumps(w)}') for w in warnings]
        if output.media == "application/yaml":
            text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
            return Response(status, text.encode(), "application/yaml", headers)
        content_type = "application/json"
        if output.view:
            content_type = (f"application/json;as={body.get('kind', output.view)};"
                            f"v={output.view_version};g=meta.k8s.io")
        return _json_response(status, body, content_type=content_type, headers=headers)

    # used by SimCluster --------------------------------------------------------------------
    def find_resource(self, api_version: str, kind: str) -> Resource:
        resource = self.catalog.find_kind(api_version, kind)
        if resource is None:
            raise KeyError(f"{kind} is not served at {api_version}")
        return resource

    def read(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        stored = self.store.get(resource.storage_key, namespace, name)
        return self._versioned(resource, stored) if stored is not None else None

    def read_all(self, resource: Resource, namespace: str | None) -> list[dict[str, Any]]:
        return [self._versioned(resource, o)
                for o in self.store.list(resource.storage_key, namespace)]


# module helpers ----------------------------------------------------------------------------
def _json_response(status: int, body: Any, *, content_type: str = "application/json",
                   headers: list[tuple[str, str]] | None = None) -> Response:
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, payload, content_type, list(headers or []))


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


def _object_key(obj: dict[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return (metadata.get("namespace", ""), metadata.get("name", ""))


def _partial(obj: dict[str, Any], version: str) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
            "metadata": copy.deepcopy(obj.get("metadata") or {})}


def _media_params(entry: str) -> dict[str, str]:
    parts = [p.strip() for p in entry.split(";")]
    params = {"type": parts[0].lower()}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key.strip() != "q":
            params[key.strip()] = value.strip()
    return params


def _negotiate(accept: str) -> _Output:
    """Pick the first acceptable media type in the Accept header, as the server does."""
    if not accept.strip():
        return _Output()
    for entry in accept.split(","):
        params = _media_params(entry)
        media = params["type"]
        view = params.get("as", "")
        if view:
            if (media == "application/json" and params.get("g") == "meta.k8s.io"
                    and params.get("v") in ("v1", "v1beta1")
                    and view in ("Table", "PartialObjectMetadata",
                                 "PartialObjectMetadataList")):
                return _Output("application/json", view, params["v"])
            continue
        if media in ("application/json", "*/*", "application/*"):
            return _Output()
        if media in ("application/yaml", "application/x-yaml"):
            return _Output("application/yaml")
    raise errors.not_acceptable(["application/json", "application/yaml"])


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
        body = copy.deepcopy(obj)
        for entry in (body.get("metadata") or {}).get("managedFields") or []:
            if isinstance(entry, dict):
                entry.pop("time", None)
        return body

    return json_equal(strip(new), strip(old))
