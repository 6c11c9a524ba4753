"""Who had the CPU, second by second (a helper for bench/load.py, not a benchmark).

Samples /proc once a second from a thread: the CPU time of named processes (the server, the load
generator) and of the whole machine, so a slow second can be told apart: the server busy with the
load (its own share near 100% of a core), or the host busy with something else (the rest of the
machine's busy time). Linux only; elsewhere it records nothing.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (all cores; idle and iowait excluded)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICKS


class CpuSampler:
    """`start(at, pids)` samples every second from time.time() `at`; `seconds` then holds, per
    whole second since `at`, the CPU used in it: {name: seconds, ..., "others": seconds}."""

    def __init__(self) -> None:
        self.seconds: dict[int, dict[str, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, at: float, pids: dict[str, list[int]]) -> None:
        self._thread = threading.Thread(target=self._run, args=(at, pids), name="cpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self, at: float, pids: dict[str, list[int]]) -> None:
        def sample() -> tuple[dict[str, float], float]:
            return {name: sum(process_cpu(pid) for pid in group) for name, group in pids.items()}, machine_busy()

        self._stop.wait(max(0.0, at - time.time()))
        before, busy_before = sample()
        second = 0
        while not self._stop.wait(max(0.0, at + second + 1 - time.time())):
            now, busy = sample()
            used = {name: now[name] - before[name] for name in pids}
            used["others"] = max(0.0, busy - busy_before - sum(used.values()))
            self.seconds[second] = used
            before, busy_before = now, busy
            second += 1
