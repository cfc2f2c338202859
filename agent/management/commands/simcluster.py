"""``manage.py simcluster``: serve a simulated Kubernetes API server until SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agent.simcluster import SimCluster


class Command(BaseCommand):
    help = (
        "Serve a simulated Kubernetes API server (the CRDs of --crds plus the built-in kinds) "
        "on loopback until SIGTERM or SIGINT; prints its URL when ready."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=0,
                            help="port to listen on; 0 picks a free one (default)")
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--crds", required=True, type=Path,
                            help="directory with CustomResourceDefinition YAML files")
        parser.add_argument("--kubeconfig-out", type=Path,
                            help="write a kubeconfig for the cluster (context 'simcluster')")
        parser.add_argument("--token",
                            help="require this bearer token (default: accept any token)")

    def handle(self, *args: Any, **options: Any) -> None:
        crds: Path = options["crds"]
        if not crds.is_dir():
            raise CommandError(f"--crds: {crds} is not a directory")
        cluster = SimCluster(crds, token=options["token"], host=options["host"])
        stop = threading.Event()

        def request_stop(signum: int, frame: object) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, request_stop)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            try:
                url = cluster.start(options["port"])
            except OSError as exc:
                raise CommandError(
                    f"cannot listen on {options['host']}:{options['port']}: {exc}") from exc
            if options["kubeconfig_out"]:
                cluster.write_kubeconfig(options["kubeconfig_out"], options["token"])
            self.stdout.write(f"simcluster serving on {url}")
            self.stdout.flush()
            while not stop.wait(0.5):
                pass
        finally:
            cluster.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
