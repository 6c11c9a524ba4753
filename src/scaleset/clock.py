"""Time, injected.

Everything that waits takes a `Clock`. `RealClock` is wall time. `VirtualClock` is for tests and
the simulator: time stands still while any task can run, and jumps straight to the next deadline
when every task is waiting on the clock, so a five-minute wait costs microseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock."""


class RealClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """A clock that advances only when every task is idle.

    `sleep` registers a deadline. A watcher task yields to the event loop until nothing else is
    ready to run, then moves time to the earliest deadline and wakes its sleepers. Tasks blocked on
    something other than the clock (a lock, a queue, real IO) are not ready either, so tests that
    mix real IO with virtual time must await that IO before relying on the clock standing still.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._watcher: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._elapsed + max(0.0, seconds), next(self._order), future))
        self._ensure_watcher()
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward by hand, waking whoever's deadline passed."""
        self._elapsed += seconds
        self._wake_due()

    def _ensure_watcher(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while self._sleepers:
            # Let every runnable task run, until the loop has stayed idle for a few rounds (a woken
            # task may wake others, and IO that completes at once gets its turn), or for at most
            # 50 rounds (another clock's watcher is always runnable). Most jumps of time then cost
            # a few turns of the loop, not 50.
            idle = 0
            for _ in range(50):
                await asyncio.sleep(0)
                idle = 0 if _others_runnable() else idle + 1
                if idle >= _IDLE_ROUNDS:
                    break
            self._drop_cancelled()
            if not self._sleepers:
                return
            if _others_runnable():
                continue
            deadline = self._sleepers[0][0]
            self._elapsed = max(self._elapsed, deadline)
            self._wake_due()

    def _drop_cancelled(self) -> None:
        # Only from the top: a cancelled sleep deeper in the heap is skipped when its deadline comes
        # (rebuilding the heap on every turn cost more than all the rest with thousands of sleepers).
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)


_IDLE_ROUNDS = 3


def _others_runnable() -> bool:
    """True while the loop has callbacks queued besides our own next step."""
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    return bool(ready)


async def sleep_or_until(clock: Clock, seconds: float, event: asyncio.Event, *, gather: float = 0.0) -> None:
    """Sleep `seconds` on `clock`, or less when `event` is set meanwhile (or already): then
    `gather` seconds more, so that a burst of sets is seen as one."""
    if not event.is_set():
        waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(clock.sleep(seconds))]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
    if event.is_set() and gather:
        await clock.sleep(gather)


async def every(clock: Clock, seconds: Callable[[], float], step: Callable[[], Awaitable[None]], *, what: str,
                nudge: asyncio.Event | None = None, gather: float = 0.0) -> None:
    """Run `step` forever, `seconds()` apart on `clock`, and whenever `nudge` is set, `gather`
    seconds after (so that a burst of nudges costs one step); a failing step is logged, never fatal."""
    log = logging.getLogger(__name__)
    while True:
        if nudge is not None:
            nudge.clear()  # a nudge from here on runs the step again
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed", what)
        if nudge is None:
            await clock.sleep(seconds())
        else:
            await sleep_or_until(clock, seconds(), nudge, gather=gather)
