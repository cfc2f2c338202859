"""The agent's Kubernetes API client: the only module that imports `kubernetes`.

It uses the official client for what it does well (kubeconfig and in-cluster credentials,
TLS, token refresh, connection pooling) and speaks plain JSON over it, so the rest of the
agent works with dicts: Server-Side Apply, get, list, delete, create and replace, with paths
found through discovery and cached per group/version. Clients are built by `connect()` at run
time and passed in; nothing is built at import time.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

APPLY_PATCH = "application/apply-patch+yaml"
# Connect and read timeouts of one API request, in seconds.
DEFAULT_TIMEOUT = (5.0, 30.0)


class KubeError(Exception):
    """A failed API request: `status` is the HTTP status, 0 when the server was not reached."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(f"{status} {reason}: {message}" if status else message)

    @property
    def retryable(self) -> bool:
        """Worth another try: unreachable, throttled, timed out or a server-side failure."""
        return self.status == 0 or self.status == 429 or self.status >= 500

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


_MISSING_NAMESPACE = re.compile(r'namespaces "([^"]+)" not found')


def missing_namespace(error: KubeError | str) -> str:
    """The namespace whose absence failed a request (the API server's 404 names it), or ""."""
    text = error.message if isinstance(error, KubeError) else error
    found = _MISSING_NAMESPACE.search(text)
    return found.group(1) if found else ""


class KubeConfigError(Exception):
    """No usable credentials: neither a kubeconfig nor a pod service account."""


@dataclass(frozen=True)
class ResourceType:
    """What discovery says about one kind: its plural and whether it is namespaced."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool


@dataclass(frozen=True)
class ObjectKey:
    """One object's identity: what inventories store and reports name."""

    api_version: str
    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str

    @classmethod
    def of(cls, manifest: dict[str, Any]) -> ObjectKey:
        metadata = manifest.get("metadata") or {}
        return cls(
            manifest["apiVersion"], manifest["kind"], metadata.get("namespace") or "",
            metadata["name"],
        )

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


def connect(kubeconfig: Path | None, *, pool_size: int = 16) -> KubeClient:
    """A client from a kubeconfig file, else the pod's service account, else $KUBECONFIG.

    Raises KubeConfigError naming what was tried.
    """
    configuration = k8s_client.Configuration()
    try:
        if kubeconfig is not None:
            k8s_config.load_kube_config(config_file=str(kubeconfig),
                                        client_configuration=configuration)
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            k8s_config.load_kube_config(client_configuration=configuration)
    except (ConfigException, OSError, TypeError) as exc:
        where = str(kubeconfig) if kubeconfig else "in-cluster service account or $KUBECONFIG"
        raise KubeConfigError(f"no Kubernetes credentials from {where}: {exc}") from None
    # The agent retries itself, per object and with backoff; urllib3 should not hide errors.
    configuration.retries = False
    configuration.connection_pool_maxsize = pool_size
    return KubeClient(k8s_client.ApiClient(configuration))


