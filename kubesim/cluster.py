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


class SimCluster:
    """A Kubernetes API server for tests and trials, serving the CRDs below ``crd_dir``.

    ``token``: when set, requests must carry ``Authorization: Bearer <token>``; otherwise any
    bearer token (or none) is accepted.
    """

    def __init__(self, crd_dir: str | Path | None = None, *, token: str | None = None,
                 registry: SchemaRegistry | None = None, host: str = "127.0.0.1",
                 bookmark_interval: float = 60.0) -> None:
        if registry is None:
            registry = SchemaRegistry.from_directory(crd_dir) if crd_dir else SchemaRegistry()
        self.api = APIServer(registry, token=token, bookmark_interval=bookmark_interval)
        self.token = token
        self.host = host
        self._server: SimulatedHTTPServer | None = None
        self._thread: threading.Thread | None = None

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
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.api.store.close()
        server.shutdown()
        server.server_close()
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
