"""Health probing: probes per second against 1,000 local HTTP endpoints.

    .venv/bin/python bench/probes.py [--quick] [--duration S] [--concurrency N] [--endpoints N]

Goal (issue 7): >= 10,000 HTTP probes/s on 2 cores, so one server watches 50,000 instances at a
5 s probe interval.

The endpoints: ONE separate server process (so it runs on the other core), a bare asyncio.Protocol
that answers any request with a fixed `200` and a small JSON body, `Connection: close`, then
closes. It listens on 1,000 loopback addresses (127.77.x.y, one port), as 1,000 instances would
have 1,000 addresses. Distinct addresses also give every (source, destination) pair its own
ephemeral-port space, so the TIME_WAIT sockets that fresh connections leave behind on loopback
cannot exhaust the ports. The server uses uvloop when it is installed (it is the cheap side).

The prober side runs in this process on uvloop when installed, as `scaleset serve` does
(`--prober-loop asyncio` for asyncio's own loop), and probes the endpoints round-robin with `--concurrency` probes in flight for `--duration` seconds,
one phase after the other:

1. scaleset HTTP: `probe_once(host, ProbeSpec("http", port, "/health"), client=<one shared
   probe_client()>)`, whatever implementation `scaleset.health.probing` has at the time;
2. httpx baseline: one httpx.AsyncClient(verify=False, trust_env=False, keep-alive off,
   `Connection: close`) doing the same GET and checking for 200 (what scaleset used before);
3. TCP: `probe_once(host, ProbeSpec("tcp", port))`, for reference.

Per phase: probes/s (completed probes / wall time), errors, p50/p99 latency (wall time around each
call, so it includes waiting for the loop), and CPU per probe of each process. Figures are only
comparable within one run; a MISS of the goal is reported, never an exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import itertools
import os
import re
import resource
import select
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import _common
from _common import header, ratio

GOAL = 10_000.0  # HTTP probes/s
INTERVAL = 5.0  # s between two probes of one instance
PORT = 8080
PATH = "/health"
TIMEOUT = 2.0  # s, per probe (probe_once's default)
BODY = b'{"status":"ok"}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(BODY), BODY))


def raise_open_files() -> int:
    """Raise the soft open-files limit to the hard one; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def addresses(count: int) -> list[str]:
    """127.77.0.1 ... : 250 per /24, so no address ends in .0 or .255."""
    return [f"127.77.{i // 250}.{i % 250 + 1}" for i in range(count)]


# -- the server process

class Responder(asyncio.Protocol):
    """Answers the first complete request head with RESPONSE and closes (the server closes first)."""

    __slots__ = ("transport", "buffer")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" in self.buffer:
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        pass  # TCP probes and early aborts reset the connection: expected, nothing to do


async def serve(count: int, port: int) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, context: None)  # resets from probers are not news
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    servers = []
    for host in addresses(count):
        try:
            servers.append(await loop.create_server(Responder, host, port, backlog=1024, reuse_address=True))
        except OSError as error:
            print(f"cannot listen on {host}:{port}: {error}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None
    print(f"ready {count} {port}", flush=True)
    await stop
    for server in servers:
        server.close()


def server_main(count: int, port: int) -> int:
    raise_open_files()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(count, port))
    else:
        uvloop.run(serve(count, port))
    return 0


class Server:
    """The endpoint server as a child process (this script with --serve)."""

    def __init__(self, count: int, port: int) -> None:
        self.count, self.port = count, port
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", "--endpoints", str(self.count),
                                      "--port", str(self.port)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("ready "):
            raise RuntimeError(f"the endpoint server did not start (exit status {self.proc.poll()}, said {line!r})")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def ephemeral_ports() -> str:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return "unknown"
    return f"{low}-{high} (per source/destination address pair)"


def uvloop_version() -> str | None:
    try:
        import uvloop
    except ImportError:
        return None
    return getattr(uvloop, "__version__", "unknown version")


# -- the prober side

Probe = Callable[[str], Awaitable[str | None]]  # host -> None when healthy, else why not


