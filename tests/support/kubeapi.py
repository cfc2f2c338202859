"""A minimal Kubernetes API client for tests: server-side apply, get and raw requests over
HTTP against a kubesim server (what kubectl apply --server-side sends)."""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
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


class WatchStream:
    """A watch request read event by event (the API server streams JSON lines); a reader
    thread queues them, so waiting for an event that does not come is a plain timeout."""

    _END = object()

    def __init__(self, cluster: SimCluster, path: str, query: dict[str, str],
                 headers: dict[str, str] | None = None) -> None:
        sent = {"Accept": "application/json", **(headers or {})}
        if cluster.token:
            sent["Authorization"] = f"Bearer {cluster.token}"
        host, port = cluster.url.removeprefix("http://").rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)
        self.connection.request("GET", f"{path}?{urlencode(query)}", headers=sent)
        self._socket = self.connection.sock
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self._events: queue.Queue[Any] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for line in iter(self.response.readline, b""):
                if line.strip():
                    self._events.put(json.loads(line))
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass
        finally:
            self._events.put(self._END)

    def next(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """The next event; None when the server ended the stream; TimeoutError when none
        came within ``timeout`` seconds."""
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no watch event within {timeout} s") from None
        if event is self._END:
            self._events.put(self._END)
            return None
        return event

    def take(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        events = []
        for _ in range(count):
            event = self.next(timeout)
            if event is None:
                break
            events.append(event)
        return events

    def close(self) -> None:
        # Shut the socket first: the reader thread holds the response's buffer until its
        # read returns.
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        self._reader.join(timeout=5)
        self.connection.close()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
