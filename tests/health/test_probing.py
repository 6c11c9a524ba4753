"""probe_once against real listeners on loopback: HTTP, HTTPS, rich bodies, TCP, failures."""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from scaleset.api.tls import ensure_self_signed
from scaleset.clock import VirtualClock
from scaleset.health.probe_spec import ProbeSpec
from scaleset.health.http_probe import Prober
from scaleset.health.probing import probe_client, probe_once
from tests.health.servers import HttpEndpoint


def http_spec(port: int, *, path: str = "/health", rich: bool = False, protocol: str = "http") -> ProbeSpec:
    return ProbeSpec(protocol=protocol, port=port, request_path=path, rich=rich)  # type: ignore[arg-type]


def tcp_spec(port: int, *, rich: bool = False) -> ProbeSpec:
    return ProbeSpec(protocol="tcp", port=port, rich=rich)


def free_port() -> int:
    """A port nothing listens on (bound and released, so the kernel refuses connections to it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def endpoint() -> AsyncIterator[HttpEndpoint]:
    server = await HttpEndpoint().start()
    yield server
    await server.close()


@pytest.fixture
async def client() -> AsyncIterator[Prober]:
    async with probe_client() as shared:
        yield shared


# HTTP ------------------------------------------------------------------------------------------


async def test_http_200_is_ok_with_status_and_latency(endpoint: HttpEndpoint, client: Prober) -> None:
    answer = await probe_once("127.0.0.1", http_spec(endpoint.port), client=client)
    assert answer.ok
    assert answer.status_code == 200
    assert answer.error is None
    assert answer.app_state is None
    assert answer.latency_ms > 0
    assert endpoint.requests == ["/health"]


async def test_http_503_is_down_and_says_so(endpoint: HttpEndpoint, client: Prober) -> None:
    endpoint.respond = lambda _path: (503, b"busy")
    answer = await probe_once("127.0.0.1", http_spec(endpoint.port), client=client)
    assert not answer.ok
    assert answer.status_code == 503
    assert answer.error == "HTTP 503"


async def test_a_redirect_is_not_followed_and_not_healthy(endpoint: HttpEndpoint, client: Prober) -> None:
    # Azure's probers take 200 and nothing else as up.
    endpoint.respond = lambda path: (302, b"") if path == "/health" else (200, b"")
    answer = await probe_once("127.0.0.1", http_spec(endpoint.port), client=client)
    assert (answer.ok, answer.status_code, answer.error) == (False, 302, "HTTP 302")
    assert endpoint.requests == ["/health"]


async def test_refused_port_reads_connection_refused(client: Prober) -> None:
    answer = await probe_once("127.0.0.1", http_spec(free_port()), client=client)
    assert not answer.ok
    assert answer.status_code is None
    assert answer.error == "connection refused"


async def test_a_server_that_never_answers_times_out_within_the_timeout(
    endpoint: HttpEndpoint, client: Prober
) -> None:
    endpoint.answer = False
    answer = await probe_once("127.0.0.1", http_spec(endpoint.port), timeout=0.3, client=client)
    assert not answer.ok
    assert answer.error == "timeout after 0.3 s"
    assert endpoint.requests == ["/health"]  # it got the request: the wait was for the reply
    assert 300 <= answer.latency_ms < 1300


async def test_the_shared_client_opens_a_fresh_connection_per_probe(
    endpoint: HttpEndpoint, client: Prober
) -> None:
    # Like the load balancer's probes: each one proves the listener still accepts connections.
    for _ in range(3):
        assert (await probe_once("127.0.0.1", http_spec(endpoint.port), client=client)).ok
    assert (len(endpoint.requests), endpoint.connections) == (3, 3)


async def raw_server(reply: bytes) -> tuple[asyncio.AbstractServer, int]:
    """A listener that answers any request with exactly `reply` bytes, then closes."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("reply, ok, app_state, error", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(
        b"%x;ext=1\r\n%s\r\n" % (len(part), part) for part in (b'{"Application', b'HealthState": "Healthy"}', b"")),
     True, "Healthy", None),
    (b"HTTP/1.0 200 OK\r\n\r\n{\"applicationHealthState\": \"unhealthy\"}", False, "Unhealthy",
     "application reported Unhealthy"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", False, None, "connection closed without a valid HTTP response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"ApplicationHealthState\"", False, None,
     "no valid ApplicationHealthState in the response"),
])  # fmt: skip
async def test_raw_http_framings_are_read_as_http(reply: bytes, ok: bool, app_state: str | None, error: str | None,
                                                  client: Prober) -> None:
    """Chunked bodies, bodies ended by the close, no HTTP at all, and a body cut short."""
    server, port = await raw_server(reply)
    async with server:
        answer = await probe_once("127.0.0.1", http_spec(port, rich=True), client=client)
    assert (answer.ok, answer.app_state, answer.error) == (ok, app_state, error)


