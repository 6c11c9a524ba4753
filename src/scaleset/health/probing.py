"""Real probes: one HTTP, HTTPS or TCP request to an instance, turned into a `ProbeAnswer`.

This is the only module of `health/` that does IO. It judges one answer the way Azure's probers do:

- Http/Https: healthy only on status 200 (no redirects followed, any other status is down). HTTPS
  certificates are not verified, as neither the load balancer nor the Application Health extension
  verifies them: instances commonly serve self-signed certificates.
- Rich health (Application Health 2.x): a 200 whose JSON body carries
  `{"ApplicationHealthState": "Healthy"|"Unhealthy"}`, key and value matched case-insensitively.
- Tcp: healthy when the three-way handshake completes, i.e. a socket is listening and took the
  connection into its accept queue.

Probes must be cheap: one server probes tens of thousands of instances. TCP probes use a bare
connection (~50 us of CPU each) and HTTP probes a bare asyncio protocol (`http_probe`),
sharing what `probe_client()` makes (the TLS context). Each probe opens a fresh connection: that
is what the load balancer does, and it proves the instance still accepts connections. (httpx,
used before, cost ~1 ms of CPU per probe in its pool and request machinery, and its keep-alive
pool scans quadratically: encode/httpcore#1035.)
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import ssl
import time

from scaleset.clock import Clock, RealClock
from scaleset.drivers.base import AcceptCheck
from scaleset.health.answers import AppState, ProbeAnswer
from scaleset.health.http_probe import BadResponse, Prober, close_with_reset, http_get
from scaleset.health.probe_spec import ProbeSpec

__all__ = ["ProbeAnswer", "probe_client", "probe_once", "unreachable"]

# A health body is a few bytes; reading more only lets a misbehaving app cost us memory.
MAX_BODY_BYTES = 64 * 1024
_STATE_KEY = "applicationhealthstate"
_APP_STATES: dict[str, AppState] = {"healthy": "Healthy", "unhealthy": "Unhealthy"}
_REAL_CLOCK = RealClock()

# (ok, status code, error, app state): a ProbeAnswer before it is stamped.
_Judged = tuple[bool, int | None, str | None, AppState | None]


def probe_client() -> Prober:
    """What HTTP probes should share (`async with probe_client() as client: ...`)."""
    return Prober()


async def probe_once(
    host: str,
    spec: ProbeSpec,
    *,
    port: int | None = None,
    timeout: float = 2.0,
    client: Prober | None = None,
    clock: Clock | None = None,
    accepted: AcceptCheck | None = None,
) -> ProbeAnswer:
    """Probe `host` once as `spec` says; never raises for anything the instance does.

    `port` is where the instance's `spec.port` is reached from here (a forwarded port), by default
    that port itself. `timeout` bounds the whole probe (connect, TLS, request, body). `client`
    should come from `probe_client()` and be shared; without one, one is made for this probe. `clock` stamps the answer; latency is always measured in real time, as it is
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
                judged = await _http(host, port, spec, client)
    except TimeoutError:
        judged = (False, None, f"timeout after {float(timeout)} s", None)
    except (OSError, BadResponse) as exc:
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
    transport, _ = await loop.create_connection(asyncio.Protocol, host.strip("[]"), port)
    try:
        if accepted is not None and not await accepted():
            raise ConnectionError("the port is forwarded but the machine did not accept the connection")
    finally:
        close_with_reset(transport)


async def _http(host: str, port: int, spec: ProbeSpec, client: Prober | None) -> _Judged:
    tls = (client or Prober()).tls if spec.protocol == "https" else None
    # A binary probe is judged by its status line alone; only rich health reads the body.
    status, body = await http_get(host.strip("[]"), port, spec.request_path or "/", tls=tls,
                                  read_body=spec.rich, limit=MAX_BODY_BYTES)
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
    if isinstance(exc, BadResponse):
        return str(exc)
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False
