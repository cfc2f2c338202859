"""GET of one object (k8s.io/apiserver pkg/endpoints/handlers/get.go ``GetResource``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import errors
from .negotiation import Output
from .response import render, view
from .rest import Response, Target

if TYPE_CHECKING:
    from ..apiserver import APIServer


def get(server: APIServer, target: Target, output: Output) -> Response:
    resource = target.resource
    stored = server.store.get(resource.storage_key, target.namespace or "", target.name or "")
    if stored is None:
        raise errors.not_found(resource, target.name or "")
    obj = server.registry.versioned(resource, stored)
    return render(200, view(resource, obj, output), output)
