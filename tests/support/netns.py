"""Backends as real hosts: a network namespace joined to the host by a veth pair, with
addresses from 198.18.0.0/15 (the benchmarking range, RFC 2544), and HTTP servers in it.

Kubernetes refuses loopback endpoints, so a gateway under test reaches its backends at the
namespace's address as it would reach pods. Names carry a random suffix so parallel runs do
not clash; everything is removed at the end. Needs root (CI runs as root).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from tests.support.environment import REPO_ROOT, skip_or_fail

TEST_RANGE = ipaddress.ip_network("198.18.0.0/15")
NETNS_ETC = Path("/etc/netns")


def require_netns() -> None:
    """Skip (or fail under IMPGATEWAY_REQUIRE_SERVICES=1) where namespaces cannot be made."""
    if os.geteuid() != 0:
        skip_or_fail("network namespaces need root")
    if shutil.which("ip") is None:
        skip_or_fail("the ip command (iproute2) is not installed")


def _ip(*args: str, namespace: str | None = None) -> None:
    command = ["ip", *args] if namespace is None else ["ip", "netns", "exec", namespace, "ip",
                                                       *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")


def _used_networks() -> list[ipaddress.IPv4Network]:
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                           check=True).stdout
    found = []
    for line in shown.splitlines():
        words = line.split()
        if "inet" in words:
            found.append(ipaddress.ip_interface(words[words.index("inet") + 1]).network)
    return found


@dataclass
class EchoBackend:
    """An HTTP server in a namespace that answers every request with what reached it."""

    name: str
    address: str
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


class NetworkNamespace:
    """``ip netns add`` with a veth pair and a /30 from 198.18.0.0/15: the host side gets the
    first address, the namespace the second."""

    def __init__(self) -> None:
        suffix = secrets.token_hex(4)
        self.name = f"ig-{suffix}"
        self.host_link = f"igh{suffix}"  # interface names: at most 15 characters
        self.namespace_link = f"ign{suffix}"
        self.host_address = ""
        self.address = ""
        self._processes: list[subprocess.Popen] = []
        self._created = False

    def create(self) -> NetworkNamespace:
        used = _used_networks()
        for _ in range(100):
            block = secrets.randbelow(TEST_RANGE.num_addresses // 4)
            network = ipaddress.ip_network((int(TEST_RANGE.network_address) + block * 4, 30))
            if not any(network.overlaps(other) for other in used):
                break
        else:
            raise RuntimeError("no free /30 left in 198.18.0.0/15")
        host, inside = list(network.hosts())
        self.host_address, self.address = str(host), str(inside)
        _ip("netns", "add", self.name)
        self._created = True
        _ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.namespace_link)
        _ip("link", "set", self.namespace_link, "netns", self.name)
        _ip("addr", "add", f"{self.host_address}/30", "dev", self.host_link)
        _ip("link", "set", self.host_link, "up")
        _ip("addr", "add", f"{self.address}/30", "dev", self.namespace_link, namespace=self.name)
        _ip("link", "set", self.namespace_link, "up", namespace=self.name)
        _ip("link", "set", "lo", "up", namespace=self.name)
        return self

    def write_hosts(self, entries: dict[str, str]) -> Path:
        """/etc/netns/NAME/hosts: processes started in the namespace (``ip netns exec``
        bind-mounts it over /etc/hosts) resolve these names to these addresses."""
        directory = NETNS_ETC / self.name
        directory.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost", *(f"{address} {name}" for name, address in
                                          sorted(entries.items()))]
        path = directory / "hosts"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def popen(self, args: list[str], **options: Any) -> subprocess.Popen:
        """Start a process inside the namespace; it is stopped when the namespace goes."""
        process = subprocess.Popen(["ip", "netns", "exec", self.name, *args], **options)
        self._processes.append(process)
        return process

    def echo_backend(self, name: str) -> EchoBackend:
        """Start tests/support/echo_server.py on the namespace's address (a free port)."""
        process = self.popen(
            [sys.executable, str(REPO_ROOT / "tests" / "support" / "echo_server.py"),
             "--bind", self.address, "--name", name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = process.stdout.readline().strip() if process.stdout else ""
        if not line.startswith("listening on "):
            process.kill()
            raise RuntimeError(f"the echo backend did not start: {process.stderr.read()}")
        port = int(line.rsplit(":", 1)[1])
        return EchoBackend(name, self.address, port, process)

    def remove(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self._processes.clear()
        if self._created:
            # Deleting the namespace deletes its end of the veth pair, and with it the peer.
            subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=30)
            subprocess.run(["ip", "link", "delete", self.host_link], capture_output=True,
                           timeout=30)
            self._created = False
        shutil.rmtree(NETNS_ETC / self.name, ignore_errors=True)

    def __enter__(self) -> NetworkNamespace:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.remove()


def echo(backend: EchoBackend, path: str = "/") -> dict[str, Any]:
    """Ask a backend directly (from the host), bypassing any gateway."""
    with urlopen(backend.url + path, timeout=10) as response:  # noqa: S310 - a test URL
        return json.loads(response.read())


@pytest.fixture
def network_namespace() -> Any:
    """A network namespace with a veth pair to the host, removed afterwards (root only)."""
    require_netns()
    namespace = NetworkNamespace().create()
    yield namespace
    namespace.remove()


@pytest.fixture
def echo_backend(network_namespace: NetworkNamespace) -> EchoBackend:
    """An HTTP echo server in ``network_namespace``."""
    return network_namespace.echo_backend("echo")