async def test_a_binary_probe_needs_only_the_status_line(client: Prober) -> None:
    server, port = await raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial")
    async with server:
        answer = await probe_once("127.0.0.1", http_spec(port), client=client, timeout=1.0)
    assert answer.ok and answer.status_code == 200


async def test_without_a_client_a_probe_still_works(endpoint: HttpEndpoint) -> None:
    answer = await probe_once("127.0.0.1", http_spec(endpoint.port))
    assert answer.ok and answer.status_code == 200


async def test_a_large_body_is_read_only_up_to_a_cap(endpoint: HttpEndpoint, client: Prober) -> None:
    endpoint.respond = lambda _path: (200, b"x" * 2_000_000)
    answer = await probe_once("127.0.0.1", http_spec(endpoint.port), client=client)
    assert answer.ok and answer.status_code == 200


async def test_the_answer_is_stamped_by_the_injected_clock(endpoint: HttpEndpoint, client: Prober) -> None:
    clock = VirtualClock()
    clock.advance(90)
    answer = await probe_once("127.0.0.1", http_spec(endpoint.port), client=client, clock=clock)
    assert answer.at == clock.now()
    assert answer.at - VirtualClock().now() == timedelta(seconds=90)


def test_a_stdlib_http_server_that_closes_after_each_reply_is_probed_fine() -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200 if self.path == "/up" else 500)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]

    async def both() -> tuple[bool, str | None]:
        async with probe_client() as shared:
            up = await probe_once("127.0.0.1", http_spec(port, path="/up"), client=shared)
            down = await probe_once("127.0.0.1", http_spec(port, path="/down"), client=shared)
        return up.ok, down.error

    try:
        assert asyncio.run(both()) == (True, "HTTP 500")
    finally:
        server.shutdown()
        server.server_close()


# HTTPS -----------------------------------------------------------------------------------------


@pytest.fixture
def server_tls(tmp_path: Path) -> Iterator[ssl.SSLContext]:
    files = ensure_self_signed(tmp_path)  # signed by a CA nobody here trusts
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert, files.key)
    yield context


async def test_https_with_an_untrusted_certificate_is_probed_without_verification(
    server_tls: ssl.SSLContext, client: Prober
) -> None:
    server = await HttpEndpoint().start(tls=server_tls)
    try:
        # The certificate really is untrusted: a verifying client refuses it.
        async with httpx.AsyncClient(trust_env=False) as strict:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await strict.get(f"https://127.0.0.1:{server.port}/health")
        answer = await probe_once("127.0.0.1", http_spec(server.port, protocol="https"), client=client)
        assert answer.ok and answer.status_code == 200
        answer = await probe_once("127.0.0.1", http_spec(server.port, protocol="https"))
        assert answer.ok
    finally:
        await server.close()


async def test_https_against_a_plain_text_listener_fails_with_a_tls_error(client: Prober) -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the ClientHello has begun
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        answer = await probe_once("127.0.0.1", http_spec(port, protocol="https"), client=client, timeout=1.0)
    finally:
        server.close()
    assert not answer.ok
    assert answer.error is not None and answer.error.startswith("TLS handshake failed"), answer.error


# Rich health -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "ok", "app_state", "error"),
    [
        ({"ApplicationHealthState": "Healthy"}, True, "Healthy", None),
        ({"applicationHealthState": "healthy"}, True, "Healthy", None),
        ({"APPLICATIONHEALTHSTATE": " HEALTHY "}, True, "Healthy", None),
        ({"ApplicationHealthState": "Unhealthy"}, False, "Unhealthy", "application reported Unhealthy"),
        ({"applicationhealthstate": "UNHEALTHY", "detail": "db down"}, False, "Unhealthy", "application reported Unhealthy"),
        ({"ApplicationHealthState": "Degraded"}, False, None, "no valid ApplicationHealthState in the response"),
        ({"ApplicationHealthState": True}, False, None, "no valid ApplicationHealthState in the response"),
        ({"status": "Healthy"}, False, None, "no valid ApplicationHealthState in the response"),
        (["Healthy"], False, None, "no valid ApplicationHealthState in the response"),
    ],
)
async def test_rich_bodies_are_read_case_insensitively(
    endpoint: HttpEndpoint, client: Prober, body: object, ok: bool, app_state: str | None, error: str | None
) -> None:
    endpoint.respond = lambda _path: (200, json.dumps(body).encode())
    answer = await probe_once("127.0.0.1", http_spec(endpoint.port, rich=True), client=client)
    assert (answer.ok, answer.status_code, answer.app_state, answer.error) == (ok, 200, app_state, error)


