"""PUT: replace an object or its status (k8s.io/apiserver pkg/endpoints/handlers/update.go).

A PUT to an object that does not exist creates it where the kind allows that (Leases,
Endpoints: AllowCreateOnUpdate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import errors
from . import rest
from .negotiation import Output
from .response import render, view
from .rest import Request, Response, Target

if TYPE_CHECKING:
    from ..apiserver import APIServer


def update(server: APIServer, request: Request, target: Target, output: Output) -> Response:
    resource = target.resource
    registry = server.registry
    body, duplicates = rest.decode_body(request, resource)
    rest.check_type(resource, body)
    rest.check_name(body, target)
    warnings: list[str] = []
    body = registry.decode_stage(resource, body, duplicates, rest.validation_directive(request),
                                 warnings)
    manager = rest.manager(request)
    dry_run = rest.dry_run(request)
    with server.store.lock:
        old = server.store.get(resource.storage_key, target.namespace or "", target.name or "")
        if old is None:
            if target.subresource or not resource.allow_create_on_update:
                raise errors.not_found(resource, target.name or "")
            status, obj = registry.create(resource, target.namespace, body, manager,
                                          dry_run=dry_run)
            return render(status, view(resource, obj, output), output, warnings)
        registry.place(resource, target.namespace, body)
        registry.check_preconditions(resource, old, body)
        live = registry.versioned(resource, old)
        registry.field_manager(resource, target.subresource).update(live, body, manager)
        obj = registry.update(resource, target.subresource, old, body, dry_run)
    return render(200, view(resource, obj, output), output, warnings)
