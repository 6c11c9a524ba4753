"""Health, all the time: every instance of a scale set with automatic OS upgrades, Rolling mode or
an upgrade under way is probed at its probe's interval, and its verdict kept with its reasons.

The verdicts live in memory: they are observations, made again within a few probes after a
restart (until then an instance's health is unknown, and a run waits rather than guess).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from scaleset.clock import every
from scaleset.health.answers import ProbeAnswer
from scaleset.health.default_health import default_verdict
from scaleset.health.probe_spec import ProbeSpec
from scaleset.health.http_probe import Prober
from scaleset.health.probing import probe_client
from scaleset.health.tracker import HealthTracker
from scaleset.health.verdicts import HealthState, Verdict
from scaleset.model.scale_set import ScaleSetModel
from scaleset.service.context import Context
from scaleset.service.network import health_probe_of
from scaleset.store.tables import instances, scale_sets, upgrade_runs
from scaleset.upgrade.runs import ACTIVE

log = logging.getLogger(__name__)


@dataclass
class _Watched:
    """One instance under watch: its tracker, and what it was when the tracker was (re)set."""

    spec: ProbeSpec | None
    tracker: HealthTracker | None
    action_seq: int
    next_probe: datetime
    verdict: Verdict | None = None
    probing: bool = field(default=False)


class HealthMonitor:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._watched: dict[tuple[str, int], _Watched] = {}
        self._client: Prober | None = None
        self._task: asyncio.Task[None] | None = None
        self._probes: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(
            every(self.ctx.clock, lambda: self.ctx.settings.health_tick, self.look, what="health watch"))

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._probes) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    # -- what others read -----------------------------------------------------------------------

    def healthy(self, scale_set_key: str) -> dict[int, bool | None]:
        """True / False per instance; None while its verdict is not settled (unknown, initializing)."""
        found: dict[int, bool | None] = {}
        for (key, instance_id), watched in list(self._watched.items()):
            if key == scale_set_key:
                verdict = watched.verdict
                if verdict is None or verdict.state in (HealthState.UNKNOWN, HealthState.INITIALIZING):
                    found[instance_id] = None
                else:
                    found[instance_id] = verdict.state == HealthState.HEALTHY
        return found

    def verdict(self, scale_set_key: str, instance_id: int) -> Verdict | None:
        watched = self._watched.get((scale_set_key, instance_id))
        return watched.verdict if watched else None

    # -- the watch ------------------------------------------------------------------------------

    async def look(self) -> None:
        """One round: refresh what is watched, probe what is due, judge the rest by state."""
        now = self.ctx.clock.now()
        seen: set[tuple[str, int]] = set()
        with self.ctx.db.reading() as conn:
            running = {row.scale_set_key for row in conn.execute(
                sa.select(upgrade_runs.c.scale_set_key).where(upgrade_runs.c.state.in_(ACTIVE))).all()}
            for scale_set in conn.execute(sa.select(scale_sets)).all():
                model = ScaleSetModel.from_body(scale_set.name, scale_set.body)
                if not (model.automatic_os_upgrade or model.upgrade_mode == "Rolling" or scale_set.key in running):
                    continue
                spec = self._spec(conn, scale_set.body, model)
                for row in conn.execute(sa.select(instances).where(instances.c.scale_set_key == scale_set.key)).all():
                    seen.add((scale_set.key, row.instance_id))
                    self._consider(scale_set.key, row, spec, now)
        for gone in set(self._watched) - seen:
            del self._watched[gone]

    def _spec(self, conn: sa.Connection, body: dict[str, Any], model: ScaleSetModel) -> ProbeSpec | None:
        try:
            spec = health_probe_of(conn, body, model.health_probe_id)
        except ValueError as error:
            log.warning("health probe of a scale set is malformed: %s", error)
            return None
        return spec

    def _consider(self, scale_set_key: str, row: sa.Row[Any], spec: ProbeSpec | None, now: datetime) -> None:
        key = (scale_set_key, row.instance_id)
        watched = self._watched.get(key)
        if watched is None or watched.spec != spec or watched.action_seq != row.action_seq:
            # New, re-specified, or acted upon (reimaged, restarted): its health starts over.
            host = row.private_ip if self.ctx.driver.reached_at_private_ip else None
            tracker = HealthTracker(spec, host=host, started=now) if spec is not None else None
            watched = _Watched(spec=spec, tracker=tracker, action_seq=row.action_seq, next_probe=now)
            self._watched[key] = watched
        if spec is None or watched.tracker is None:
            watched.verdict = default_verdict(row.power_state, row.extensions or [], now=now)
            return
        if row.pending_action is not None:
            # Under an action the machine is going away and coming back: nothing to learn yet.
            watched.verdict = watched.tracker.verdict(now)
            return
        if watched.verdict is None:
            watched.verdict = watched.tracker.verdict(now)
        if now >= watched.next_probe and not watched.probing:
            watched.probing = True
            # The server may probe more often than the probe says (tests and demos shorten every wait).
            interval = self.ctx.settings.probe_interval or spec.interval_seconds
            watched.next_probe = now + timedelta(seconds=interval)
            task = asyncio.create_task(self._probe(watched, row.machine_key, spec))
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)

    async def _probe(self, watched: _Watched, machine_key: str, spec: ProbeSpec) -> None:
        try:
            answer = await self._answer(machine_key, spec)
            if watched.tracker is not None:
                watched.verdict = watched.tracker.observe(answer)
        finally:
            watched.probing = False

    async def _answer(self, machine_key: str, spec: ProbeSpec) -> ProbeAnswer:
        if self._client is None:
            self._client = probe_client()
        return await self.ctx.driver.probe(machine_key, spec, client=self._client, clock=self.ctx.clock)