async def test_rich_garbage_body_is_no_state(endpoint: HttpEndpoint, client: Prober) -> None:
    endpoint.respond = lambda _path: (200, b"\x00not json{")
    answer = await probe_once("127.0.0.1", http_spec(endpoint.port, rich=True), client=client)
    assert (answer.ok, answer.status_code, answer.app_state) == (False, 200, None)
    assert answer.error == "no valid ApplicationHealthState in the response"


async def test_rich_healthy_body_with_a_non_200_status_is_no_state(
    endpoint: HttpEndpoint, client: Prober
) -> None:
    endpoint.respond = lambda _path: (503, b'{"ApplicationHealthState": "Healthy"}')
    answer = await probe_once("127.0.0.1", http_spec(endpoint.port, rich=True), client=client)
    assert (answer.ok, answer.app_state, answer.error) == (False, None, "HTTP 503")


async def test_a_binary_probe_ignores_what_the_body_says(endpoint: HttpEndpoint, client: Prober) -> None:
    endpoint.respond = lambda _path: (200, b'{"ApplicationHealthState": "Unhealthy"}')
    answer = await probe_once("127.0.0.1", http_spec(endpoint.port), client=client)
    assert answer.ok and answer.app_state is None


# TCP -------------------------------------------------------------------------------------------


async def test_tcp_open_port_is_ok(endpoint: HttpEndpoint) -> None:
    answer = await probe_once("127.0.0.1", tcp_spec(endpoint.port))
    assert (answer.ok, answer.status_code, answer.error, answer.app_state) == (True, None, None, None)
    # The listener really took a connection (the server saw it), and no HTTP request was sent.
    for _ in range(100):
        if endpoint.connections:
            break
        await asyncio.sleep(0.01)
    assert endpoint.connections == 1
    assert endpoint.requests == []


async def test_tcp_closed_port_is_refused() -> None:
    answer = await probe_once("127.0.0.1", tcp_spec(free_port()))
    assert (answer.ok, answer.error) == (False, "connection refused")


async def test_tcp_rich_connect_counts_as_healthy_and_refusal_as_no_state(endpoint: HttpEndpoint) -> None:
    up = await probe_once("127.0.0.1", tcp_spec(endpoint.port, rich=True))
    down = await probe_once("127.0.0.1", tcp_spec(free_port(), rich=True))
    assert (up.ok, up.app_state) == (True, "Healthy")
    assert (down.ok, down.app_state, down.error) == (False, None, "connection refused")


async def test_tcp_listener_with_a_full_backlog_times_out() -> None:
    # A listener that never accepts, its queue full: the kernel drops further SYNs, so the
    # handshake never completes. A TCP probe must not call that healthy.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        await asyncio.sleep(0.05)
        answer = await probe_once("127.0.0.1", tcp_spec(port), timeout=0.3)
        assert (answer.ok, answer.error) == (False, "timeout after 0.3 s")
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# Many at once ----------------------------------------------------------------------------------


async def test_smoke_200_endpoints_probed_concurrently_all_answer_ok(client: Prober) -> None:
    """Not a benchmark: 200 real endpoints probed at once through one client all come back ok."""
    servers = [await HttpEndpoint().start() for _ in range(200)]
    try:
        answers = await asyncio.gather(
            *(probe_once("127.0.0.1", http_spec(server.port), client=client, timeout=10) for server in servers),
            *(probe_once("127.0.0.1", tcp_spec(server.port), timeout=10) for server in servers),
        )
        assert len(answers) == 400
        assert [answer.error for answer in answers if not answer.ok] == []
        assert all(server.requests == ["/health"] for server in servers)
    finally:
        for server in servers:
            await server.close()


def test_answer_as_json_uses_camel_case() -> None:
    from datetime import datetime, timezone

    from scaleset.health.answers import ProbeAnswer

    answer = ProbeAnswer(
        at=datetime(2026, 1, 1, tzinfo=timezone.utc), ok=False, status_code=503, latency_ms=1.23456, error="HTTP 503"
    )
    assert answer.as_json() == {
        "time": "2026-01-01T00:00:00+00:00",
        "ok": False,
        "statusCode": 503,
        "latencyMs": 1.235,
        "error": "HTTP 503",
        "appState": None,
    }
