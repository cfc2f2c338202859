"""The network namespace fixture: a backend reachable at a 198.18.0.0/15 address, a hosts file
for processes in the namespace, and nothing left behind."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from urllib.request import Request, urlopen

from tests.support.netns import NETNS_ETC, TEST_RANGE, NetworkNamespace, require_netns


def test_an_echo_backend_answers_from_its_namespace_with_what_reached_it(echo_backend):
    assert ipaddress.ip_address(echo_backend.address) in TEST_RANGE
    request = Request(f"{echo_backend.url}/orders/7?page=2", data=b"{}", method="POST",
                      headers={"X-Trace": "abc", "Content-Type": "application/json"})
    with urlopen(request, timeout=10) as response:  # noqa: S310 - the test's namespace
        answer = json.loads(response.read())
        assert response.headers["X-Echo-Backend"] == "echo"
    assert answer["method"] == "POST" and answer["path"] == "/orders/7"
    assert answer["query"] == "page=2" and answer["body"] == "{}"
    assert answer["headers"]["X-Trace"] == "abc"


def test_a_hosts_file_names_backends_inside_the_namespace_and_everything_goes_afterwards():
    require_netns()
    namespace = NetworkNamespace().create()
    try:
        namespace.write_hosts({"orders.backend.test": namespace.address})
        resolve = namespace.popen(
            [sys.executable, "-c",
             "import socket; print(socket.gethostbyname('orders.backend.test'))"],
            stdout=subprocess.PIPE, text=True)
        assert resolve.communicate(timeout=30)[0].strip() == namespace.address
    finally:
        namespace.remove()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert namespace.name not in listed
    links = subprocess.run(["ip", "link", "show"], capture_output=True, text=True).stdout
    assert namespace.host_link not in links
    assert not (NETNS_ETC / namespace.name).exists()
