"""One HTTP(S) GET for a health probe, on a bare asyncio protocol.

A probe needs little of HTTP: send one request with `Connection: close`, read the status line,
and for rich health the body (at most `limit` bytes). A general client costs most of a probe's CPU
in its pool and request machinery (httpx: ~1 ms per probe, against ~0.1 ms here), which decides
how many instances one server can watch. No redirects are followed and nothing is kept alive: a
fresh connection per probe is what a load balancer makes too, and proves the instance still
accepts connections.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import struct

__all__ = ["BadResponse", "Prober", "close_with_reset", "http_get"]

USER_AGENT = "scaleset-health-probe"
_HEAD_LIMIT = 16 * 1024  # a status line and headers longer than this are not a health answer
# Close with a reset instead of a FIN handshake, as HAProxy's checks do: the prober is the active
# closer (it stops reading once it knows the answer), and thousands of probes a second would leave
# tens of thousands of sockets in TIME_WAIT. A health check has nothing left to say.
LINGER_RESET = struct.pack("ii", 1, 0)


class BadResponse(Exception):
    """The peer answered, but not with HTTP we can read."""


class Prober:
    """What HTTP probes share: the TLS context, built once on the first https probe (certificates
    are not verified, as neither Azure's load balancer nor the Application Health extension
    verifies them, so no CA store is loaded either)."""

    @functools.cached_property
    def tls(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    async def __aenter__(self) -> Prober:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing is held between probes; here for `async with` and symmetry with clients."""


async def http_get(host: str, port: int, path: str, *, tls: ssl.SSLContext | None, read_body: bool,
                   limit: int) -> tuple[int, bytes]:
    """GET `path` and return (status, body); the body only when `read_body`, at most `limit` bytes.

    Raises OSError (refused, reset), ssl.SSLError, or BadResponse; the caller bounds the time.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[int, bytes]] = loop.create_future()
    transport, _ = await loop.create_connection(
        lambda: _Response(done, read_body=read_body, limit=limit), host, port,
        ssl=tls, server_hostname=host if tls is not None else None,
    )  # fmt: skip
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        transport.write(
            f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n".encode("latin-1")
        )
        return await done
    finally:
        close_with_reset(transport)


def close_with_reset(transport: asyncio.BaseTransport) -> None:
    """Close a probe's connection at once with a reset (see LINGER_RESET)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        except OSError:
            pass  # the peer closed it already
    transport.abort()


class _Response(asyncio.Protocol):
    """Reads one response: status line and headers, then the body by Content-Length, chunks, or
    until the server closes."""

    def __init__(self, done: asyncio.Future[tuple[int, bytes]], *, read_body: bool, limit: int) -> None:
        self.done = done
        self.read_body = read_body
        self.limit = limit
        self.buffer = bytearray()
        self.status: int | None = None
        self.length: int | None = None
        self.chunked = False
        self.body_start = 0

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        self.buffer += data
        try:
            if self.status is None and not self._read_head():
                return
            if not self.read_body:
                self._finish(b"")
            elif self.chunked:
                body = _dechunk(self.buffer, self.body_start, self.limit)
                if body is not None:
                    self._finish(body)
                elif len(self.buffer) - self.body_start > self.limit + _HEAD_LIMIT:
                    self._finish(bytes(self.buffer[self.body_start:self.body_start + self.limit]))
            else:
                have = len(self.buffer) - self.body_start
                if have >= self.limit or (self.length is not None and have >= self.length):
                    end = self.body_start + min(self.limit, self.length if self.length is not None else self.limit)
                    self._finish(bytes(self.buffer[self.body_start:end]))
        except BadResponse as error:
            self.done.set_exception(error)

    def eof_received(self) -> bool | None:
        self._ended()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done() and exc is not None:
            self.done.set_exception(exc)
        self._ended()

    def _ended(self) -> None:
        if self.done.done():
            return
        if self.status is None:
            self.done.set_exception(BadResponse("connection closed without a valid HTTP response"))
        elif self.chunked:
            body = _dechunk(self.buffer, self.body_start, self.limit)
            self._finish(body if body is not None else bytes(self.buffer[self.body_start:self.body_start + self.limit]))
        else:
            self._finish(bytes(self.buffer[self.body_start:self.body_start + self.limit]))

    def _finish(self, body: bytes) -> None:
        assert self.status is not None
        self.done.set_result((self.status, body))

    def _read_head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _HEAD_LIMIT:
                raise BadResponse("response headers too long")
            return False
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise BadResponse("connection closed without a valid HTTP response")
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length" and value.strip().isdigit():
                self.length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                self.chunked = True
        self.status = int(parts[1])
        self.body_start = end + 4
        return True


def _dechunk(buffer: bytearray, start: int, limit: int) -> bytes | None:
    """The body of a complete chunked message (capped at `limit`), or None if more is to come."""
    body = bytearray()
    at = start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size_text = bytes(buffer[at:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadResponse("malformed chunked body") from None
        if size == 0:
            return bytes(body[:limit])
        if len(buffer) < line_end + 2 + size + 2:
            return None
        body += buffer[line_end + 2:line_end + 2 + size]
        if len(body) >= limit:
            return bytes(body[:limit])
        at = line_end + 2 + size + 2
