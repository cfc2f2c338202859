"""DELETE of one object and of a collection (k8s.io/apiserver pkg/endpoints/handlers/
delete.go ``DeleteResource`` and ``DeleteCollection``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import errors
from ..decoding import DecodeError, parse_json
from . import rest
from .list import matching
from .negotiation import Output
from .response import list_body, render
from .rest import Request, Response, Target

if TYPE_CHECKING:
    from ..apiserver import APIServer


def _delete_options(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        options, _ = parse_json(request.body)
    except DecodeError as error:
        raise errors.bad_request(f"error decoding DeleteOptions: {error}") from None
    return options if isinstance(options, dict) else {}


def delete(server: APIServer, request: Request, target: Target, output: Output) -> Response:
    resource = target.resource
    options = _delete_options(request)
    dry_run = rest.dry_run(request) or options.get("dryRun") == ["All"]
    with server.store.lock:
        old = server.store.get(resource.storage_key, target.namespace or "", target.name or "")
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
        status, body = server.registry.delete(resource, old, dry_run)
    return render(status, body, output)


def delete_collection(server: APIServer, request: Request, target: Target,
                      output: Output) -> Response:
    resource = target.resource
    if "deletecollection" not in resource.verbs or (resource.namespaced
                                                     and target.namespace is None):
        raise errors.method_not_allowed()
    dry_run = rest.dry_run(request)
    labels, fields, supported = rest.selectors(request.query.get("labelSelector", ""),
                                               request.query.get("fieldSelector", ""),
                                               resource)
    with server.store.lock:
        deleted = []
        for obj in matching(server.store.list(resource.storage_key, target.namespace),
                            labels, fields, supported, resource.from_storage):
            server.registry.delete(resource, obj, dry_run)
            deleted.append(server.registry.versioned(resource, obj))
        metadata = {"resourceVersion": str(server.store.revision)}
    return render(200, list_body(resource, deleted, metadata), output)
