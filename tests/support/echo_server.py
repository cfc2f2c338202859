"""An HTTP backend for gateway tests: answers every request with a JSON echo of it.

Run: ``python tests/support/echo_server.py --bind ADDRESS [--port 0] [--name NAME]``; prints
``listening on ADDRESS:PORT`` once it accepts connections. The body is
``{"backend", "method", "path", "query", "headers", "body"}``; headers keep their names as
received (repeated ones joined with ", "). Standard library only: it runs in a network
namespace through ``ip netns exec``.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


def handler_for(name: str) -> type[BaseHTTPRequestHandler]:
    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "echo"
        sys_version = ""

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers: dict[str, str] = {}
            for header, value in self.headers.items():
                headers[header] = f"{headers[header]}, {value}" if header in headers else value
            url = urlsplit(self.path)
            payload = json.dumps({
                "backend": name,
                "method": self.command,
                "path": url.path,
                "query": url.query,
                "headers": headers,
                "body": body.decode("utf-8", errors="replace"),
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Echo-Backend", name)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
            pass

    return Echo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="echo")
    options = parser.parse_args(argv)
    server = ThreadingHTTPServer((options.bind, options.port), handler_for(options.name))
    server.daemon_threads = True
    print(f"listening on {options.bind}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