@dataclass
class Phase:
    name: str
    probes: int
    errors: collections.Counter[str]
    wall: float
    latencies: list[float]  # s, sorted
    client_cpu: float  # s
    server_cpu: float  # s

    @property
    def rate(self) -> float:
        return self.probes / self.wall if self.wall else float("nan")

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        return self.latencies[min(len(self.latencies) - 1, int(p / 100 * len(self.latencies)))]


async def run_phase(name: str, probe: Probe, hosts: list[str], duration: float, concurrency: int,
                    server: Server) -> Phase:
    counter = itertools.count()
    latencies: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    n = len(hosts)
    gc.collect()

    async def worker() -> None:
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                return
            error = await probe(hosts[next(counter) % n])
            latencies.append(time.perf_counter() - t0)
            if error is not None:
                errors[error] += 1

    cpu0, server0 = time.process_time(), server.cpu_seconds()
    start = time.perf_counter()
    end = start + duration
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    cpu, server_cpu = time.process_time() - cpu0, server.cpu_seconds() - server0
    latencies.sort()
    return Phase(name, len(latencies), errors, wall, latencies, cpu, server_cpu)


def report(phase: Phase) -> None:
    def per_probe(cpu: float) -> str:
        return f"{cpu / phase.probes * 1e6:.0f} us" if phase.probes else "n/a"

    print(f"{phase.name:<16} {phase.rate:>9,.0f}/s  {phase.probes:>8,} probes  {sum(phase.errors.values()):>6,} errors"
          f"  p50 {phase.percentile(50) * 1000:6.1f} ms  p99 {phase.percentile(99) * 1000:6.1f} ms"
          f"  CPU/probe: prober {per_probe(phase.client_cpu)}, server {per_probe(phase.server_cpu)}"
          f"  (prober {phase.client_cpu / phase.wall:.0%}, server {phase.server_cpu / phase.wall:.0%} of a core)",
          flush=True)
    for error, count in phase.errors.most_common(3):
        print(f"    {count:>8,} x {error}")


def prober_implementation(client: object) -> str:
    """Which HTTP prober scaleset has right now: the shared client's type, and whether probing.py
    imports httpx."""
    import scaleset.health.probing as probing

    source = Path(probing.__file__).read_text()
    uses_httpx = bool(re.search(r"^\s*(import httpx|from httpx\b)", source, re.M))
    kind = "httpx" if uses_httpx else "own asyncio code, no httpx"
    return f"{type(client).__module__}.{type(client).__qualname__} (probing.py: {kind})"


async def run(hosts: list[str], port: int, duration: float, concurrency: int, server: Server) -> dict[str, Phase]:
    import httpx

    from scaleset.health.probe_spec import ProbeSpec
    from scaleset.health.probing import probe_client, probe_once

    http_spec = ProbeSpec("http", port, PATH)
    tcp_spec = ProbeSpec("tcp", port)
    phases: dict[str, Phase] = {}

    async with probe_client() as client, httpx.AsyncClient(
        verify=False, trust_env=False, limits=httpx.Limits(max_keepalive_connections=0),
        headers={"Connection": "close"},
    ) as baseline:
        async def scaleset_http(host: str) -> str | None:
            answer = await probe_once(host, http_spec, client=client)
            return None if answer.ok else (answer.error or f"HTTP {answer.status_code}")

        async def httpx_http(host: str) -> str | None:
            try:
                response = await baseline.get(f"http://{host}:{port}{PATH}", timeout=TIMEOUT)
            except httpx.HTTPError as error:
                return f"{type(error).__name__}: {error}"[:120]
            return None if response.status_code == 200 else f"HTTP {response.status_code}"

        async def scaleset_tcp(host: str) -> str | None:
            answer = await probe_once(host, tcp_spec)
            return None if answer.ok else (answer.error or "not ok")

        kinds: list[tuple[str, Probe]] = [
            ("scaleset HTTP", scaleset_http), ("httpx baseline", httpx_http), ("scaleset TCP", scaleset_tcp)]
        print(f"scaleset HTTP prober: {prober_implementation(client)}")
        # One probe of each kind first: a setup that cannot answer at all is a broken run, not a figure.
        for name, probe in kinds:
            if (error := await probe(hosts[0])) is not None:
                raise RuntimeError(f"{name}: the first probe of {hosts[0]}:{port} failed: {error}")
        print(f"{len(hosts):,} endpoints, {concurrency} probes in flight, {duration:g} s per phase, "
              f"timeout {TIMEOUT:g} s per probe")
        print(flush=True)
        for name, probe in kinds:
            phases[name] = await run_phase(name, probe, hosts, duration, concurrency, server)
            report(phases[name])
            await asyncio.sleep(1.0)  # let the last connections close before the next phase
    return phases


