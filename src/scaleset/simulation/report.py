"""Many seeds across worker processes, and what is said about them.

Each worker process keeps one Workbench (template store, artifacts) for all its seeds. Seeds are
handed out in small chunks, so a slow seed does not leave the other workers idle at the end.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from scaleset.simulation.seed_run import SeedResult, run_seed
from scaleset.simulation.workbench import Workbench

_bench: Workbench | None = None


def replay_command(seed: int) -> str:
    return f"scaleset sim --seeds 1 --start {seed} --trace"


def _worker_bench() -> Workbench:
    global _bench
    if _bench is None:
        # The engine logs every simulated driver failure as a warning: thousands of lines that say
        # nothing the violations do not.
        logging.disable(logging.CRITICAL)
        _bench = Workbench()
        atexit.register(_bench.close)
    return _bench


def _one(args: tuple[int, bool]) -> SeedResult:
    seed, keep_trace = args
    return run_seed(seed, _worker_bench(), keep_trace=keep_trace)


def run_seeds(seeds: range, *, jobs: int, keep_trace: bool = False) -> Iterator[SeedResult]:
    """Results as they come (in no particular order with several jobs)."""
    work = [(seed, keep_trace) for seed in seeds]
    if jobs <= 1 or len(work) <= 1:
        for item in work:
            yield _one(item)
        return
    # fork: the workers start with everything imported already.
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    chunk = max(1, min(16, len(work) // (jobs * 8)))
    with context.Pool(jobs, maxtasksperchild=None) as pool:
        yield from pool.imap_unordered(_one, work, chunksize=chunk)


@dataclass
class Summary:
    ran: int = 0
    failed: list[SeedResult] = field(default_factory=list)
    wall: float = 0.0
    virtual: float = 0.0
    runs: int = 0
    batches: int = 0
    crashes: int = 0

    def add(self, result: SeedResult) -> None:
        self.ran += 1
        self.virtual += result.virtual_seconds
        self.runs += result.runs
        self.batches += result.batches
        self.crashes += result.crashes
        if result.violations:
            self.failed.append(result)


def simulate(seeds: range, *, jobs: int, echo: Callable[[str], None], keep_trace: bool = False,
             progress_every: float = 5.0) -> Summary:
    summary = Summary()
    started = last = time.monotonic()
    for result in run_seeds(seeds, jobs=jobs, keep_trace=keep_trace):
        summary.add(result)
        if keep_trace:
            echo(f"--- seed {result.seed} trace (digest {result.digest[:16]})")
            for line in result.trace:
                echo(f"  {line}")
        for violation in result.violations:
            echo(f"VIOLATION seed {result.seed}: {violation}")
        now = time.monotonic()
        if now - last >= progress_every:
            last = now
            echo(f"... {summary.ran}/{len(seeds)} seeds, {summary.ran / (now - started):.1f} seeds/s, "
                 f"{len(summary.failed)} failing")
    summary.wall = time.monotonic() - started
    return summary


def describe(summary: Summary, total: int) -> list[str]:
    rate = summary.ran / summary.wall if summary.wall > 0 else 0.0
    lines = [f"ran {summary.ran} of {total} seeds in {summary.wall:.1f} s ({rate:.1f} seeds/s): "
             f"{summary.runs} upgrade runs, {summary.batches} batches, {summary.crashes} server crashes, "
             f"{summary.virtual / 3600:.1f} virtual hours"]
    if not summary.failed:
        lines.append("no violations")
        return lines
    lines.append(f"{len(summary.failed)} seed(s) violated an invariant:")
    for result in sorted(summary.failed, key=lambda r: r.seed):
        for violation in result.violations:
            lines.append(f"  seed {result.seed}: {violation}")
        lines.append(f"    replay: {replay_command(result.seed)}")
    return lines


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
