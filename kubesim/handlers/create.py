"""POST: create an object (k8s.io/apiserver pkg/endpoints/handlers/create.go)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import rest
from .negotiation import Output
from .response import render, view
from .rest import Request, Response, Target

if TYPE_CHECKING:
    from ..apiserver import APIServer


def create(server: APIServer, request: Request, target: Target, output: Output) -> Response:
    resource = target.resource
    body, duplicates = rest.decode_body(request, resource)
    rest.check_type(resource, body)
    warnings: list[str] = []
    body = server.registry.decode_stage(resource, body, duplicates,
                                        rest.validation_directive(request), warnings)
    manager = rest.manager(request)
    dry_run = rest.dry_run(request)
    with server.store.lock:
        status, obj = server.registry.create(resource, target.namespace, body, manager,
                                             dry_run=dry_run)
    return render(status, view(resource, obj, output), output, warnings)
