"""A real HTTP server on 127.0.0.1 for testing what the notification transports send.

It records every request and lets the test decide each answer: `server.answer` is a function from
the recorded `Seen` request to a `Reply` (status, JSON or raw body, optional delay), so a test can
play a service that checks signatures, refuses with its documented error body, rate-limits, fails
with a 5xx or never answers in time.

    def test_x(http_server):
        http_server.answer = lambda seen: Reply(json={"errcode": 0, "errmsg": "ok"})
        ... send to http_server.url("/robot/send?access_token=t") ...
        assert len(http_server.requests) == 1
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Seen:
    """One request as it arrived."""

    method: str
    path: str
    query: dict[str, list[str]]  # decoded, as parse_qs gives it
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body.decode())

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    status: int = 200
    json: object = None
    body: bytes | None = None  # raw bytes, used when `json` is None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (cut short when the server closes)


class LocalServer:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.answer: Callable[[Seen], Reply] = lambda seen: Reply(json={})
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        # A client that gave up (timeout test) leaves a broken pipe behind: not a test failure.
        self._httpd.handle_error = lambda request, address: None
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self._serve()

            def do_GET(self):
                self._serve()

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                seen = Seen(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                            {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with server._lock:
                    server.requests.append(seen)
                reply = server.answer(seen)
                if reply.delay and server._closing.wait(reply.delay):
                    return
                body = json.dumps(reply.json).encode() if reply.json is not None else (reply.body or b"")
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json" if reply.json is not None else "text/plain",
                           **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler


def closed_port_url(path: str = "/") -> str:
    """An address on 127.0.0.1 where nothing listens (the port was just free)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.fixture
def http_server():
    server = LocalServer()
    yield server
    server.close()
