"""Operational HTTP endpoints: ``GET /health`` (JSON state) and ``GET /metrics``.

The answer is always 200 while the process runs, so an orchestrator does not
restart a service that is only waiting for Pinterest; the body says what is
wrong: each destination's state (ok, retrying, credentials_refused), whether
fetching is paused, and how much is buffered or unsettled.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Snapshot = Callable[[], dict[str, Any]]
Metrics = Callable[[], tuple[bytes, str]]
"""Returns the metrics body and its content type."""


class HealthServer:
    """Serves the snapshot on a background thread until stopped."""

    def __init__(
        self, host: str, port: int, snapshot: Snapshot, metrics: Metrics
    ) -> None:
        handler = _handler(snapshot, metrics)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port (useful when 0 asked for a free one)."""
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        """Start answering."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and release the port."""
        self._server.shutdown()
        self._server.server_close()


def _handler(snapshot: Snapshot, metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path in ("/health", "/healthz"):
                body, kind = json.dumps(snapshot()).encode(), "application/json"
            elif path == "/metrics":
                body, kind = metrics()
            else:
                self.send_error(404, "try /health or /metrics")
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # probes every few seconds would flood the log

    return Handler
