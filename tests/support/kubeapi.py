"""A minimal Kubernetes API client for tests: server-side apply, get and raw requests over
HTTP against a kubesim server (what kubectl apply --server-side sends)."""

from __future__ import annotations

import json
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from kubesim import SimCluster


def resource_path(cluster: SimCluster, api_version: str, kind: str, namespace: str | None,
                  name: str = "") -> str:
    """The URL path of a kind's collection (or of one object when ``name`` is given)."""
    resource = cluster.api.find_resource(api_version, kind)
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    if resource.namespaced:
        base += f"/namespaces/{namespace}"
    base += f"/{resource.plural}"
    return f"{base}/{name}" if name else base


def request(cluster: SimCluster, method: str, path: str, body: Any = None, *,
            query: dict[str, str] | None = None, content_type: str = "application/json",
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request; the status and the decoded JSON answer (errors included)."""
    url = cluster.url + path + (f"?{urlencode(query)}" if query else "")
    data = None if body is None else (body if isinstance(body, bytes) else
                                      json.dumps(body).encode())
    sent = {"Content-Type": content_type, "Accept": "application/json", **(headers or {})}
    if cluster.token:
        sent["Authorization"] = f"Bearer {cluster.token}"
    try:
        with urlopen(Request(url, data=data, method=method, headers=sent),  # noqa: S310
                     timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def apply(cluster: SimCluster, manifest: dict[str, Any], manager: str = "imp-gateway-test"
          ) -> dict[str, Any]:
    """Server-side apply (force) of one manifest; the object as stored."""
    metadata = manifest["metadata"]
    path = resource_path(cluster, manifest["apiVersion"], manifest["kind"],
                         metadata.get("namespace"), metadata["name"])
    status, body = request(cluster, "PATCH", path, manifest,
                           query={"fieldManager": manager, "force": "true"},
                           content_type="application/apply-patch+yaml")
    if status not in (200, 201):
        raise AssertionError(f"apply {manifest['kind']} {metadata['name']}: {status} {body}")
    return body