class KubeClient:
    """JSON requests against one API server through an injected `kubernetes` ApiClient."""

    def __init__(self, api_client: Any, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.api_client = api_client
        self.timeout = timeout
        self._types: dict[tuple[str, str], ResourceType] = {}
        self._discovered: set[str] = set()
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return self.api_client.configuration.host

    def close(self) -> None:
        self.api_client.close()

    # --- Requests -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        """The decoded JSON answer of one request; raises KubeError for anything but 2xx."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            serialized = self.api_client.param_serialize(
                method, path, query_params=list(query or []), header_params=headers,
                body=body, auth_settings=["BearerToken"],
            )
            response = self.api_client.call_api(
                *serialized, _request_timeout=timeout or self.timeout
            )
            data = response.read()
        except ApiException as exc:
            raise KubeError(exc.status or 0, exc.reason or "error", str(exc.body or "")) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError(0, "unreachable", f"{self.host}: {type(exc).__name__}: {exc}") from None
        status = response.status
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        if 200 <= status <= 299:
            return decoded
        reason, message = str(response.reason or ""), data.decode(errors="replace")[:500]
        if isinstance(decoded, dict) and decoded.get("kind") == "Status":
            reason = decoded.get("reason") or reason
            message = decoded.get("message") or message
        raise KubeError(status, reason, message)

    # --- Discovery ------------------------------------------------------------------------

    def server_version(self) -> dict[str, Any]:
        return self.request("GET", "/version")

    def api_groups(self) -> list[str]:
        """Every served group/version: "v1" for the core group, then "<group>/<version>"."""
        versions = ["v1"]
        groups = self.request("GET", "/apis") or {}
        for group in groups.get("groups", []):
            versions.extend(item["groupVersion"] for item in group.get("versions", []))
        return versions

    def resources(self, api_version: str) -> list[dict[str, Any]]:
        """The APIResourceList entries of one group/version (subresources included)."""
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        document = self.request("GET", path) or {}
        return list(document.get("resources", []))

    def resource_type(self, api_version: str, kind: str) -> ResourceType:
        """The plural and scope of a kind; discovery runs once per group/version and again
        when a kind is not known yet (a CRD installed while the agent runs)."""
        key = (api_version, kind)
        with self._lock:
            known = self._types.get(key)
        if known is not None:
            return known
        self._discover(api_version)
        with self._lock:
            known = self._types.get(key)
        if known is None:
            raise KubeError(404, "NotFound", f"the server does not serve {kind} in {api_version}")
        return known

    def _discover(self, api_version: str) -> None:
        try:
            entries = self.resources(api_version)
        except KubeError as exc:
            if exc.not_found:
                entries = []
            else:
                raise
        with self._lock:
            for entry in entries:
                if "/" in entry["name"]:
                    continue
                self._types[(api_version, entry["kind"])] = ResourceType(
                    api_version, entry["kind"], entry["name"], bool(entry.get("namespaced"))
                )
            self._discovered.add(api_version)

    def path(self, api_version: str, kind: str, namespace: str = "", name: str = "") -> str:
        """The REST path of a collection (no name) or of one object."""
        resource = self.resource_type(api_version, kind)
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        parts = [prefix]
        if resource.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(resource.plural)
        if name:
            parts.append(quote(name, safe=""))
        return "/".join(parts)

    # --- Objects --------------------------------------------------------------------------

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        """The live object, or None when it does not exist."""
        try:
            return self.request("GET", self.path(key.api_version, key.kind, key.namespace,
                                                 key.name))
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def apply(
        self, manifest: dict[str, Any], *, field_manager: str, dry_run: bool = False,
        force: bool = True,
    ) -> dict[str, Any]:
        """Server-Side Apply one manifest; with `dry_run`, what it would result in."""
        key = ObjectKey.of(manifest)
        query = [("fieldManager", field_manager), ("force", "true" if force else "false")]
        if dry_run:
            query.append(("dryRun", "All"))
        return self.request(
            "PATCH", self.path(key.api_version, key.kind, key.namespace, key.name),
            query=query, body=manifest, content_type=APPLY_PATCH,
        )

    def delete(self, key: ObjectKey) -> bool:
        """Delete an object (its dependents in the background); False when it was gone."""
        try:
            self.request(
                "DELETE", self.path(key.api_version, key.kind, key.namespace, key.name),
                body={"kind": "DeleteOptions", "apiVersion": "v1",
                      "propagationPolicy": "Background"},
            )
        except KubeError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def list(
        self, api_version: str, kind: str, namespace: str = "", label_selector: str = ""
    ) -> list[dict[str, Any]]:
        """Every object of a kind (in a namespace), following `continue` tokens."""
        return list(self.iterate(api_version, kind, namespace, label_selector))

    def iterate(
        self, api_version: str, kind: str, namespace: str = "", label_selector: str = ""
    ) -> Iterator[dict[str, Any]]:
        token = ""
        while True:
            query = [("limit", "500")]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            page = self.request("GET", self.path(api_version, kind, namespace), query=query) or {}
            for item in page.get("items", []):
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                yield item
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    def create(self, manifest: dict[str, Any], *, field_manager: str) -> dict[str, Any]:
        key = ObjectKey.of(manifest)
        return self.request(
            "POST", self.path(key.api_version, key.kind, key.namespace),
            query=[("fieldManager", field_manager)], body=manifest,
        )

    def replace(self, manifest: dict[str, Any], *, field_manager: str) -> dict[str, Any]:
        """PUT an object; its metadata.resourceVersion makes this a compare-and-swap (409)."""
        key = ObjectKey.of(manifest)
        return self.request(
            "PUT", self.path(key.api_version, key.kind, key.namespace, key.name),
            query=[("fieldManager", field_manager)], body=manifest,
        )
