"""Real probes: one HTTP, HTTPS or TCP request to an instance, turned into a `ProbeAnswer`.

This is the only module of `health/` that does IO. It judges one answer the way Azure's probers do:

- Http/Https: healthy only on status 200 (no redirects followed, any other status is down). HTTPS
  certificates are not verified, as neither the load balancer nor the Application Health extension
  verifies them: instances commonly serve self-signed certificates.
- Rich health (Application Health 2.x): a 200 whose JSON body carries
  `{"ApplicationHealthState": "Healthy"|"Unhealthy"}`, key and value matched case-insensitively.
- Tcp: healthy when the three-way handshake completes, i.e. a socket is listening and took the
  connection into its accept queue.

Probes must be cheap, so TCP probes use a bare non-blocking socket (~50 us of CPU each) and HTTP
probes share one client made by `probe_client()` (its TLS context and pool machinery are built
once). That client opens a fresh connection per probe rather than keeping connections alive:

- httpcore 1.0.x's pool scans all its connections for every request, and its idle-eviction check
  is quadratic in them (encode/httpcore#1035). With one idle keep-alive connection per instance,
  200 instances already cost ~10 ms of CPU per probe, against ~1 ms with a fresh connection.
- A new connection is what the load balancer makes too, and it proves the instance still accepts
  connections, which a connection kept alive from an earlier probe does not.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import socket
import ssl
import struct
import time

import httpx

from scaleset.clock import Clock, RealClock
from scaleset.drivers.base import AcceptCheck
from scaleset.health.answers import AppState, ProbeAnswer
from scaleset.health.probe_spec import ProbeSpec

__all__ = ["ProbeAnswer", "probe_client", "probe_once", "unreachable"]

# A health body is a few bytes; reading more only lets a misbehaving app cost us memory.
MAX_BODY_BYTES = 64 * 1024
_STATE_KEY = "applicationhealthstate"
_APP_STATES: dict[str, AppState] = {"healthy": "Healthy", "unhealthy": "Unhealthy"}
_REAL_CLOCK = RealClock()
# Close with a reset instead of a FIN handshake, as HAProxy's checks do: the prober is the active
# closer, and thousands of probes a second would leave tens of thousands of sockets in TIME_WAIT.
# A health check has nothing left to say, so the reset loses nothing.
_LINGER_RESET = struct.pack("ii", 1, 0)

# (ok, status code, error, app state): a ProbeAnswer before it is stamped.
_Judged = tuple[bool, int | None, str | None, AppState | None]


def probe_client(*, max_connections: int = 1000, keep_alive: bool = False) -> httpx.AsyncClient:
    """The HTTP client probes should share: no certificate checks, no redirects, no proxies.

    `keep_alive=True` reuses connections; worth it only for a handful of instances (see above).
    """
    headers = {"User-Agent": "scaleset-health-probe"}
    if not keep_alive:
        # Let the server close first, so the TIME_WAIT lands on its side rather than ours.
        headers["Connection"] = "close"
    return httpx.AsyncClient(
        verify=False,
        follow_redirects=False,
        # A proxy from the environment would answer for the instance; probes go straight to it.
        trust_env=False,
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections if keep_alive else 0,
        ),
        headers=headers,
    )


async def probe_once(
    host: str,
    spec: ProbeSpec,
    *,
    port: int | None = None,
    timeout: float = 2.0,
    client: httpx.AsyncClient | None = None,
    clock: Clock | None = None,
    accepted: AcceptCheck | None = None,
) -> ProbeAnswer:
    """Probe `host` once as `spec` says; never raises for anything the instance does.

    `port` is where the instance's `spec.port` is reached from here (a forwarded port), by default
    that port itself. `timeout` bounds the whole probe (connect, TLS, request, body). `client`
    should come from `probe_client()` and be shared; without one, a client is made and closed for
    this probe alone. `clock` stamps the answer; latency is always measured in real time, as it is
    real IO. `accepted` confirms a TCP connection reached the instance itself (see Driver).
    """
    clock = clock or _REAL_CLOCK
    port = spec.port if port is None else port
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            if spec.protocol == "tcp":
                await _tcp(host, port, accepted)
                # A listener that took the connection is all a TCP probe can learn; for rich
                # health that is the application's way of saying Healthy.
                judged: _Judged = (True, None, None, "Healthy" if spec.rich else None)
            else:
                judged = await _http(host, port, spec, timeout, client)
    except (TimeoutError, httpx.TimeoutException):
        judged = (False, None, f"timeout after {float(timeout)} s", None)
    except (OSError, httpx.HTTPError) as exc:
        judged = (False, None, _describe(exc), None)
    latency_ms = (time.perf_counter() - started) * 1000.0
    ok, status_code, error, app_state = judged
    return ProbeAnswer(
        at=clock.now(),
        ok=ok,
        status_code=status_code,
        latency_ms=latency_ms,
        error=error,
        app_state=app_state,
    )


def unreachable(reason: str, clock: Clock | None = None) -> ProbeAnswer:
    """The answer of a probe that had nowhere to go (the machine has no address for the port)."""
    return ProbeAnswer(at=(clock or _REAL_CLOCK).now(), ok=False, error=reason)


async def _tcp(host: str, port: int, accepted: AcceptCheck | None) -> None:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if _is_ipv6(host) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, (host.strip("[]"), port))
        if accepted is not None and not await accepted():
            raise ConnectionError("the port is forwarded but the machine did not accept the connection")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    finally:
        sock.close()


async def _http(
    host: str, port: int, spec: ProbeSpec, timeout: float, client: httpx.AsyncClient | None
) -> _Judged:
    url = f"{spec.protocol}://{_url_host(host)}:{port}{spec.request_path or '/'}"
    if client is None:
        async with probe_client(max_connections=1) as own:
            return await _get(own, url, spec, timeout)
    return await _get(client, url, spec, timeout)


async def _get(client: httpx.AsyncClient, url: str, spec: ProbeSpec, timeout: float) -> _Judged:
    async with client.stream("GET", url, timeout=timeout) as response:
        # Read the body even when only the status matters: a fully read response lets the pool
        # reuse the connection for the next probe.
        body = await _read_capped(response)
    status = response.status_code
    if status != 200:
        return False, status, f"HTTP {status}", None
    if not spec.rich:
        return True, status, None, None
    app_state = _app_state(body)
    if app_state is None:
        return False, status, "no valid ApplicationHealthState in the response", None
    if app_state == "Unhealthy":
        return False, status, "application reported Unhealthy", app_state
    return True, status, None, app_state


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            break  # closing an unfinished response drops its connection, which is what we want
    return b"".join(chunks)[:MAX_BODY_BYTES]


def _app_state(body: bytes) -> AppState | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    for key, value in document.items():
        if isinstance(key, str) and key.lower() == _STATE_KEY and isinstance(value, str):
            return _APP_STATES.get(value.strip().lower())
    return None


def _describe(exc: BaseException) -> str:
    """A few words for a failed connection, from the deepest cause that says something."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or (
            isinstance(current, OSError) and current.errno == errno.ECONNREFUSED
        ):
            return "connection refused"
        if isinstance(current, ConnectionResetError):
            return "connection reset"
        if isinstance(current, ssl.SSLError):
            return f"TLS handshake failed: {current.reason or current}"
        if isinstance(current, OSError) and current.errno is not None:
            return f"connection failed: {(current.strerror or str(current)).lower()}"
        current = current.__cause__ or current.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed without a valid HTTP response"
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False


def _url_host(host: str) -> str:
    host = host.strip("[]")
    return f"[{host}]" if _is_ipv6(host) else host
