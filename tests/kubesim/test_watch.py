"""Watches as client-go's informers use them, against kubesim over HTTP.

Every fact asserted here is kube-apiserver's at Kubernetes 1.36 (tags v0.36.3 of
k8s.io/apiserver, k8s.io/apimachinery and k8s.io/client-go); each test names the file and
function it follows.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from kubesim import SimCluster
from tests.support.kubeapi import WatchStream, apply, request

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@pytest.fixture(scope="module")
def cluster():
    sim = SimCluster(bookmark_interval=0.5)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def namespace(cluster):
    name = f"w-{uuid.uuid4().hex[:8]}"
    apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def config_map(cluster, namespace, name, labels=None, data=None):
    return apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": namespace,
                                        "labels": labels or {}},
                           "data": data or {"k": "v"}})


def path(namespace):
    return f"/api/v1/namespaces/{namespace}/configmaps"


def names(events):
    return [(e["type"], e["object"]["metadata"].get("name")) for e in events]


def test_a_streaming_list_sends_every_object_then_the_initial_events_end_bookmark(
        cluster, namespace):
    """client-go tools/cache/reflector.go ``watchList`` asks
    ``watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true``
    and is synced only by a BOOKMARK annotated ``k8s.io/initial-events-end: "true"``
    (``handleAnyWatch``; the key is metav1.InitialEventsAnnotationKey). The server sends the
    current objects as ADDED, then that bookmark at the state's resourceVersion (apiserver
    pkg/storage/cacher/cacher.go ``Watch`` and ``setInitialEventsEndBookmarkIfRequested``;
    cache_watcher.go ``processInterval`` sends it after the initial events and
    ``convertToWatchEvent`` annotates only that first bookmark), then later changes."""
    for name in ("a", "b", "c"):
        config_map(cluster, namespace, name)
    query = {"watch": "1", "sendInitialEvents": "true",
             "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true",
             "timeoutSeconds": "30"}
    with WatchStream(cluster, path(namespace), query) as stream:
        assert stream.status == 200
        initial = stream.take(4)
        assert names(initial) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c"),
                                  ("BOOKMARK", None)]
        bookmark = initial[-1]["object"]
        assert bookmark["kind"] == "ConfigMap" and bookmark["apiVersion"] == "v1"
        assert bookmark["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
        listed = int(bookmark["metadata"]["resourceVersion"])
        assert listed >= max(int(e["object"]["metadata"]["resourceVersion"])
                             for e in initial[:3])
        created = config_map(cluster, namespace, "d")
        event = stream.next()
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "d")
        assert int(created["metadata"]["resourceVersion"]) > listed
        # The periodic bookmarks that follow carry no annotation.
        bookmark = stream.next()
        assert bookmark["type"] == "BOOKMARK"
        assert "annotations" not in bookmark["object"]["metadata"]


def test_a_watch_from_now_starts_with_the_current_state(cluster, namespace):
    """apimachinery pkg/apis/meta/internalversion/defaults.go ``SetListOptionsDefaults``
    (WatchList on in 1.36, apiserver pkg/features/kube_features.go): a watch from "" or "0"
    that sets neither sendInitialEvents nor resourceVersionMatch gets sendInitialEvents=true,
    NotOlderThan; the initial-events-end bookmark then comes only if the client allows
    bookmarks (``isListWatchRequest`` in pkg/endpoints/handlers/get.go)."""
    config_map(cluster, namespace, "a")
    with WatchStream(cluster, path(namespace), {"watch": "true"}) as stream:
        assert names(stream.take(1)) == [("ADDED", "a")]
        config_map(cluster, namespace, "b")
        assert names(stream.take(1)) == [("ADDED", "b")], "no bookmark without asking"
    with WatchStream(cluster, path(namespace),
                     {"watch": "true", "resourceVersion": "0",
                      "allowWatchBookmarks": "true"}) as stream:
        events = stream.take(3)
        assert names(events) == [("ADDED", "a"), ("ADDED", "b"), ("BOOKMARK", None)]
        assert events[-1]["object"]["metadata"]["annotations"][INITIAL_EVENTS_END] == "true"


@pytest.mark.parametrize(("query", "message"), [
    ({"sendInitialEvents": "true"},
     "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
     "resourceVersionMatch to NotOlderThan"),
    ({"resourceVersion": "5", "resourceVersionMatch": "NotOlderThan"},
     "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless "
     "sendInitialEvents is provided"),
    ({"sendInitialEvents": "false", "resourceVersionMatch": "Exact"},
     'resourceVersionMatch: Unsupported value: "Exact": supported values: "NotOlderThan"'),
])
def test_watch_options_are_validated(cluster, namespace, query, message):
    """apimachinery pkg/apis/meta/internalversion/validation/validation.go
    ``validateWatchOptions``: 422 Invalid, kind ListOptions of meta.k8s.io."""
    status, body = request(cluster, "GET", path(namespace), query={"watch": "1", **query})
    assert status == 422
    assert body["reason"] == "Invalid"
    assert body["details"]["kind"] == "ListOptions"
    assert message in body["message"]


def test_a_watch_from_a_resource_version_replays_later_changes_until_compacted(
        cluster, namespace):
    """client-go's reflector re-watches from its last resourceVersion (reflector.go
    ``watch``): the server sends what changed after it (watch_cache.go
    ``getAllEventsSinceLocked``, no initial state for a legacy watch from N), and once that
    history is compacted an ERROR event with 410 Expired, "too old resource version: N (M)",
    which makes the reflector relist (``isExpiredError``)."""
    first = config_map(cluster, namespace, "a")
    since = first["metadata"]["resourceVersion"]
    config_map(cluster, namespace, "a", data={"k": "changed"})
    request(cluster, "DELETE", f"{path(namespace)}/a")
    with WatchStream(cluster, path(namespace), {"watch": "1", "resourceVersion": since}) as s:
        assert names(s.take(2)) == [("MODIFIED", "a"), ("DELETED", "a")]
    compacted = cluster.compact()
    with WatchStream(cluster, path(namespace), {"watch": "1", "resourceVersion": since}) as s:
        assert s.status == 200
        event = s.next()
        assert event["type"] == "ERROR"
        assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
        assert event["object"]["message"] == f"too old resource version: {since} ({compacted})"
        assert s.next() is None, "the stream ends after the error"


def test_selector_watches_see_objects_enter_and_leave_the_selection(cluster, namespace):
    """apiserver pkg/storage/cacher/cache_watcher.go ``convertToWatchEvent``: with a selector,
    an object that starts matching is ADDED, one that stops matching is DELETED (its last
    matching state, at the new resourceVersion), changes outside the selection are not sent."""
    start = config_map(cluster, namespace, "a", labels={"tier": "web"})
    query = {"watch": "1", "labelSelector": "tier=web",
             "resourceVersion": start["metadata"]["resourceVersion"]}
    with WatchStream(cluster, path(namespace), query) as stream:
        config_map(cluster, namespace, "b", labels={"tier": "db"})
        moved = config_map(cluster, namespace, "a", labels={"tier": "db"})
        config_map(cluster, namespace, "b", labels={"tier": "web"})
        events = stream.take(2)
        assert names(events) == [("DELETED", "a"), ("ADDED", "b")]
        assert events[0]["object"]["metadata"]["labels"] == {"tier": "web"}
        assert events[0]["object"]["metadata"]["resourceVersion"] == \
            moved["metadata"]["resourceVersion"]


def test_bookmarks_come_every_interval_once_the_revision_moved(cluster, namespace):
    """apiserver pkg/storage/cacher/cacher.go ``dispatchEvents`` sends bookmarks to watchers
    that allow them (``defaultBookmarkFrequency``, here 0.5 s) at the cache's resourceVersion;
    cache_watcher.go ``process`` sends one only past the watch's start. A watch without
    ``allowWatchBookmarks`` never gets one."""
    start = config_map(cluster, namespace, "a")
    query = {"watch": "1", "resourceVersion": start["metadata"]["resourceVersion"],
             "allowWatchBookmarks": "true"}
    with WatchStream(cluster, path(namespace), query) as stream, \
            WatchStream(cluster, path(namespace), {**query, "allowWatchBookmarks": "false"}) \
            as plain:
        with pytest.raises(TimeoutError):
            stream.next(timeout=1.2)
        # A change elsewhere moves the revision: the next bookmark carries it.
        other = apply(cluster, {"apiVersion": "v1", "kind": "Secret",
                                "metadata": {"name": "s", "namespace": namespace}})
        bookmark = stream.next(timeout=3)
        assert bookmark["type"] == "BOOKMARK"
        assert bookmark["object"]["metadata"]["resourceVersion"] == \
            other["metadata"]["resourceVersion"]
        with pytest.raises(TimeoutError):
            plain.next(timeout=1.2)


def test_a_watch_ends_at_its_timeout_after_a_last_bookmark(namespace):
    """apiserver pkg/endpoints/handlers/get.go ``handleWatch`` ends the watch after
    ``timeoutSeconds``; cache_watcher.go ``nextBookmarkTime`` schedules a bookmark 2 s before
    that deadline, so a reflector can resume from it."""
    sim = SimCluster(bookmark_interval=60)
    sim.start()
    try:
        apply(sim, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        start = config_map(sim, namespace, "a")
        moved = apply(sim, {"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": "s", "namespace": namespace}})
        query = {"watch": "1", "resourceVersion": start["metadata"]["resourceVersion"],
                 "allowWatchBookmarks": "true", "timeoutSeconds": "3"}
        began = time.monotonic()
        with WatchStream(sim, path(namespace), query) as stream:
            bookmark = stream.next(timeout=5)
            assert bookmark["type"] == "BOOKMARK"
            assert bookmark["object"]["metadata"]["resourceVersion"] == \
                moved["metadata"]["resourceVersion"]
            assert 0.5 < time.monotonic() - began < 2.5
            assert stream.next(timeout=5) is None
            assert 2.5 < time.monotonic() - began < 5
    finally:
        sim.stop()


def test_a_streaming_list_from_a_future_resource_version_waits_for_it(cluster, namespace):
    """apiserver pkg/storage/cacher/cacher.go ``waitUntilWatchCacheFreshAndForceAllEvents``
    with watch_cache.go ``waitUntilFreshAndBlock``: up to 3 s (``blockTimeout``) for the
    store to reach the requested resourceVersion, then an ERROR event, 504 "Too large
    resource version" with a ResourceVersionTooLarge cause (storage/errors.go
    ``NewTooLargeResourceVersionError``)."""
    current = int(config_map(cluster, namespace, "a")["metadata"]["resourceVersion"])
    query = {"watch": "1", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
             "resourceVersionMatch": "NotOlderThan", "resourceVersion": str(current + 1)}
    writer = threading.Timer(0.5, lambda: config_map(cluster, namespace, "b"))
    writer.start()
    with WatchStream(cluster, path(namespace), query) as stream:
        assert names(stream.take(3)) == [("ADDED", "a"), ("ADDED", "b"), ("BOOKMARK", None)]
    writer.join()
    far = str(current + 1000)
    with WatchStream(cluster, path(namespace), {**query, "resourceVersion": far}) as stream:
        event = stream.next(timeout=6)
        assert event["type"] == "ERROR"
        assert event["object"]["code"] == 504
        assert event["object"]["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
        assert event["object"]["message"].startswith(f"Timeout: Too large resource version: {far}")
