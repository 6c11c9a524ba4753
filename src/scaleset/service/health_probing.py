"""The health watch's probing of one instance: a probe at its interval, a settling instance (one a
run waits on) probed more often until it answers healthy, and each answer taken by its tracker.

A part of `HealthMonitor` (its base class), apart so each reads on its own: the watch decides
what is due; this carries a probe out and says when the next one is.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from scaleset.health.answers import ProbeAnswer
from scaleset.health.probe_spec import ProbeSpec
from scaleset.health.http_probe import Prober
from scaleset.health.probing import probe_client
from scaleset.health.verdicts import HealthState
from scaleset.service.context import Context
from scaleset.service.watched import Watched


class Probing:
    ctx: Context
    _client: Prober | None
    _settling: int  # instances probed as they settle (_settle)
    _watched: dict[tuple[str, int], Watched]
    _wakeups: list[datetime]
    _unwatch: Callable[[], None] | None
    _interval: Callable[[ProbeSpec], float]
    _schedule: Callable[[tuple[str, int], datetime], None]
    _state_changed: Callable[[str, HealthState | None, HealthState | None], None]

    def _next_probe(self, watched: Watched, scale_set_key: str, machine_key: str, spec: ProbeSpec,
                    probed: datetime) -> None:
        """After a probe made at `probed`: the next one an interval on, or later while the driver
        vouches the answer holds, or (quiet) once it reports a change."""
        step = self._interval(spec)
        wait = self._quiet_for(watched, machine_key, step)
        watched.next_probe = probed + timedelta(seconds=step if wait is None else wait)
        watched.quiet = wait is None
        if not watched.quiet:
            self._schedule((scale_set_key, watched.row.instance_id), watched.next_probe)

    def _quiet_for(self, watched: Watched, machine_key: str, step: float) -> float | None:
        """Seconds to the next of probes `step` apart that could find a new answer (None: none
        can before the driver reports a change). Only a driver that reports changes knows; and
        only once the tracker is steady do more of the same answers change nothing."""
        if self._unwatch is None or watched.tracker is None or not watched.tracker.steady:
            return step
        holds = self.ctx.driver.quiet_until(machine_key) - self.ctx.clock.monotonic()
        if holds == math.inf:
            return None
        return max(step, math.ceil(holds / step) * step)  # in step with the probes it skips

    async def _probe(self, watched: Watched, scale_set_key: str, machine_key: str, spec: ProbeSpec) -> None:
        probed = self.ctx.clock.now()
        try:
            self._observe(watched, scale_set_key, await self._answer(machine_key, spec))
        finally:
            watched.probing = False
            self._next_probe(watched, scale_set_key, machine_key, spec, probed)

    async def _settle(self, watched: Watched, scale_set_key: str, machine_key: str, spec: ProbeSpec) -> None:
        """Probe an instance a run waits on until it answers healthy, every settle interval rather
        than every probe interval, so the batch is seen healthy as soon as it is; until it is acted
        on again, or the run ends."""
        key = (scale_set_key, watched.row.instance_id)
        self._settling += 1
        later: float | None = None  # seconds until the driver says the answer could change
        try:
            while self._watched.get(key) is watched and watched.upgrading and watched.row.pending_action is None:
                self._observe(watched, scale_set_key, await self._answer(machine_key, spec))
                if watched.settled:
                    break
                step = self._settle_step(spec)
                wait = self._quiet_for(watched, machine_key, step)
                if wait is None or wait > step:
                    # Nothing can change for a while (or until the driver reports it): the watch
                    # takes it up again then, rather than a task per instance waiting meanwhile.
                    later = wait
                    break
                await self.ctx.clock.sleep(step)
        finally:
            self._settling -= 1
            watched.probing = False
            now = self.ctx.clock.now()
            if later is None:
                self._next_probe(watched, scale_set_key, machine_key, spec, now)
            else:
                self._wake_for(key, watched, now + timedelta(seconds=later))

    def _answered(self, watched: Watched, scale_set_key: str, machine_key: str, spec: ProbeSpec,
                  answer: ProbeAnswer, settle: bool, now: datetime) -> None:
        """What `_probe`, or one round of `_settle`, does with an answer the driver gave at once."""
        self._observe(watched, scale_set_key, answer)
        if settle and not watched.settled:
            wait = self._quiet_for(watched, machine_key, self._settle_step(spec))
            if wait is not None:
                self._wake_for((scale_set_key, watched.row.instance_id), watched, now + timedelta(seconds=wait))
                return
        self._next_probe(watched, scale_set_key, machine_key, spec, now)

    def _settle_step(self, spec: ProbeSpec) -> float:
        """Seconds between probes of a settling instance: all settling cost at most the settle rate."""
        settings = self.ctx.settings
        return min(self._interval(spec), max(settings.settle_probe_interval, self._settling / settings.settle_probe_rate))

    def _wake_for(self, slot: tuple[str, int], watched: Watched, when: datetime) -> None:
        """A settling instance's next probe, at `when`: the watch wakes then, not at its next tick."""
        watched.next_probe, watched.quiet = when, False
        self._schedule(slot, when)
        heapq.heappush(self._wakeups, when)

    def _observe(self, watched: Watched, scale_set_key: str, answer: ProbeAnswer) -> None:
        if watched.tracker is None:
            return
        before = watched.state
        state = watched.tracker.record(answer)
        watched.settled |= state == HealthState.HEALTHY
        if state != before:
            self._state_changed(scale_set_key, before, state)

    async def _answer(self, machine_key: str, spec: ProbeSpec) -> ProbeAnswer:
        if self._client is None:
            self._client = probe_client()
        return await self.ctx.driver.probe(machine_key, spec, client=self._client, clock=self.ctx.clock)
