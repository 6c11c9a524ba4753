"""Load for bench/api.py (a helper, not a benchmark): saturation with wrk (or a Python stand-in
when wrk cannot be had), and an open-loop generator at a fixed rate.

- `ensure_wrk()`: wrk's path, installing Debian's package when root with apt-get and it is absent
  (as the Makefile's vm-tools target does for QEMU); None when it cannot be had.
- `saturate()`: `wrk -t1 -cC -dD --latency` against one or several paths (several: a Lua script
  cycles through them, one per request); requests/s and p50/p99 as wrk reports them.
- `saturate_python()`: the stand-in, C keep-alive connections each sending its next request when
  the last is answered; its own CPU (~0.1-0.3 ms a request) caps what it can show.
- `fixed_rate()`: request n due at start + n/rate whatever became of the earlier ones; latency from
  the due time to the whole answer, so a server that falls behind cannot hide it; at most
  `max_in_flight` outstanding, a request that cannot go out on time is counted missed, not sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _http_client import Client, ConnectionLost

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass
class Result:
    rps: float
    p50: float  # seconds
    p99: float
    requests: int = 0
    bad: int = 0  # answers other than 2xx/3xx, plus socket errors
    notes: list[str] = field(default_factory=list)


def ensure_wrk() -> tuple[str | None, str]:
    """(wrk's path or None, what was done or why there is none)."""
    found = shutil.which("wrk")
    if found:
        return found, "found"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk from Debian's packages (apt-get install wrk)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"]):
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                return None, f"apt-get failed: {(done.stderr or done.stdout).strip()[-300:]}"
        found = shutil.which("wrk")
        return (found, "installed from Debian's packages") if found else (None, "apt-get installed no wrk")
    return None, "wrk is not installed and this is not root with apt-get: apt-get install wrk"


def _seconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> Result:
    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M).group(1))  # type: ignore[union-attr]
    p50 = _seconds(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _seconds(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"^\s+(\d+) requests in", output, re.M).group(1))  # type: ignore[union-attr]
    bad = 0
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        bad += int(found.group(1))
    if found := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        bad += sum(int(x) for x in found.groups())
    return Result(rps, p50, p99, requests, bad)


def _lua(paths: list[str]) -> str:
    listed = ",\n".join(f'  "{p}"' for p in paths)
    return (f"local paths = {{\n{listed}\n}}\nlocal i = 0\n"
            "request = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n")


def saturate(wrk: str, url: str, paths: list[str], headers: dict[str, str], *, connections: int, duration: float) -> Result:
    command = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    script = None
    if len(paths) > 1:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(_lua(paths))
        script.close()
        command += ["-s", script.name, url]
    else:
        command.append(url + paths[0])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=False)
    finally:
        if script is not None:
            Path(script.name).unlink()
    if done.returncode != 0 or "Requests/sec" not in done.stdout:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _run(coroutine):  # type: ignore[no-untyped-def]
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def saturate_python(url: str, paths: list[str], headers: dict[str, str], *, connections: int, duration: float) -> Result:
    async def go() -> Result:
        client = Client(url, ca="", headers=headers, timeout=10)
        await client.warm(connections)
        latencies: list[float] = []
        bad = 0
        end = time.monotonic() + duration

        async def worker(offset: int) -> None:
            nonlocal bad
            n = offset
            while time.monotonic() < end:
                started = time.monotonic()
                try:
                    answer = await client.request("GET", paths[n % len(paths)])
                    bad += answer.status >= 400
                except (ConnectionLost, OSError, TimeoutError):
                    bad += 1
                latencies.append(time.monotonic() - started)
                n += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(connections)))
        wall = time.monotonic() - started
        client.close()
        return Result(len(latencies) / wall, _percentile(latencies, 50), _percentile(latencies, 99), len(latencies), bad)

    return _run(go())


@dataclass
class RateResult:
    scheduled: int
    sent: int
    missed: int
    errors: int
    p50: float
    p99: float
    max: float


def fixed_rate(url: str, paths: list[str], headers: dict[str, str], *, rate: float, duration: float,
               max_in_flight: int = 64) -> RateResult:
    async def go() -> RateResult:
        client = Client(url, ca="", headers=headers, timeout=10)
        await client.warm(16)
        latencies: list[float] = []
        errors = missed = sent = in_flight = 0
        tasks: set[asyncio.Task[None]] = set()

        async def send(path: str, due: float) -> None:
            nonlocal errors, in_flight
            try:
                answer = await client.request("GET", path)
                errors += answer.status >= 400
            except (ConnectionLost, OSError, TimeoutError):
                errors += 1
            finally:
                in_flight -= 1
            latencies.append(time.monotonic() - due)

        count = int(rate * duration)
        start = time.monotonic() + 0.2
        for n in range(count):
            due = start + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if in_flight >= max_in_flight or time.monotonic() - due > 0.05:
                missed += 1
                continue
            in_flight += 1
            sent += 1
            task = asyncio.create_task(send(paths[n % len(paths)], due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        client.close()
        return RateResult(count, sent, missed, errors, _percentile(latencies, 50), _percentile(latencies, 99),
                          max(latencies, default=float("nan")))

    return _run(go())


def full_lists(url: str, first: str, headers: dict[str, str], *, count: int) -> tuple[list[float], int, int]:
    """Time `count` whole lists, one after another on one connection, following each page's nextLink:
    (seconds per list, pages per list, items per list)."""
    async def go() -> tuple[list[float], int, int]:
        client = Client(url, ca="", headers=headers, timeout=30)
        await client.warm(1)
        times: list[float] = []
        pages = items = 0
        for _ in range(count):
            started = time.monotonic()
            target: str | None = first
            pages = items = 0
            while target:
                answer = await client.request("GET", target)
                if answer.status != 200:
                    raise RuntimeError(f"GET {target}: {answer.status} {answer.body[:300]!r}")
                page = json.loads(answer.body)
                pages, items = pages + 1, items + len(page["value"])
                link = page.get("nextLink")
                target = link[len(url):] if link and link.startswith(url) else link
            times.append(time.monotonic() - started)
        client.close()
        return times, pages, items

    return _run(go())

