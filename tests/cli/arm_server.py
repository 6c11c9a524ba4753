"""A real HTTP(S) server on 127.0.0.1 that records requests and answers scripted ARM responses.

Tests register routes (method + path regex) with a list of replies, served in order (the last one
repeats), or with a function of the request. Unrouted requests get an ARM 404.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version", [None])[0]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes sent as-is, or None for no body
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Recorded], Reply]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    replies: list[Reply] | None
    handler: Handler | None
    served: int = 0

    def answer(self, request: Recorded) -> Reply:
        if self.handler is not None:
            return self.handler(request)
        assert self.replies
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


class ArmServer:
    def __init__(self, *, tls: tuple[Path, Path] | None = None) -> None:
        self.requests: list[Recorded] = []
        self._routes: list[_Route] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> ArmServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def on(self, method: str, path: str, *replies: Reply, handler: Handler | None = None) -> None:
        """Route `method` on paths fully matching the regex `path` (case-insensitive)."""
        assert bool(replies) != (handler is not None), "give replies or a handler"
        self._routes.append(
            _Route(method.upper(), re.compile(path, re.IGNORECASE), list(replies) or None, handler)
        )

    def calls(self, method: str | None = None, path_contains: str = "") -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and path_contains.lower() in r.path.lower()
        ]

    def _dispatch(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
            for route in reversed(self._routes):  # later routes override earlier ones
                if route.method == request.method and route.pattern.fullmatch(request.path):
                    return route.answer(request)
        return Reply(
            404,
            {"error": {"code": "ResourceNotFound", "message": f"no route for {request.path}"}},
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                split = urlsplit(self.path)
                request = Recorded(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self._read_body(),
                )
                reply = server._dispatch(request)
                if reply.body is None:
                    payload = b""
                elif isinstance(reply.body, bytes):
                    payload = reply.body
                else:
                    payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                if payload and not isinstance(reply.body, bytes):
                    self.send_header("Content-Type", "application/json")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if size == 0:
                            return b"".join(chunks)
                        chunks.append(chunk)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

        return Handler
