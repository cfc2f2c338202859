"""Lists as clients page and pin them, against kubesim over HTTP.

Every fact asserted here is kube-apiserver's at Kubernetes 1.36 (tags v0.36.3 of
k8s.io/apiserver and k8s.io/apimachinery); each test names the file and function it follows.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid

import pytest

from kubesim import SimCluster
from tests.support.kubeapi import apply, request


@pytest.fixture(scope="module")
def cluster():
    sim = SimCluster()
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def namespace(cluster):
    name = f"l-{uuid.uuid4().hex[:8]}"
    apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    for item in ("a", "b", "c", "d", "e"):
        apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": item, "namespace": name,
                                     "labels": {"odd": str(item in "ace").lower()}}})
    return name


def path(namespace, name=""):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    return f"{base}/{name}" if name else base


def listed(cluster, namespace, **query):
    status, body = request(cluster, "GET", path(namespace), query=query)
    assert status == 200, body
    return [item["metadata"]["name"] for item in body["items"]], body["metadata"]


def token(text):
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def test_limit_and_continue_page_one_consistent_snapshot(cluster, namespace):
    """apiserver pkg/storage/etcd3/store.go ``GetList``: a page of ``limit`` items, a continue
    token (storage/continue.go ``EncodeContinue``: base64url without padding of
    ``{"v":"meta.k8s.io/v1","rv":N,"start":"<next key>\\x00"}``) and ``remainingItemCount``
    (``PrepareContinueToken``, unfiltered lists only); the following pages are read at the
    first page's revision, so writes in between do not show until the list is done."""
    names, metadata = listed(cluster, namespace, limit="2")
    assert names == ["a", "b"]
    assert metadata["remainingItemCount"] == 3
    revision = metadata["resourceVersion"]
    assert token(metadata["continue"]) == {"v": "meta.k8s.io/v1", "rv": int(revision),
                                           "start": "b\x00"}
    assert "=" not in metadata["continue"]
    apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "bb", "namespace": namespace}})
    assert request(cluster, "DELETE", path(namespace, "d"))[0] == 200
    names, second = listed(cluster, namespace, limit="2", **{"continue": metadata["continue"]})
    assert names == ["c", "d"], "the snapshot still has d and not bb"
    assert second["resourceVersion"] == revision
    names, last = listed(cluster, namespace, limit="2", **{"continue": second["continue"]})
    assert names == ["e"]
    assert "continue" not in last and "remainingItemCount" not in last
    assert listed(cluster, namespace)[0] == ["a", "b", "bb", "c", "e"]


def test_a_filtered_page_fills_its_limit_and_counts_nothing(cluster, namespace):
    """store.go ``GetList`` reads on until ``limit`` items match; ``PrepareContinueToken``
    leaves ``remainingItemCount`` out when a selector filters (etcd counts every key)."""
    names, metadata = listed(cluster, namespace, limit="2", labelSelector="odd=true")
    assert names == ["a", "c"]
    assert "remainingItemCount" not in metadata
    assert token(metadata["continue"])["start"] == "c\x00"
    names, last = listed(cluster, namespace, limit="2", labelSelector="odd=true",
                         **{"continue": metadata["continue"]})
    assert names == ["e"] and "continue" not in last


def test_resource_version_zero_is_served_whole(cluster, namespace):
    """apiserver pkg/storage/cacher/cacher.go ``computeListLimit``: a list at
    ``resourceVersion=0`` is served from the watch cache and ignores ``limit``."""
    names, metadata = listed(cluster, namespace, limit="2", resourceVersion="0")
    assert names == ["a", "b", "c", "d", "e"]
    assert "continue" not in metadata


