"""``SimCluster``: the emulated API server in a background thread, with helpers for tests."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any

import yaml

from .apiserver import APIServer
from .schema import SchemaRegistry
from .server import SimulatedHTTPServer

CONTEXT = "kubesim"
COMPACTION_INTERVAL = 300.0  # storagebackend.DefaultCompactInterval


class SimCluster:
    """A Kubernetes API server for tests and trials, serving the CRDs below ``crd_dir``.

    ``token``: when set, requests must carry ``Authorization: Bearer <token>``; otherwise any
    bearer token (or none) is accepted. Other keyword options go to ``APIServer``
    (``bookmark_interval``, ``initial_events_end_bookmark``, ``omit_kinds``).
    """

    def __init__(self, crd_dir: str | Path | None = None, *, token: str | None = None,
                 registry: SchemaRegistry | None = None, host: str = "127.0.0.1",
                 compaction_interval: float = COMPACTION_INTERVAL, **options: Any) -> None:
        if registry is None:
            registry = SchemaRegistry.from_directory(crd_dir) if crd_dir else SchemaRegistry()
        self.api = APIServer(registry, token=token, **options)
        self.token = token
        self.host = host
        self.compaction_interval = compaction_interval
        self._server: SimulatedHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._compactor: threading.Thread | None = None
        self._stopping = threading.Event()

    # lifecycle -----------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port) in a background thread; returns the URL."""
        if self._server is not None:
            return self.url
        self._server = SimulatedHTTPServer((self.host, port), self.api)
        self.api.server_address = f"{self.host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="kubesim", daemon=True,
        )
        self._thread.start()
        self._stopping.clear()
        if self.compaction_interval > 0:
            self._compactor = threading.Thread(target=self._compact_loop, name="kubesim-compactor",
                                               daemon=True)
            self._compactor.start()
        return self.url

    def _compact_loop(self) -> None:
        """kube-apiserver's compactor (k8s.io/apiserver pkg/storage/etcd3/compact.go
        ``runCompactLoop``): every interval, compact to the revision of the previous one, so
        the history of the last interval stays readable."""
        previous = self.api.store.revision
        while not self._stopping.wait(self.compaction_interval):
            current = self.api.store.revision
            self.api.store.compact(previous)
            previous = current

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        if self._compactor is not None:
            self._compactor.join(timeout=5)
            self._compactor = None
        self.api.store.close()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SimCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulated cluster is not serving")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # kubeconfig ----------------------------------------------------------------------------
    def kubeconfig(self, token: str | None = None) -> dict[str, Any]:
        """A kubeconfig for this cluster: context ``kubesim``, a user with a token."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.url}}],
            "users": [{"name": CONTEXT,
                       "user": {"token": token or self.token or secrets.token_hex(16)}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT,
                                                       "namespace": "default"}}],
            "current-context": CONTEXT,
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | Path, token: str | None = None) -> Path:
        target = Path(path)
        target.write_text(yaml.safe_dump(self.kubeconfig(token), sort_keys=False),
                          encoding="utf-8")
        target.chmod(0o600)
        return target

    # test helpers --------------------------------------------------------------------------
    def compact(self, revision: int | None = None) -> int:
        """Compact the history now (to ``revision``, default the current one), as etcd's
        compaction does: older resourceVersions then get 410 Gone."""
        return self.api.store.compact(revision)

    def set_status(self, api_version: str, kind: str, namespace: str | None, name: str,
                   status: dict[str, Any], *, manager: str = "gateway-controller"
                   ) -> dict[str, Any]:
        """Replace an object's status as a controller would (PUT .../status)."""
        resource = self.api.find_resource(api_version, kind)
        return self.api.update_status(resource, namespace or "", name, status, manager)

    def get_object(self, api_version: str, kind: str, namespace: str | None,
                   name: str) -> dict[str, Any] | None:
        resource = self.api.find_resource(api_version, kind)
        return self.api.read(resource, namespace or "", name)

    def objects(self, api_version: str, kind: str,
                namespace: str | None = None) -> list[dict[str, Any]]:
        """Stored objects of a kind (in one namespace, or all), sorted by namespace and name."""
        resource = self.api.find_resource(api_version, kind)
        return self.api.read_all(resource, namespace)
