"""Helpers shared by the benchmarks in bench/ (standard library only; not a benchmark itself).

- `header()`: the machine, date and command, printed before a benchmark's figures.
- `poll_http()`: when an HTTP endpoint first gives an answer we want, to within the poll interval.
- `median()`, `ratio()`, `seconds()`: small formatting and statistics helpers.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


# -- the machine and the run

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_mib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def tool_version(argv: Sequence[str]) -> str:
    """The first line a program prints for its version, or why there is none."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unavailable ({error})"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def command_line() -> str:
    """How this benchmark was started, with the interpreter relative to the current directory."""
    python = sys.executable
    relative = os.path.relpath(python)
    if not relative.startswith(".."):
        python = relative if "/" in relative else "./" + relative
    return shlex.join([python, *sys.argv])


def header(title: str, extra: dict[str, str] | None = None) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    memory = memory_mib()
    rows = {
        "date": now.isoformat().replace("+00:00", "Z"),
        "command": command_line(),
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores",
        "memory": f"{memory} MiB" if memory is not None else "unknown",
        "os": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        "load average": f"{load_average()} (at start)",
        **(extra or {}),
    }
    print(f"# {title}")
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"{key + ':':<{width + 1}} {value}")
    print(flush=True)


# -- numbers

def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def seconds(value: float) -> str:
    return f"{value:.2f} s"


# -- HTTP polling

@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes
    at: float  # time.monotonic() when the whole answer had arrived


async def http_get(host: str, port: int, path: str, *, timeout: float) -> HttpAnswer | None:
    """One GET over a fresh connection (HTTP/1.0, read to EOF); None when it fails or times out."""

    async def go() -> HttpAnswer | None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            data = await reader.read()
        finally:
            writer.close()
        at = time.monotonic()
        head, _, body = data.partition(b"\r\n\r\n")
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) < 2 or not parts[1].isdigit():
            return None
        return HttpAnswer(int(parts[1]), body, at)

    try:
        return await asyncio.wait_for(go(), timeout)
    except (OSError, asyncio.TimeoutError, EOFError):
        return None


async def poll_http(
    address: Callable[[], Awaitable[tuple[str, int] | None]],
    path: str,
    wanted: Callable[[HttpAnswer], bool],
    *,
    interval: float = 0.05,
    attempt_timeout: float = 1.0,
    slow_timeout: float = 15.0,
    deadline: float = 120.0,
) -> HttpAnswer:
    """The first answer `wanted` accepts, polling `path` every `interval` with a fresh connection.

    A new attempt starts every `interval` whether or not earlier ones have finished, so a
    connection that hangs does not blur the result: through a user-mode (slirp) port forward, a
    connection made while the guest's network is not yet up is accepted by QEMU and then hangs
    until slirp's retransmissions reach the guest (seconds later). Those attempts give up after
    `attempt_timeout`; one attempt with `slow_timeout` is always under way as well, so an app
    that answers slowly (a loaded host) is still seen. Raises TimeoutError after `deadline` s.
    """
    end = time.monotonic() + deadline
    attempts: set[asyncio.Task[HttpAnswer | None]] = set()
    slow: asyncio.Task[HttpAnswer | None] | None = None

    async def attempt(timeout: float) -> HttpAnswer | None:
        where = await address()
        if where is None:
            await asyncio.sleep(timeout if timeout < interval else interval)
            return None
        return await http_get(*where, path, timeout=timeout)

    try:
        next_start = time.monotonic()
        while True:
            now = time.monotonic()
            if now > end:
                raise TimeoutError(f"no wanted answer on {path} within {deadline:.0f} s")
            if slow is None or slow.done():
                slow = asyncio.create_task(attempt(slow_timeout))
                attempts.add(slow)
            if now >= next_start:
                attempts.add(asyncio.create_task(attempt(attempt_timeout)))
                next_start = now + interval
            done, _ = await asyncio.wait(attempts, timeout=max(0.0, next_start - time.monotonic()),
                                         return_when=asyncio.FIRST_COMPLETED)
            found = [a for t in done if (a := t.result()) is not None and wanted(a)]
            attempts -= done
            if found:
                return min(found, key=lambda a: a.at)
    finally:
        for task in attempts:
            task.cancel()
        await asyncio.gather(*attempts, return_exceptions=True)
