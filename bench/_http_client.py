"""A small HTTP/1.1 keep-alive client for the load generator (a helper, not a benchmark).

Why not httpx: it costs about 1.5 ms of CPU per request, so 500 requests/s would take most of a
core from the server under test on a 2-core machine. This is an asyncio Protocol per connection
with httptools (uvicorn's own C parser) reading the answers: a fraction of that.

Connections are opened up front (`warm`) and kept alive, reused round-robin (the one idle longest
goes next), as wrk and similar load tools do: at a steady rate every connection stays in use, so
no new connection is needed mid-run. That matters: under load a new TLS connection to the server
took seconds to open while requests on open ones were answered in milliseconds. One idle for
`max_idle` seconds is still closed by us before reuse: a server closes idle connections after its
keep-alive timeout (uvicorn: 5 s), and a request written at the very moment it does so is lost
with no answer; a connection the server closed anyway is an error, reported with how long it had
been idle.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from dataclasses import dataclass

import httptools


class ConnectionLost(Exception):
    """The server closed the connection before the whole answer came."""


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class _Connection(asyncio.Protocol):
    __slots__ = ("transport", "parser", "waiter", "headers", "body", "closed", "last_used", "idle_before", "uses")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Answer] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.closed = False
        self.last_used = time.monotonic()
        self.idle_before = 0.0  # how long it was idle before the request in flight
        self.uses = 0

    # -- asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ConnectionLost(f"unparsable answer: {error}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionLost(f"closed by the server before the whole answer ({exc or 'EOF'}); "
                                  f"the connection had served {self.uses - 1} requests before this one and was "
                                  f"idle {self.idle_before:.3f} s before it"))

    # -- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(Answer(self.parser.get_status_code(), self.headers, b"".join(self.body)))
        self.waiter = None
        if not self.parser.should_keep_alive():
            self.close()

    # -- ours

    def _fail(self, error: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        self.waiter = None

    def send(self, data: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.headers, self.body = [], []
        self.uses += 1
        self.idle_before = time.monotonic() - self.last_used
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Client:
    """Requests to one HTTPS origin over a pool of keep-alive connections (no cap of its own: the
    caller bounds what is in flight)."""

    def __init__(self, url: str, *, ca: str, headers: dict[str, str], timeout: float, max_idle: float = 4.0) -> None:
        scheme, _, rest = url.partition("://")
        host, _, port = rest.rstrip("/").rpartition(":")
        self.host, self.port = host, int(port)
        self.ssl = ssl.create_default_context(cafile=ca) if scheme == "https" else None
        head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", "Accept": "application/json", **headers}.items())
        self.head = head.encode()
        self.timeout, self.max_idle = timeout, max_idle
        self.idle: collections.deque[_Connection] = collections.deque()
        self.opened = 0  # connections opened in all (warm ones included)
        self.expired = 0  # connections we closed for having idled past max_idle

    async def _connection(self) -> _Connection:
        now = time.monotonic()
        while self.idle:
            connection = self.idle.popleft()
            if connection.closed:
                continue
            if now - connection.last_used > self.max_idle:
                self.expired += 1
                connection.close()
                continue
            return connection
        self.opened += 1
        _, connection = await asyncio.get_running_loop().create_connection(
            _Connection, self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None)
        return connection

    async def warm(self, count: int) -> None:
        """Open `count` connections now, so TLS handshakes happen before the measuring starts."""
        connections = []
        for _ in range(count):
            self.opened += 1
            _, connection = await asyncio.get_running_loop().create_connection(
                _Connection, self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None)
            connections.append(connection)
        for connection in connections:
            connection.last_used = time.monotonic()
        self.idle.extend(connections)

    async def request(self, method: str, target: str, body: bytes | None = None) -> Answer:
        """One exchange; raises ConnectionLost, OSError or TimeoutError."""
        data = f"{method} {target} HTTP/1.1\r\n".encode() + self.head
        if body is not None:
            data += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        elif method in ("PUT", "PATCH", "POST"):
            data += b"Content-Length: 0\r\n\r\n"
        else:
            data += b"\r\n"
        started = time.monotonic()
        try:
            connection = await asyncio.wait_for(self._connection(), self.timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no connection within {self.timeout:g} s") from None
        try:
            answer = await asyncio.wait_for(connection.send(data), self.timeout - (time.monotonic() - started))
        except asyncio.TimeoutError:
            connection.close()
            raise TimeoutError(f"no answer within {self.timeout:g} s on a connection that had served "
                               f"{connection.uses - 1} requests before (idle {connection.idle_before:.3f} s before "
                               f"this one)") from None
        except BaseException:
            connection.close()
            raise
        if not connection.closed:
            connection.last_used = time.monotonic()
            self.idle.append(connection)
        return answer

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()
