"""Real endpoints on loopback for probes to hit: a tiny keep-alive HTTP/1.1 server on asyncio.

It speaks just enough HTTP for a health probe (GET, no request body) and counts connections and
requests, so tests can see connection reuse. `respond` may be swapped at any time.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

Response = tuple[int, bytes]
_REASONS = {200: "OK", 302: "Found", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class HttpEndpoint:
    respond: Callable[[str], Response] = lambda _path: (200, b"ok")
    answer: bool = True  # False: take the request, never reply
    connections: int = 0
    requests: list[str] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> HttpEndpoint:
        self.server = await asyncio.start_server(self._serve, host, 0, ssl=tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        # Python 3.11's Server.close leaves live connections alone; a held request would hang on.
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                self.requests.append(path)
                if not self.answer:
                    await asyncio.Event().wait()
                status, body = self.respond(path)
                writer.write(
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
                    f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                if b"\r\nconnection: close\r\n" in head.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
