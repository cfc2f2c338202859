"""Server-side apply: PATCH with ``application/apply-patch+yaml`` (k8s.io/apiserver
pkg/endpoints/handlers/patch.go ``applyPatcher``, the merge itself in ../fieldmanager.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import errors
from ..decoding import DecodeError, parse_apply_body
from ..errors import APIError
from ..fieldmanager import ApplyConflict
from ..typed import TypedValueError
from . import rest
from .negotiation import Output
from .response import render, view
from .rest import Request, Response, Target

if TYPE_CHECKING:
    from ..apiserver import APIServer


def _force(request: Request) -> bool:
    text = request.query.get("force", "false").lower()
    if text not in ("true", "false", "1", "0", ""):
        raise errors.bad_request(f"invalid boolean value for force: {text}")
    return text in ("true", "1")


def apply(server: APIServer, request: Request, target: Target, output: Output) -> Response:
    resource = target.resource
    registry = server.registry
    manager = request.query.get("fieldManager", "")
    if not manager:
        raise rest.patch_options_error("fieldManager", "FieldValueRequired",
                                       "Required value: is required for apply patch")
    rest.check_manager(manager)
    force = _force(request)
    try:
        config, duplicates = parse_apply_body(request.body)
    except DecodeError as error:
        raise errors.bad_request(f"error decoding YAML: {error}") from None
    if not isinstance(config, dict):
        raise errors.bad_request("error decoding YAML: the applied configuration must be an "
                                 "object")
    warnings: list[str] = []
    if duplicates:
        mode = rest.validation_directive(request)
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
            f"the name of the object ({metadata.get('name')}) does not match the name on the "
            f"URL ({target.name})")
    if resource.namespaced and metadata.get("namespace", target.namespace) != target.namespace:
        raise errors.bad_request("the namespace of the provided object does not match the "
                                 "namespace sent on the request")
    dry_run = rest.dry_run(request)
    with server.store.lock:
        old = server.store.get(resource.storage_key, target.namespace or "", target.name or "")
        if old is None and target.subresource:
            raise errors.not_found(resource, target.name or "")
        if old is None and resource.namespaced:
            registry.require_namespace(target.namespace or "")
        live = registry.versioned(resource, old) if old is not None else None
        wanted_version = metadata.get("resourceVersion")
        if wanted_version and (old is None or wanted_version != old["metadata"].get(
                "resourceVersion")):
            raise errors.conflict(resource, target.name or "", errors.STALE)
        try:
            merged = registry.field_manager(resource, target.subresource).apply(
                live, config, manager, force)
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
            status, obj = registry.create(resource, target.namespace, merged, manager,
                                          dry_run=dry_run, managed=True)
            return render(status, view(resource, obj, output), output, warnings)
        obj = registry.update(resource, target.subresource, old, merged, dry_run)
    return render(200, view(resource, obj, output), output, warnings)
