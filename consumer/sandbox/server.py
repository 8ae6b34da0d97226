"""The sandbox's HTTP server: Pinterest's events route plus an admin API on loopback.

Built on the standard library's ``ThreadingHTTPServer`` so that tests, the demo and the
benchmarks talk real HTTP to it without pulling in a web framework.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from consumer.sandbox import contract
from consumer.sandbox.admin import handle_admin
from consumer.sandbox.state import FaultRule, SandboxState, judge_events

_EVENTS_PATH = re.compile(r"^/v5/ad_accounts/([^/]+)/events/?$")
_AD_ACCOUNT_ID = re.compile(r"^\d{1,18}$")
# Far above a full 1000-event batch (about 1 MB); only guards the sandbox's memory.
_MAX_BODY_BYTES = 16 * 1024 * 1024
_NOT_JSON = object()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        # Kept-alive client connections would otherwise still be served after stop().
        with self._open_lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal here; skip the traceback.
        sys.stderr.write(f"sandbox: connection error: {sys.exc_info()[1]!r}\n")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Frees the thread of a client that vanished; far longer than httpx keeps an idle
    # pooled connection (5 s), so the client always drops an idle connection first.
    timeout = 60
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm
    # and delayed ACKs add about 40 ms to every answer.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silences http.server's own stderr lines; _dispatch logs one line itself."""

    def _dispatch(self) -> None:
        status: int | str = "reset"
        path = urlsplit(self.path).path
        try:
            status = self._route(path, urlsplit(self.path).query)
        finally:
            if self.server.sandbox.log_requests:
                sys.stderr.write(f"sandbox: {self.command} {path} -> {status}\n")

    # http.server looks handlers up by these names.
    do_GET = do_POST = do_DELETE = _dispatch  # noqa: N815

    def _route(self, path: str, query: str) -> int | str:
        length = self.headers.get("Content-Length")
        if length is not None and not length.isdigit():
            self.close_connection = True
            return self._reply(400, {"code": 400, "message": "bad Content-Length"})
        if length is not None and int(length) > _MAX_BODY_BYTES:
            self.close_connection = True
            return self._reply(413, {"code": 413, "message": "request body too large"})
        raw = self.rfile.read(int(length)) if length else b""
        events_path = _EVENTS_PATH.match(path)
        if events_path:
            if self.command != "POST":
                return self._reply(405, {"code": 405, "message": "use POST"})
            return self._events(events_path.group(1), query, raw)
        if path.startswith("/_sandbox/"):
            return self._admin(path, query, raw)
        return self._reply(404, {"code": 404, "message": f"no route for {path}"})

    def _reply(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> int:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        return status

    def _reset_connection(self) -> str:
        # Linger 0 makes close() send a TCP RST instead of answering.
        linger = struct.pack("ii", 1, 0)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self.close_connection = True
        return "reset"

    def _bearer_token(self) -> str | None:
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None

    # --- POST /v5/ad_accounts/{id}/events -------------------------------------------
    def _events(self, account: str, query: str, raw: bytes) -> int | str:
        if not _AD_ACCOUNT_ID.match(account):
            message = "ad_account_id must be 1 to 18 digits"
            return self._reply(404, {"code": 404, "message": message})
        test = parse_qs(query).get("test", [""])[-1].lower() == "true"
        token = self._bearer_token()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = _NOT_JSON
        data = body.get("data") if isinstance(body, dict) else None
        events = data if isinstance(data, list) else []
        ids = {e.get("event_id") for e in events if isinstance(e, dict)}
        state = self.server.sandbox.state
        rule = state.take_fault(account, token, {i for i in ids if isinstance(i, str)})
        status, accepted = self._answer_events(account, token, body, rule)
        failed = len(events) - len(accepted) if status in (200, 422) else 0
        state.record(account, status, accepted, failed, test=test)
        return status

    def _answer_events(
        self, account: str, token: str | None, body: Any, rule: FaultRule | None
    ) -> tuple[int | str, list[dict[str, Any]]]:
        """Answer the way Pinterest would, or as a fault rule says; returns the status
        sent and the events accepted."""
        sandbox = self.server.sandbox
        if rule is not None:
            if rule.delay_seconds:
                self.server.stopping.wait(rule.delay_seconds)
            if rule.reset_connection:
                return self._reset_connection(), []
            if rule.status is not None or rule.refuse_token is not None:
                status = rule.status or 401
                headers = {}
                if rule.retry_after is not None:
                    headers["Retry-After"] = f"{rule.retry_after:g}"
                error = contract.error_body_for_status(status)
                return self._reply(status, error, headers), []
        if token is None or not sandbox.state.token_known(token):
            return self._reply(401, contract.error_body_for_status(401)), []
        if sandbox.state.token_for(account) != token:
            return self._reply(403, contract.error_body_for_status(403)), []
        message = "Invalid request: the body is not JSON"
        if body is not _NOT_JSON:
            message = contract.validation_error(body) or ""
        if message:
            invalid = {"code": contract.INVALID_REQUEST_CODE, "message": message}
            return self._reply(400, invalid), []
        summary, accepted = judge_events(
            body["data"],
            int(time.time()),
            sandbox.max_event_age_seconds,
            rule.fail_event_ids if rule is not None else None,
        )
        if len(accepted) == len(body["data"]):
            return self._reply(200, summary), accepted
        detailed = {
            "code": contract.PARTIAL_FAILURE_CODE,
            "message": contract.PARTIAL_FAILURE_MESSAGE,
            "details": summary,
        }
        return self._reply(422, detailed), accepted

    # --- /_sandbox/ admin API -------------------------------------------------------
    def _admin(self, path: str, query: str, raw: bytes) -> int:
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            return self._reply(403, {"code": 403, "message": "admin is loopback-only"})
        state = self.server.sandbox.state
        return self._reply(*handle_admin(state, self.command, path, query, raw))


class Sandbox:
    """A local stand-in for Pinterest's Conversions API, served over real HTTP."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        accounts: dict[str, str] | None = None,
        max_event_age_seconds: int = contract.MAX_EVENT_AGE_SECONDS,
        *,
        log_requests: bool = True,
    ) -> None:
        self.state = SandboxState()
        for ad_account_id, token in (accounts or {}).items():
            self.state.add_account(ad_account_id, token)
        self.max_event_age_seconds = max_event_age_seconds
        self.log_requests = log_requests
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        """Bind and serve in a daemon thread; returns self for chaining."""
        if self._server is not None:
            return self
        self._server = _Server(self._address, self)
        # Keep the bound port so a stop()/start() outage comes back on the same URL.
        self._address = (self._address[0], int(self._server.server_address[1]))
        # Short poll so stop() returns quickly; the loop is idle otherwise.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"pinterest-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    @property
    def port(self) -> int:
        if not self._address[1]:
            raise RuntimeError("the sandbox has not been started yet")
        return self._address[1]

    @property
    def url(self) -> str:
        """The API base a sender puts ``/ad_accounts/{id}/events`` after."""
        return f"http://{self._address[0]}:{self.port}/v5"

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_sandbox(
    host: str = "127.0.0.1", port: int = 0, accounts: dict[str, str] | None = None
) -> int:
    """Serve until SIGINT or SIGTERM, then stop cleanly; returns the exit status 0."""
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {
        sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with Sandbox(host, port, accounts) as sandbox:
            ids = ", ".join(sandbox.state.ad_account_ids()) or "none"
            sys.stdout.write(
                f"Pinterest sandbox at {sandbox.url} (ad accounts: {ids})\n"
            )
            sys.stdout.flush()
            done.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