def test_an_exact_list_reads_the_past_until_it_is_compacted(cluster, namespace):
    """store.go ``GetList`` reads etcd at ``resourceVersionMatch=Exact`` (and, legacy, at an
    RV given with a limit: storage/interfaces.go ``ValidateListOptions``); once compacted,
    410 Expired "The resourceVersion for the provided list is too old." and, for a continue
    token, 410 with a token that continues at the latest revision (etcd3/errors.go
    ``interpretListError``, ``handleCompactedErrorForPaging``, rv -1)."""
    names, past = listed(cluster, namespace)
    revision = past["resourceVersion"]
    request(cluster, "DELETE", path(namespace, "a"))
    assert listed(cluster, namespace, resourceVersion=revision,
                  resourceVersionMatch="Exact")[0] == names
    assert listed(cluster, namespace, resourceVersion=revision, limit="10")[0] == names
    assert listed(cluster, namespace, resourceVersion=revision,
                  resourceVersionMatch="NotOlderThan")[0] == ["b", "c", "d", "e"]
    first_page = listed(cluster, namespace, limit="1")[1]
    apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "z", "namespace": namespace}})
    cluster.compact()
    status, body = request(cluster, "GET", path(namespace),
                           query={"resourceVersion": revision, "resourceVersionMatch": "Exact"})
    assert (status, body["reason"]) == (410, "Expired")
    assert body["message"] == "The resourceVersion for the provided list is too old."
    status, body = request(cluster, "GET", path(namespace),
                           query={"limit": "1", "continue": first_page["continue"]})
    assert (status, body["reason"]) == (410, "Expired")
    assert body["message"].startswith("The provided continue parameter is too old")
    assert token(body["metadata"]["continue"])["rv"] == -1
    names, rest = listed(cluster, namespace, limit="10",
                         **{"continue": body["metadata"]["continue"]})
    assert names == ["c", "d", "e", "z"], "the rest, read at the latest revision"
    assert int(rest["resourceVersion"]) == cluster.api.store.revision


def test_not_older_than_waits_for_the_revision_and_exact_refuses_the_future(
        cluster, namespace):
    """pkg/storage/cacher/watch_cache.go ``waitUntilFreshAndBlock``: a list that must be
    NotOlderThan a revision the server has not reached waits up to 3 s (``blockTimeout``),
    then 504 Timeout with a ResourceVersionTooLarge cause (storage/errors.go
    ``NewTooLargeResourceVersionError``); an Exact list of a future revision gets that 504 at
    once (etcd3/store.go ``GetList`` on ``ErrFutureRev``)."""
    current = int(listed(cluster, namespace)[1]["resourceVersion"])
    writer = threading.Timer(0.3, lambda: apply(cluster, {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "late", "namespace": namespace}}))
    writer.start()
    names, metadata = listed(cluster, namespace, resourceVersion=str(current + 1),
                             resourceVersionMatch="NotOlderThan")
    writer.join()
    assert "late" in names and int(metadata["resourceVersion"]) >= current + 1
    status, body = request(cluster, "GET", path(namespace),
                           query={"resourceVersion": str(current + 100),
                                  "resourceVersionMatch": "Exact"})
    assert (status, body["reason"]) == (504, "Timeout")
    assert body["details"]["causes"] == [{"reason": "ResourceVersionTooLarge",
                                          "message": "Too large resource version"}]
    status, body = request(cluster, "GET", path(namespace),
                           query={"resourceVersion": str(current + 100)})
    assert status == 504 and body["details"]["retryAfterSeconds"] == 1


@pytest.mark.parametrize(("query", "status", "message"), [
    ({"resourceVersionMatch": "NotOlderThan"}, 422,
     "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
     "resourceVersion is provided"),
    ({"resourceVersion": "0", "resourceVersionMatch": "Exact"}, 422,
     'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for '
     'resourceVersion "0"'),
    ({"resourceVersion": "1", "resourceVersionMatch": "Newest"}, 422,
     'resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", '
     '"NotOlderThan", ""'),
    ({"sendInitialEvents": "true"}, 422,
     "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"),
    ({"limit": "two"}, 400, 'strconv.ParseInt: parsing "two": invalid syntax'),
    ({"continue": "bm90LWpzb24"}, 400, "invalid continue token: continue key is not valid"),
])
def test_list_options_are_validated(cluster, namespace, query, status, message):
    """apimachinery pkg/apis/meta/internalversion/validation/validation.go
    ``ValidateListOptions`` (422 Invalid ListOptions); query parameter conversion
    (pkg/runtime/conversion.go) and storage/continue.go ``DecodeContinue`` (400)."""
    answer, body = request(cluster, "GET", path(namespace), query=query)
    assert answer == status
    assert message in body["message"]


def test_continue_with_a_resource_version_is_refused(cluster, namespace):
    """storage/interfaces.go ``ValidateListOptions``: "specifying resource version is not
    allowed when using continue" (400)."""
    metadata = listed(cluster, namespace, limit="1")[1]
    status, body = request(cluster, "GET", path(namespace),
                           query={"limit": "1", "continue": metadata["continue"],
                                  "resourceVersion": metadata["resourceVersion"]})
    assert status == 400
    assert body["message"] == "specifying resource version is not allowed when using continue"
