"""LIST: a collection, with selectors, pagination and resourceVersion semantics.

k8s.io/apiserver (v0.36.3) pkg/endpoints/handlers/get.go ``ListResource``/``handleList``; what
the answer holds comes from pkg/storage/etcd3/store.go ``GetList`` and pkg/storage/cacher/
cacher.go ``GetList``:

- no resourceVersion: the latest state; ``limit`` pages it, each page's continue token reads
  at the first page's revision;
- ``resourceVersion=0``: any state (the latest here); ``limit`` is ignored
  (``computeListLimit``);
- ``resourceVersion=N`` with ``resourceVersionMatch=NotOlderThan`` (or none and no limit): a
  state at least as new as N, waiting up to 3 s for it (watch_cache.go ``blockTimeout``), then
  504 Too large resource version;
- ``resourceVersion=N`` with ``resourceVersionMatch=Exact`` (or none but a limit: storage
  ``ValidateListOptions``): the state at N; 410 Gone once compacted, 504 if not reached;
- a continue token whose revision was compacted: 410 Gone with a token to go on at the
  latest revision (pkg/storage/etcd3/errors.go ``handleCompactedErrorForPaging``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import errors, listoptions
from ..conversion import Converter, identity
from ..listoptions import EXACT, NOT_OLDER_THAN, ListOptions
from ..selectors import fields_match, labels_match
from ..store import ResourceVersionTooLarge, ResourceVersionTooOld, object_key_text
from . import rest
from .negotiation import Output
from .response import list_body, partial_list, render, table
from .rest import Request, Response, Target

if TYPE_CHECKING:
    from ..apiserver import APIServer

FRESHNESS_WAIT = 3.0  # watch_cache.go blockTimeout
_EXPIRED = "The resourceVersion for the provided list is too old."
_INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


def matching(objects: Iterable[dict[str, Any]], labels: list, fields: list,
             supported: dict, convert: Converter = identity) -> list[dict[str, Any]]:
    """The stored objects that match the selectors (read in the resource's own form)."""
    return [obj for obj in objects
            if labels_match(labels, (obj.get("metadata") or {}).get("labels"))
            and (not fields or fields_match(fields, convert(obj), supported))]


def _relative_key(obj: dict[str, Any], target: Target) -> str:
    """The object's key below the list's prefix, as continue tokens carry it."""
    metadata = obj.get("metadata") or {}
    if target.resource.namespaced and target.namespace is None:
        return object_key_text((metadata.get("namespace", ""), metadata.get("name", "")))
    return metadata.get("name", "")


def wait_until_fresh(server: APIServer, minimum: int) -> None:
    """Wait (at most FRESHNESS_WAIT) until the store reaches ``minimum``; else 504."""
    deadline = time.monotonic() + FRESHNESS_WAIT
    while True:
        current = server.store.revision
        remaining = deadline - time.monotonic()
        if current >= minimum:
            return
        if remaining <= 0 or server.store.closed:
            raise errors.too_large_resource_version(minimum, current, retry_seconds=1)
        server.store.wait(current, remaining)


def list_objects(server: APIServer, request: Request, target: Target, output: Output,
                 options: ListOptions) -> Response:
    resource = target.resource
    labels, fields, supported = rest.selectors(options.label_selector, options.field_selector,
                                               resource)
    version = listoptions.resource_version_number(options.resource_version)
    limit = options.limit if options.limit > 0 else 0
    read_at: int | None = None
    minimum = 0
    start_key = ""
    if options.continue_token:
        start_key, token_revision = listoptions.decode_continue(options.continue_token)
        if options.resource_version not in ("", "0"):
            raise errors.bad_request(
                "specifying resource version is not allowed when using continue")
        read_at = token_revision if token_revision > 0 else None
    elif options.resource_version == "0":
        limit = 0
    elif options.resource_version:
        match = options.resource_version_match
        if match == EXACT or (not match and limit):
            read_at = version
        elif match in ("", NOT_OLDER_THAN):
            minimum = version
    if minimum:
        wait_until_fresh(server, minimum)
    store = server.store
    with store.lock:
        try:
            if read_at is not None:
                objects = store.snapshot(resource.storage_key, read_at, target.namespace,
                                         copy=False)
                revision = read_at
            else:
                objects = store.list(resource.storage_key, target.namespace, copy=False)
                revision = store.revision
        except ResourceVersionTooOld:
            if options.continue_token:
                raise errors.expired(_INCONSISTENT_CONTINUE,
                                     listoptions.encode_continue(start_key, -1)) from None
            raise errors.expired(_EXPIRED) from None
        except ResourceVersionTooLarge as error:
            raise errors.too_large_resource_version(error.requested, error.current) from None
        if start_key:
            objects = [o for o in objects if _relative_key(o, target) >= start_key]
        selected, more = _page(objects, labels, fields, supported, limit,
                               resource.from_storage)
        metadata: dict[str, Any] = {"resourceVersion": str(revision)}
        if more:
            metadata["continue"] = listoptions.encode_continue(
                _relative_key(selected[-1], target) + "\x00", revision)
            if not labels and not fields:
                # Only an unfiltered list can count what is left (PrepareContinueToken).
                metadata["remainingItemCount"] = len(objects) - limit
        items = [server.registry.versioned(resource, o) for o in selected]
    if output.view == "Table":
        body = table(resource, items, output, metadata, request.query.get("includeObject", ""))
    elif output.partial:
        body = partial_list(items, output, metadata)
    else:
        body = list_body(resource, items, metadata)
    return render(200, body, output)


def _page(objects: list[dict[str, Any]], labels: list, fields: list, supported: dict,
          limit: int, convert: Converter) -> tuple[list[dict[str, Any]], bool]:
    """The matching objects, at most ``limit`` (0: all), and whether any key follows."""
    if not limit:
        return matching(objects, labels, fields, supported, convert), False
    selected: list[dict[str, Any]] = []
    for position, obj in enumerate(objects):
        if len(selected) >= limit:
            return selected, True
        if matching((obj,), labels, fields, supported, convert):
            selected.append(obj)
            if len(selected) >= limit:
                return selected, position < len(objects) - 1
    return selected, False
