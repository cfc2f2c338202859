"""Benchmark: kubesim serving what the agent and a gateway controller ask of it, over HTTP.

Run: `.venv/bin/python bench/kubesim.py [--objects 1000] [--command "..."]`
Starts `python -m kubesim` with the real CRDs (../shared/crds or $IMPGATEWAY_CRD_DIR) as a
process (or any `--command` that prints "... serving on URL", e.g. an older tree's server, to
compare), then times with one keep-alive connection:
- create: server-side apply of N HTTPRoutes (the agent's fresh apply);
- no-change: GET plus a dry-run apply of each, unchanged (the agent's no-change pass);
- list: all of them in pages of 500;
- streaming list: a client-go style watch (sendInitialEvents) until its initial-events-end
  bookmark (an informer's sync), when the server supports it.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parent.parent
ROUTES = "/apis/gateway.networking.k8s.io/v1/namespaces/bench/httproutes"


def crd_dir() -> Path:
    return Path(os.environ.get("IMPGATEWAY_CRD_DIR") or REPO_ROOT.parent / "shared" / "crds")


def route(index: int) -> dict:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": f"route-{index}", "namespace": "bench",
                         "labels": {"app.kubernetes.io/managed-by": "imp-gateway"}},
            "spec": {"parentRefs": [{"name": "edge"}], "hostnames": [f"h{index}.example.com"],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix",
                                                      "value": f"/v{index}"}}],
                                "backendRefs": [{"name": "svc", "port": 8080}]}]}}


class Client:
    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def call(self, method: str, path: str, body: dict | None = None,
             query: dict | None = None, content_type: str = "application/json") -> dict:
        target = path + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        self.connection.request(method, target, body=data, headers={
            "Content-Type": content_type, "Accept": "application/json",
            "Authorization": "Bearer bench"})
        response = self.connection.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise SystemExit(f"{method} {target}: {response.status} {payload[:300]!r}")
        return json.loads(payload)

    def apply(self, obj: dict, *, dry_run: bool = False) -> dict:
        query = {"fieldManager": "imp-gateway-agent", "force": "true"}
        if dry_run:
            query["dryRun"] = "All"
        return self.call("PATCH", f"{ROUTES}/{obj['metadata']['name']}", obj, query,
                         "application/apply-patch+yaml")


def start(command: list[str]) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline().strip() if process.stdout else ""
    if " serving on " not in line:
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1]


def timed(action, count: int) -> list[float]:
    samples = []
    for index in range(count):
        began = time.perf_counter()
        action(index)
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(f"{name:<14} {len(samples):>6} x  p50 {statistics.median(samples):7.2f} ms  "
          f"p95 {p95:7.2f} ms  total {sum(samples) / 1000:6.2f} s")


def streaming_list(url: str, count: int) -> float | None:
    """Seconds from the request to the initial-events-end bookmark; None if none came."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    query = urlencode({"watch": "1", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
                       "resourceVersionMatch": "NotOlderThan", "timeoutSeconds": "30"})
    began = time.perf_counter()
    connection.request("GET", f"{ROUTES}?{query}", headers={"Accept": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        return None
    seen = 0
    try:
        for line in iter(response.readline, b""):
            event = json.loads(line)
            if event["type"] == "ADDED":
                seen += 1
            elif event["type"] == "BOOKMARK" and (event["object"]["metadata"].get(
                    "annotations") or {}).get("k8s.io/initial-events-end") == "true":
                return time.perf_counter() - began if seen == count else None
            if seen == count and event["type"] == "ADDED":
                # Servers without the bookmark stop here: the client would wait forever.
                connection.sock.settimeout(2)
    except (TimeoutError, OSError):
        return None
    finally:
        connection.close()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--command", help="the server to start (default: python -m kubesim)")
    options = parser.parse_args()
    command = shlex.split(options.command) if options.command else [
        sys.executable, "-m", "kubesim", "--port", "0", "--crds", str(crd_dir())]
    process, url = start(command)
    try:
        client = Client(url)
        client.call("PATCH", "/api/v1/namespaces/bench",
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}},
                    {"fieldManager": "bench"}, "application/apply-patch+yaml")
        count = options.objects
        print(f"server: {' '.join(command[:4])} ... at {url}")
        report("create", timed(lambda i: client.apply(route(i)), count))

        def unchanged(index: int) -> None:
            client.call("GET", f"{ROUTES}/route-{index}")
            client.apply(route(index), dry_run=True)

        report("no-change", timed(unchanged, count))

        def list_all(_: int) -> None:
            token = ""
            while True:
                query = {"limit": "500", **({"continue": token} if token else {})}
                token = client.call("GET", ROUTES, query=query)["metadata"].get("continue", "")
                if not token:
                    return

        report("list", timed(list_all, 10))
        synced = streaming_list(url, count)
        print(f"streaming list {count:>6} objects: " + (
            f"{synced * 1000:.0f} ms to the initial-events-end bookmark" if synced is not None
            else "no initial-events-end bookmark (a client-go informer never syncs)"))
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
