"""Prometheus metrics and the health endpoint: /metrics, /healthz (liveness) and /readyz
(readiness) on one port, served from a background thread.

Metric names start with `impgateway_agent_`. Each agent process has its own registry, so
tests can run several agents in one process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]


class Metrics:
    """The agent's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconcile_duration = Histogram(
            "impgateway_agent_reconcile_duration_seconds",
            "Time one reconcile (apply, prune, status) of the desired state took.",
            ["trigger"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.objects = Counter(
            "impgateway_agent_objects_total",
            "Objects handled, by action: created, configured, unchanged, pruned, failed.",
            ["action"],
            registry=self.registry,
        )
        self.drift_events = Counter(
            "impgateway_agent_drift_events_total",
            "Objects found changed behind the agent's back and re-applied.",
            registry=self.registry,
        )
        self.errors = Counter(
            "impgateway_agent_errors_total",
            "Errors, by where they happened: control_plane, kubernetes, translation, lease.",
            ["source"],
            registry=self.registry,
        )
        self.last_sync = Gauge(
            "impgateway_agent_last_successful_sync_timestamp_seconds",
            "Unix time of the last reconcile that applied the whole desired state.",
            registry=self.registry,
        )
        self.desired_revision = Gauge(
            "impgateway_agent_desired_state_revision",
            "The control plane's desired-state revision the agent last received.",
            registry=self.registry,
        )
        self.leader = Gauge(
            "impgateway_agent_leader",
            "1 while this agent holds the leader Lease (or runs without leader election).",
            registry=self.registry,
        )
        self.publishes = Gauge(
            "impgateway_agent_publishes",
            "Publishes in the desired state the agent applies.",
            registry=self.registry,
        )
        for action in ("created", "configured", "unchanged", "pruned", "failed"):
            self.objects.labels(action=action)
        for source in ("control_plane", "kubernetes", "translation", "lease"):
            self.errors.labels(source=source)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class HealthServer:
    """Serves /metrics, /healthz and /readyz on a port, from a daemon thread."""

    def __init__(
        self, address: str, port: int, metrics: Metrics, *, liveness: HealthCheck,
        readiness: HealthCheck,
    ) -> None:
        self.metrics = metrics
        self.liveness = liveness
        self.readiness = readiness
        handler = self._handler()
        self._server = ThreadingHTTPServer((address, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health",
                                        daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, server.metrics.exposition(), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/livez"):
                    self._check(server.liveness)
                elif path == "/readyz":
                    self._check(server.readiness)
                else:
                    self._send(404, b'{"status":"not found"}\n', "application/json")

            def _check(self, check: HealthCheck) -> None:
                ok, detail = check()
                body = json.dumps({"status": "ok" if ok else "unavailable", **detail})
                self._send(200 if ok else 503, body.encode() + b"\n", "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # probes every few seconds would drown the action log

        return Handler
