"""The Kubernetes REST API over the store: routing to discovery, OpenAPI and the verb
handlers (handlers/, one module per verb as in k8s.io/apiserver pkg/endpoints/handlers).

Independent of HTTP: ``APIServer.handle`` takes a ``Request`` and returns a ``Response``; the
HTTP layer (server.py) only moves bytes. Writes run one at a time under the store's lock, so
read-modify-write sequences (resourceVersion checks, apply merges) are atomic.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from . import discovery, errors, listoptions, openapi
from .errors import APIError
from .genericregistry import BOOTSTRAP_NAMESPACES, Registry
from .handlers.create import create
from .handlers.delete import delete, delete_collection
from .handlers.get import get
from .handlers.list import list_objects
from .handlers.negotiation import media_params, negotiate
from .handlers.patch import patch
from .handlers.response import json_response
from .handlers.rest import Request, Response, Target
from .handlers.update import update
from .handlers.watch import watch
from .jsonvalue import copy_json
from .resources import Catalog, Resource
from .schema import SchemaRegistry
from .store import Store

logger = logging.getLogger(__name__)

KUBERNETES_SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "kubernetes", "namespace": "default",
                 "labels": {"component": "apiserver", "provider": "kubernetes"}},
    "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1",
             "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
}

__all__ = ["APIServer", "Request", "Response"]


class APIServer:
    """One emulated cluster's API.

    ``bookmark_interval``: seconds between the bookmarks of a watch that allows them (the
    cacher's ``defaultBookmarkFrequency``, one minute).

    Two switches take a fidelity away, for tests that prove a client depends on it:
    ``initial_events_end_bookmark=False`` ends streaming lists without their closing bookmark
    (as API servers before 1.27 and the first simcluster did); ``omit_kinds`` leaves
    (apiVersion, kind) pairs unserved, e.g. ``{("v1", "Node")}``.
    """

    def __init__(self, schemas: SchemaRegistry, *, token: str | None = None,
                 bookmark_interval: float = 60.0, initial_events_end_bookmark: bool = True,
                 omit_kinds: Iterable[tuple[str, str]] = ()) -> None:
        self.schemas = schemas
        omitted = set(omit_kinds)
        self.catalog = Catalog([rt for rt in schemas.resource_types()
                                if (rt.api_version, rt.kind) not in omitted])
        self.store = Store()
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.initial_events_end_bookmark = initial_events_end_bookmark
        self.server_address = ""
        self._openapi_v2: dict[str, Any] | None = None
        self._openapi_v3: dict[str, tuple[dict[str, Any], str]] | None = None
        namespaces = self.catalog.find("", "v1", "namespaces")
        if namespaces is None:
            raise ValueError("the schema registry does not serve v1 namespaces")
        self.registry = Registry(schemas, self.store, namespaces)
        for name in BOOTSTRAP_NAMESPACES:
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            self.registry.create(namespaces, None, body, "kube-apiserver", dry_run=False)
        services = self.catalog.find("", "v1", "services")
        if services is not None:
            # Every cluster has it (the API server's own Service, first IP of the range).
            self.registry.create(services, "default", KUBERNETES_SERVICE, "kube-apiserver",
                                 dry_run=False)

    # entry point ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        try:
            return self._route(request)
        except APIError as error:
            return json_response(error.code, error.status())
        except Exception:
            logger.exception("kubesim: %s %s failed", request.method, request.path)
            error = errors.internal("an internal error occurred")
            return json_response(error.code, error.status())

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(
            ("/healthz/", "/livez/", "/readyz/")
        ):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return json_response(200, discovery.KUBERNETES_VERSION)
        if self.token is not None and request.header("authorization") != f"Bearer {self.token}":
            raise errors.unauthorized()
        parts = [p for p in path.split("/") if p]
        if not parts:
            return json_response(200, {"paths": ["/api", "/api/v1", "/apis", "/healthz",
                                                 "/openapi/v2", "/openapi/v3", "/version"]})
        if parts[0] == "api":
            if len(parts) == 1:
                return self._discovery_root(request, core=True)
            if parts[1] != "v1":
                raise errors.resource_not_found()
            if len(parts) == 2:
                return self._resource_list("", "v1")
            return self._resource_request(request, "", "v1", parts[2:])
        if parts[0] == "apis":
            if len(parts) == 1:
                return self._discovery_root(request, core=False)
            group = parts[1]
            if len(parts) == 2:
                body = discovery.api_group(self.catalog, group)
                if body is None:
                    raise errors.resource_not_found()
                return json_response(200, body)
            if len(parts) == 3:
                return self._resource_list(group, parts[2])
            return self._resource_request(request, group, parts[2], parts[3:])
        if parts[0] == "openapi":
            return self._openapi(request, parts[1:])
        raise errors.resource_not_found()

    # discovery and OpenAPI -----------------------------------------------------------------
    def _discovery_root(self, request: Request, *, core: bool) -> Response:
        accept = request.header("accept")
        for media in (discovery.AGGREGATED_V2, discovery.AGGREGATED_V2BETA1):
            wanted = media_params(media)
            if any(media_params(entry) == wanted for entry in accept.split(",")):
                body = discovery.aggregated(self.catalog, core=core, version=wanted["v"])
                return json_response(200, body, content_type=media)
        if core:
            return json_response(200, discovery.api_versions(self.server_address))
        return json_response(200, discovery.api_group_list(self.catalog))

    def _resource_list(self, group: str, version: str) -> Response:
        body = discovery.api_resource_list(self.catalog, group, version)
        if body is None:
            raise errors.resource_not_found()
        return json_response(200, body)

    def _openapi(self, request: Request, parts: list[str]) -> Response:
        if parts == ["v2"]:
            accept = request.header("accept")
            if "protobuf" in accept and "json" not in accept:
                return Response(200, openapi.v2_protobuf(), openapi.PROTOBUF_V2)
            if self._openapi_v2 is None:
                self._openapi_v2 = openapi.v2_document(self.catalog)
            return json_response(200, self._openapi_v2)
        if not parts or parts[0] != "v3":
            raise errors.resource_not_found()
        documents = self._openapi_documents()
        if len(parts) == 1:
            hashes = {path: digest for path, (_, digest) in documents.items()}
            return json_response(200, openapi.v3_index(self.catalog, hashes))
        found = documents.get("/".join(parts[1:]))
        if found is None:
            raise errors.resource_not_found()
        headers = [("Etag", f'"{found[1]}"')]
        if request.query.get("hash") == found[1]:
            headers.append(("Cache-Control", "public, immutable"))
        return json_response(200, found[0], headers=headers)

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
        output = negotiate(request.header("accept"))
        if method == "GET" and (target.watch or target.name is None):
            options = listoptions.parse(request.query, watch=target.watch)
            if options.watch:
                return watch(self, target, output, options)
            return list_objects(self, request, target, output, options)
        if target.watch:
            raise errors.method_not_allowed()
        if method == "GET":
            return get(self, target, output)
        if method == "POST":
            if target.name is not None or (target.resource.namespaced
                                           and target.namespace is None):
                raise errors.method_not_allowed()
            return create(self, request, target, output)
        if method == "PUT" and target.name is not None:
            return update(self, request, target, output)
        if method == "PATCH" and target.name is not None:
            return patch(self, request, target, output)
        if method == "DELETE":
            if target.name is None:
                return delete_collection(self, request, target, output)
            return delete(self, request, target, output)
        raise errors.method_not_allowed()

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        watch_path = bool(rest) and rest[0] == "watch"
        if watch_path:
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
        return Target(resource, namespace, name, subresource, watch_path)

    # used by SimCluster --------------------------------------------------------------------
    def find_resource(self, api_version: str, kind: str) -> Resource:
        resource = self.catalog.find_kind(api_version, kind)
        if resource is None:
            raise KeyError(f"{kind} is not served at {api_version}")
        return resource

    def read(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        stored = self.store.get(resource.storage_key, namespace, name)
        return self.registry.versioned(resource, stored) if stored is not None else None

    def read_all(self, resource: Resource, namespace: str | None) -> list[dict[str, Any]]:
        return [self.registry.versioned(resource, o)
                for o in self.store.list(resource.storage_key, namespace, copy=False)]

    def update_status(self, resource: Resource, namespace: str, name: str,
                      status: dict[str, Any], manager: str) -> dict[str, Any]:
        """What a controller's PUT of ``/status`` does; used by SimCluster.set_status."""
        with self.store.lock:
            old = self.store.get(resource.storage_key, namespace, name)
            if old is None:
                raise errors.not_found(resource, name)
            live = self.registry.versioned(resource, old)
            new = copy_json(live)
            new["status"] = copy_json(status)
            subresource = "status" if resource.has_status else ""
            self.registry.field_manager(resource, subresource).update(live, new, manager)
            return self.registry.update(resource, subresource, old, new, dry_run=False)
