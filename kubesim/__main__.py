"""``python -m kubesim``: serve an emulated Kubernetes API server until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .cluster import SimCluster


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="python -m kubesim",
        description="Serve an emulated Kubernetes API server (the CRDs of --crds plus the "
                    "built-in kinds) until SIGTERM or SIGINT; prints its URL when ready.",
    )
    result.add_argument("--port", type=int, default=0,
                        help="port to listen on; 0 picks a free one (default)")
    result.add_argument("--host", default="127.0.0.1", help="address to listen on")
    result.add_argument("--crds", required=True, type=Path,
                        help="directory with CustomResourceDefinition YAML files")
    result.add_argument("--kubeconfig-out", type=Path,
                        help="write a kubeconfig for the cluster (context 'kubesim')")
    result.add_argument("--token",
                        help="require this bearer token (default: accept any token)")
    result.add_argument("--bookmark-interval", type=float, default=60.0, metavar="SECONDS",
                        help="how often watches that allow bookmarks get one (default 60, "
                             "as kube-apiserver)")
    result.add_argument("--compaction-interval", type=float, default=300.0, metavar="SECONDS",
                        help="compact the history every SECONDS, keeping the last interval "
                             "(default 300, as kube-apiserver); 0 never compacts")
    return result


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    if not options.crds.is_dir():
        print(f"kubesim: --crds: {options.crds} is not a directory", file=sys.stderr)
        return 2
    if options.bookmark_interval <= 0:
        print("kubesim: --bookmark-interval: must be a positive number of seconds",
              file=sys.stderr)
        return 2
    if options.compaction_interval < 0:
        print("kubesim: --compaction-interval: must not be negative", file=sys.stderr)
        return 2
    cluster = SimCluster(options.crds, token=options.token, host=options.host,
                         bookmark_interval=options.bookmark_interval,
                         compaction_interval=options.compaction_interval)
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)
    try:
        try:
            url = cluster.start(options.port)
        except OSError as exc:
            print(f"kubesim: cannot listen on {options.host}:{options.port}: {exc}",
                  file=sys.stderr)
            return 1
        if options.kubeconfig_out:
            cluster.write_kubeconfig(options.kubeconfig_out, options.token)
        print(f"kubesim serving on {url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