def summary(phases: dict[str, Phase]) -> None:
    ours, base, tcp = phases["scaleset HTTP"], phases["httpx baseline"], phases["scaleset TCP"]
    print()
    print(f"ratio scaleset HTTP / httpx baseline: {ratio(ours.rate, base.rate):.2f} "
          f"({ours.rate:,.0f}/s vs {base.rate:,.0f}/s)")
    print(f"ratio scaleset HTTP / goal: {ratio(ours.rate, GOAL):.2f} "
          f"({ours.rate:,.0f}/s, goal >= {GOAL:,.0f}/s: {'PASS' if ours.rate >= GOAL else 'MISS'})")
    print(f"ratio scaleset TCP / scaleset HTTP: {ratio(tcp.rate, ours.rate):.2f}")
    print(f"instances watchable at a {INTERVAL:g} s interval: {ours.rate * INTERVAL:,.0f} (scaleset HTTP), "
          f"{base.rate * INTERVAL:,.0f} (httpx baseline), {tcp.rate * INTERVAL:,.0f} (scaleset TCP)")
    errors = {p.name: sum(p.errors.values()) for p in phases.values() if p.errors}
    if errors:
        print("errors: " + ", ".join(f"{name} {count:,}" for name, count in errors.items())
              + " (a probe that fails is still counted: the rate is of answers, good or bad)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s per phase (the CI smoke form)")
    parser.add_argument("--duration", type=float, help="seconds per phase (default 10; --quick 2)")
    parser.add_argument("--concurrency", type=int, default=200, help="probes in flight (default 200)")
    parser.add_argument("--endpoints", type=int, default=1000, help="HTTP endpoints (default 1000)")
    parser.add_argument("--port", type=int, default=PORT, help=f"the endpoints' port (default {PORT})")
    parser.add_argument("--prober-loop", choices=("uvloop", "asyncio"), default=None,
                        help="the prober's event loop (default: uvloop when installed, as `scaleset serve` runs)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args()
    if args.serve:
        return server_main(args.endpoints, args.port)
    duration = args.duration if args.duration is not None else (2.0 if args.quick else 10.0)
    if not 1 <= args.endpoints <= 250 * 256:
        parser.error("--endpoints must be between 1 and 64000")

    open_files = raise_open_files()
    uv = uvloop_version()
    prober_loop = args.prober_loop or ("uvloop" if uv else "asyncio")
    header("Health probing: probes per second", {
        "endpoints": f"{args.endpoints:,} x GET {PATH} on 127.77.x.y:{args.port}, one server process "
                     f"({'uvloop ' + uv if uv else 'asyncio'}, bare Protocol, fixed 200 + Connection: close)",
        "prober": f"this process, {prober_loop} event loop, {args.concurrency} probes in flight",
        "open files": f"{open_files:,} (soft limit raised to the hard limit, both processes)",
        "ephemeral ports": ephemeral_ports(),
    })
    server = Server(args.endpoints, args.port)

    def terminated(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the clean-up below, unlike the default

    signal.signal(signal.SIGTERM, terminated)
    started = time.monotonic()
    try:
        server.start()
        probing = run(addresses(args.endpoints), args.port, duration, args.concurrency, server)
        if prober_loop == "uvloop":
            import uvloop

            phases = uvloop.run(probing)
        else:
            phases = asyncio.run(probing)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        server.stop()
    summary(phases)
    print(f"done in {time.monotonic() - started:.0f} s; load average at end: {_common.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
