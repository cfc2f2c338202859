"""WATCH: a stream of events, as client-go's reflectors and informers consume it.

k8s.io/apiserver (v0.36.3) pkg/endpoints/handlers/get.go ``handleWatch`` (timeouts),
pkg/storage/cacher/cacher.go ``Watch`` (where a watch starts, the initial-events-end
bookmark), watch_cache.go ``getAllEventsSinceLocked`` (initial events, 410 for a compacted
resourceVersion) and cache_watcher.go (``convertToWatchEvent``: selector transitions turn into
ADDED and DELETED; ``nextBookmarkTime``: a bookmark every minute and one 2 s before the
deadline; ``process``: bookmarks only past the watch's starting resourceVersion):

- ``sendInitialEvents=true`` (the default for a watch from "" or "0", SetListOptionsDefaults):
  ADDED for every object first; with ``allowWatchBookmarks`` a BOOKMARK annotated
  ``k8s.io/initial-events-end: "true"`` closes them (client-go's streaming list waits for it);
  from ``resourceVersion=N`` the store must reach N within 3 s, else an ERROR event (504);
- ``sendInitialEvents=false``: changes after "now" ("" or "0") or after N;
- otherwise (legacy, ``resourceVersion=N``): changes after N, or an ERROR event with 410
  Expired when N was compacted.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .. import errors, listoptions
from ..listoptions import INITIAL_EVENTS_ANNOTATION, ListOptions
from ..selectors import fields_match, labels_match
from ..store import Event, ResourceVersionTooOld
from . import rest
from .list import FRESHNESS_WAIT
from .negotiation import Output
from .response import dumps, partial, table
from .rest import Response, Target

if TYPE_CHECKING:
    from ..apiserver import APIServer

MIN_REQUEST_TIMEOUT = 1800.0  # kube-apiserver --min-request-timeout
_PRE_DEADLINE_BOOKMARK = 2.0


def watch_timeout(options: ListOptions) -> float:
    """``timeoutSeconds``, or a random time between one and two minimum request timeouts."""
    if options.timeout_seconds:
        return float(options.timeout_seconds)
    return MIN_REQUEST_TIMEOUT * (random.random() + 1.0)  # noqa: S311 - spreads reconnections


def watch(server: APIServer, target: Target, output: Output,
          options: ListOptions) -> Response:
    resource = target.resource
    labels, fields, supported = rest.selectors(options.label_selector, options.field_selector,
                                               resource, target.name)
    version = listoptions.resource_version_number(options.resource_version)
    timeout = watch_timeout(options)
    namespace = target.namespace

    def passes(obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        metadata = obj.get("metadata") or {}
        if namespace is not None and metadata.get("namespace") != namespace:
            return False
        return labels_match(labels, metadata.get("labels")) and (
            not fields or fields_match(fields, resource.from_storage(obj), supported))

    first = [True]

    def encode(kind: str, obj: dict[str, Any]) -> bytes:
        body = server.registry.versioned(resource, obj)
        if output.view == "Table":
            body = table(resource, [body], output, {}, columns=first[0])
        elif output.partial:
            body = partial(body, output.view_version)
        first[0] = False
        return dumps({"type": kind, "object": body}) + b"\n"

    def bookmark(revision: int, *, initial_events_end: bool = False) -> bytes:
        metadata: dict[str, Any] = {"resourceVersion": str(revision)}
        if initial_events_end:
            metadata["annotations"] = {INITIAL_EVENTS_ANNOTATION: "true"}
        body = {"kind": resource.kind, "apiVersion": resource.api_version,
                "metadata": metadata}
        return dumps({"type": "BOOKMARK", "object": body}) + b"\n"

    def error_event(error: errors.APIError) -> Iterator[bytes]:
        yield dumps({"type": "ERROR", "object": error.status()}) + b"\n"

    store = server.store
    started = time.monotonic()
    initial: list[dict[str, Any]] = []
    if options.send_initial_events and version > 0:
        deadline = started + FRESHNESS_WAIT
        while store.revision < version and not store.closed and time.monotonic() < deadline:
            store.wait(store.revision, deadline - time.monotonic())
    with store.lock:
        current = store.revision
        if options.send_initial_events:
            if version > current:
                error = errors.too_large_resource_version(version, current, retry_seconds=1)
                return _stream(error_event(error))
            initial = [o for o in store.list(resource.storage_key, namespace, copy=False)
                       if passes(o)]
            start = current
        else:
            # sendInitialEvents=false from "" or "0" starts now; otherwise after N.
            start = version or current
            try:
                store.events_after(start, resource.storage_key)
            except ResourceVersionTooOld as too_old:
                return _stream(error_event(errors.expired(str(too_old))))

    def events() -> Iterator[bytes]:
        deadline = started + timeout
        bookmarks = options.allow_watch_bookmarks
        for obj in initial:
            yield encode("ADDED", obj)
        if options.send_initial_events and bookmarks and server.initial_events_end_bookmark:
            yield bookmark(start, initial_events_end=True)
        next_bookmark = _next_bookmark(time.monotonic(), server.bookmark_interval, deadline)
        last = start
        while not store.closed:
            with store.lock:
                current = store.revision
                try:
                    found = store.events_after(last, resource.storage_key)
                except ResourceVersionTooOld as too_old:
                    yield from error_event(errors.expired(str(too_old)))
                    return
            for event in found:
                chunk = _convert(event, passes, encode)
                if chunk is not None:
                    yield chunk
            last = max(last, current)
            now = time.monotonic()
            if now >= deadline:
                return
            if bookmarks and next_bookmark is not None and now >= next_bookmark:
                if last > start:
                    yield bookmark(last)
                next_bookmark = _next_bookmark(now, server.bookmark_interval, deadline)
            wake = deadline if not bookmarks or next_bookmark is None else min(
                deadline, next_bookmark)
            store.wait(current, max(0.0, min(wake - now, 1.0)))

    return _stream(events())


def _next_bookmark(now: float, interval: float, deadline: float) -> float | None:
    """nextBookmarkTime: one interval on, but not later than 2 s before the deadline; None
    once that moment has passed."""
    moment = min(now + interval, deadline - _PRE_DEADLINE_BOOKMARK)
    return moment if moment >= now else None


def _convert(event: Event, passes: Callable[[dict | None], bool],
             encode: Callable[[str, dict[str, Any]], bytes]) -> bytes | None:
    """convertToWatchEvent: what this watcher sees of a change, given its selectors."""
    now_passes = event.type != "DELETED" and passes(event.object)
    before_passes = passes(event.previous)
    if now_passes:
        return encode("MODIFIED" if before_passes else "ADDED", event.object)
    if before_passes and event.previous is not None:
        # The object left the selection (or was deleted): its last state, at this revision.
        gone = {**event.previous, "metadata": {**event.previous["metadata"],
                                               "resourceVersion": str(event.resource_version)}}
        return encode("DELETED", gone)
    return None


def _stream(chunks: Iterator[bytes]) -> Response:
    return Response(200, content_type="application/json", stream=chunks)
