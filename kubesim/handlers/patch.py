"""PATCH with a JSON patch, a merge patch or a strategic merge patch (built-in kinds only);
apply patches go to apply.py (k8s.io/apiserver pkg/endpoints/handlers/patch.go)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import errors
from ..decoding import DecodeError, parse_json
from ..errors import APIError
from ..patch import (
    APPLY_PATCH,
    APPLY_PATCH_CBOR,
    JSON_PATCH,
    MERGE_PATCH,
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from . import rest
from .apply import apply
from .negotiation import Output
from .response import render, view
from .rest import Request, Response, Target

if TYPE_CHECKING:
    from ..apiserver import APIServer


def patch(server: APIServer, request: Request, target: Target, output: Output) -> Response:
    resource = target.resource
    registry = server.registry
    kind = request.content_type
    if kind in (APPLY_PATCH, APPLY_PATCH_CBOR):
        if kind == APPLY_PATCH_CBOR:
            raise errors.unsupported_media_type(rest.patch_types(resource))
        return apply(server, request, target, output)
    if "force" in request.query:
        raise rest.patch_options_error("force", "FieldValueForbidden",
                                       "Forbidden: may not be specified for non-apply patch")
    if kind not in rest.patch_types(resource):
        raise errors.unsupported_media_type(rest.patch_types(resource))
    try:
        document, _ = parse_json(request.body)
    except DecodeError as error:
        raise errors.bad_request(f"error decoding patch: {error}") from None
    manager = rest.manager(request)
    dry_run = rest.dry_run(request)
    with server.store.lock:
        old = server.store.get(resource.storage_key, target.namespace or "", target.name or "")
        if old is None:
            raise errors.not_found(resource, target.name or "")
        live = registry.versioned(resource, old)
        try:
            if kind == MERGE_PATCH:
                if not isinstance(document, dict):
                    raise PatchError("patch must be a JSON object", 400)
                new = merge_patch(live, document)
            elif kind == JSON_PATCH:
                new = json_patch(live, document)
            else:
                new = strategic_merge_patch(live, document, resource.openapi_schema)
        except PatchError as error:
            if error.status == 400:
                raise errors.bad_request(str(error)) from None
            raise APIError(422, "Invalid", str(error)) from None
        if not isinstance(new, dict):
            raise errors.bad_request("the patched object is not a JSON object")
        rest.check_type(resource, new)
        rest.check_name(new, target)
        warnings: list[str] = []
        new = registry.decode_stage(resource, new, [], rest.validation_directive(request),
                                    warnings)
        registry.place(resource, target.namespace, new)
        registry.check_preconditions(resource, old, new)
        registry.field_manager(resource, target.subresource).update(live, new, manager)
        obj = registry.update(resource, target.subresource, old, new, dry_run)
    return render(200, view(resource, obj, output), output, warnings)
