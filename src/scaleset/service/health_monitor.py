"""Health, all the time: every instance of a scale set with automatic OS upgrades, Rolling mode or
an upgrade under way is probed at its probe's interval, and its verdict kept with its reasons.

The verdicts live in memory: they are observations, made again within a few probes after a
restart (until then an instance's health is unknown, and a run waits rather than guess). A scale
set is probed only by the replica holding its lease, which also writes each verdict to the store
when its state changes (and every half minute while it does not, so the evidence others show stays
recent), so the other replicas can show it.

This module decides what to read and what is due; probing one instance and taking its answer is
`health_probing` (the base class).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from scaleset.clock import every
from scaleset.health.default_health import default_verdict
from scaleset.health.probe_spec import ProbeSpec
from scaleset.health.http_probe import Prober
from scaleset.health.tracker import HealthTracker
from scaleset.health.verdicts import HealthState, Verdict, gate
from scaleset.service.context import Context
from scaleset.store.leases import scale_set_lease
from scaleset.service.health_probing import Probing
from scaleset.service.health_store import Bodies, SharedVerdicts, fingerprints, stored_verdicts, watch_rows
from scaleset.service.watched import Seen, Watched
from scaleset.store.tables import upgrade_runs
from scaleset.upgrade.runs import ACTIVE

# Seconds between reads of the store when nothing nudged the watch: what changes without a nudge
# here is another replica's writes (intents for our scale sets, a PATCH of a probe).
_REREAD = 10.0


class HealthMonitor(Probing):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._watched: dict[tuple[str, int], Watched] = {}
        self._by_set: dict[str, dict[int, Watched]] = {}  # the same, by scale set: what a run asks for
        self._client: Prober | None = None
        self._task: asyncio.Task[None] | None = None
        self._probes: set[asyncio.Task[None]] = set()
        self._shared = SharedVerdicts(ctx)
        self._unwritten = False  # whether a verdict changed since the store was last written
        self._look_now = asyncio.Event()
        self._read_at: float | None = None  # clock.monotonic() of the last read of the store
        # Scale sets whose instances to read at the next look: those of the ids given, or (None) all.
        self._reread: dict[str, set[int] | None] = {}
        self._prints: dict[str, tuple[Any, ...]] = {}  # a fingerprint of each watched scale set's instances
        self._specs: dict[str, ProbeSpec | None] = {}  # the probe each watched scale set's instances had
        self._running: set[str] = set()  # scale sets with a run under way, at the last read
        self._keys: dict[str, str] = {}  # each watched scale set's key, one string for all its instances
        self._bodies = Bodies()
        self._settling = 0  # instances probed as they settle (_settle)
        # (next probe, tie-break, instance): what comes due between two reads of the store. An entry
        # whose instance was reset or went meanwhile is skipped when it comes up.
        self._due: list[tuple[datetime, int, tuple[str, int]]] = []
        self._order = itertools.count()
        # Called with a scale set's key when a run's view of one of its instances' health changed,
        # and whether that instance is healthy now.
        self.changed: list[Callable[[str, bool], None]] = []
        # A driver that reports its machines' changes spares probes while an answer cannot change.
        self._unwatch = ctx.driver.watch(self._machine_changed)
        self._by_machine: dict[str, tuple[str, int]] = {}  # machine key -> slot, for those reports
        # When settling instances the driver vouched for are due again: the watch looks then, not
        # at its next tick, so a batch is seen healthy as soon as it is.
        self._wakeups: list[datetime] = []

    def start(self) -> None:
        # A batch's instances end their actions one by one: gather them into one read of the store.
        self._task = asyncio.create_task(every(self.ctx.clock, self._until_next_look, self.look,
                                               what="health watch", nudge=self._look_now, gather=0.01))

    def nudge(self, scale_set_key: str | None = None, ids: Iterable[int] | None = None) -> None:
        """Read the store and look now: an action was asked for or has ended (its first probe is
        then due at once). Only that scale set's instances are read when it is named, and only
        those of `ids` when they are given."""
        if scale_set_key is None:
            self._read_at = None
        elif ids is None or self._reread.get(scale_set_key, set()) is None:
            self._reread[scale_set_key] = None
        else:
            self._reread.setdefault(scale_set_key, set()).update(ids)  # type: ignore[union-attr]
        self._look_now.set()

    def intended(self, scale_set_key: str, ids: list[int], action: str) -> None:
        """These instances were each given an intent of `action` (their action_seq bumped, the
        action pending) and nothing else: taken from what the watch holds of them, without a read,
        when that is the store's (no read of them is pending, none shared with other replicas)."""
        members, pending = self._by_set.get(scale_set_key), self._reread.get(scale_set_key, ())
        if members is None or pending is None or self._read_at is None or self._shared.sharing:
            self.nudge(scale_set_key, ids)
            return
        unread, rows = [], []
        for instance_id in ids:
            watched = members.get(instance_id)
            if watched is None or watched.row is None or instance_id in pending:
                unread.append(instance_id)
            else:
                rows.append(watched.row._replace(action_seq=watched.row.action_seq + 1, pending_action=action))
        if unread:
            self.nudge(scale_set_key, unread)
        self.told(scale_set_key, rows)

    def told(self, scale_set_key: str, rows: list[Seen]) -> None:
        """What instances are now, from whoever just wrote it (their actions' outcomes): taken as a
        read of them would be, without one. Those it cannot take so are read: not watched here yet,
        judged by extension states not given, or while verdicts are shared with other replicas
        (the fingerprints they are read by must see every write)."""
        members, spec = self._by_set.get(scale_set_key), self._specs.get(scale_set_key)
        unread = [row.instance_id for row in rows if members is None or self._shared.sharing
                  or row.instance_id not in members or (spec is None and row.extensions is None)]
        if unread:
            self.nudge(scale_set_key, unread)
        if len(unread) == len(rows):
            return
        key, now, upgrading = self._keys[scale_set_key], self.ctx.clock.now(), scale_set_key in self._running
        taken = set(unread)
        for row in rows:
            if row.instance_id not in taken:
                kept = row if spec is None or row.extensions is None else row._replace(extensions=None)
                self._consider(key, kept, spec, now, upgrading)
        self._look_now.set()  # what came due meanwhile

    async def stop(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
        tasks = [t for t in (self._task, *self._probes) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    # -- what others read -----------------------------------------------------------------------

    def healthy(self, scale_set_key: str, action_seqs: Mapping[int, int] | None = None) -> dict[int, bool | None]:
        """True / False per instance; None while its verdict is not settled (unknown, initializing),
        or when given the instances' action_seq, while it was made before the instance's last action
        (the watch has not seen the action yet: what it knows is of the machine as it was)."""
        if not self._probing(scale_set_key):
            return {i: gate(verdict.state if verdict else None) for i, verdict in self._verdicts(scale_set_key).items()
                    if action_seqs is None or i in action_seqs}
        members = self._by_set.get(scale_set_key, {})
        if action_seqs is None:
            return {i: gate(watched.state) for i, watched in members.items()}
        # Only those asked about: a run waiting on its batch asks after a few of a thousand.
        found: dict[int, bool | None] = {}
        for instance_id, action_seq in action_seqs.items():
            watched = members.get(instance_id)
            if watched is not None:
                found[instance_id] = None if watched.action_seq != action_seq else gate(watched.state)
        return found

    def verdict(self, scale_set_key: str, instance_id: int) -> Verdict | None:
        if not self._probing(scale_set_key):
            return self._verdicts(scale_set_key).get(instance_id)
        watched = self._watched.get((scale_set_key, instance_id))
        return watched.verdict(self.ctx.clock.now()) if watched else None

    def _verdicts(self, scale_set_key: str) -> dict[int, Verdict | None]:
        """Ours when we probe the scale set; otherwise what its prober last wrote."""
        if self._probing(scale_set_key):
            now = self.ctx.clock.now()
            return {i: w.verdict(now) for i, w in self._by_set.get(scale_set_key, {}).items()}
        return stored_verdicts(self.ctx.db, scale_set_key)

    def share_verdicts(self, others_alive: bool) -> None:
        self._shared.share(others_alive)

    def _probing(self, scale_set_key: str) -> bool:
        return self.ctx.leases.holds(scale_set_lease(scale_set_key))

    # -- the watch ------------------------------------------------------------------------------

    async def look(self) -> None:
        """One round: read what changed in the store (a nudged scale set's instances, or those
        named; every _REREAD seconds, what changed behind our back), then probe what is due: with a
        million instances, reading them all costs far more than the round itself."""
        now = self.ctx.clock.now()
        if self._read_at is None or self.ctx.clock.monotonic() - self._read_at >= _REREAD or self._reread:
            self._read(now)
        while self._due and self._due[0][0] <= now:
            _, _, slot = heapq.heappop(self._due)
            if (watched := self._watched.get(slot)) is not None:
                self._consider(slot[0], watched.row, watched.spec, now, watched.upgrading)
        if self._unwritten:  # a verdict changed since the store was last written: other replicas show it now
            self._unwritten = False
            self._shared.write(self._watched, self._by_set)

    def _read(self, now: datetime) -> None:
        full, periodic = self._read_at is None, self._read_at is None or self.ctx.clock.monotonic() - self._read_at >= _REREAD
        if periodic:
            self._read_at = self.ctx.clock.monotonic()
        nudged, self._reread = self._reread, {}
        with self.ctx.db.reading() as conn:
            running = set(conn.execute(sa.select(upgrade_runs.c.scale_set_key)
                                       .where(upgrade_runs.c.state.in_(ACTIVE))).scalars().all())
            specs = self._bodies.watched(conn, None if periodic else set(nudged), running, self._probing, fresh=full)
            if full:
                keys = set(specs)
            else:
                # A run began or ended: the instances of a scale set watched already are told, not
                # read again (a publish that begins a thousand runs would read a million rows).
                turned = {k for k in specs if (k in running) != (k in self._running)}
                for key in turned & self._by_set.keys():
                    for watched in self._by_set[key].values():
                        watched.upgrading = key in running
                keys = {k for k, ids in nudged.items() if ids is None and k in specs} | (turned - self._by_set.keys())
                # What changed without a nudge (another replica's intents): its instances'
                # fingerprint tells. Alone, every write nudges the watch.
                if periodic and self._shared.sharing:
                    prints = fingerprints(conn, None)
                    keys |= {k for k in specs if prints.get(k) != self._prints.get(k)}
            keys |= {k for k in specs if specs[k] != self._specs.get(k, specs[k])}  # a probe changed
            # Of the others nudged, only the instances named (those whose action ended, say).
            parts = {k: sorted(ids) for k, ids in nudged.items() if ids is not None and k in specs and k not in keys}
            if self._shared.sharing:
                self._prints.update(fingerprints(conn, sorted(keys | set(parts))))
        # Read after the fingerprints: rows newer than their print are read again at worst.
        rows = watch_rows(self.ctx.db, sorted(keys), specs, parts)
        # Scale sets no longer watched here: deleted, taken over, or no longer gated on health.
        for key in (set(self._by_set) if periodic else set(nudged) & set(self._by_set)) - set(specs):
            keys.add(key)
            self._prints.pop(key, None)
        self._specs.update(specs)
        # Only what this read looked at: a run begun on a scale set it did not look at is a change
        # still to be seen (at the next read of that scale set, or the next periodic one).
        scope = set(nudged)
        self._running = running if periodic else (self._running - scope) | (running & scope)
        seen: dict[str, set[int]] = {key: set() for key in keys | set(parts)}
        for row in rows:
            # One string per scale set, and the machine's the driver keeps, not a copy per row and read.
            key = self._keys.setdefault(row.scale_set_key, row.scale_set_key)
            spec = specs[key]
            seen[key].add(row.instance_id)
            kept = Seen(row.instance_id, row.action_seq, row.pending_action, sys.intern(row.private_ip),
                         sys.intern(row.machine_key), sys.intern(row.power_state), row.extensions if spec is None else None)
            self._consider(key, kept, spec, now, key in running)
        for key, ids in seen.items():
            members = self._by_set.get(key, {})
            for gone in [i for i in parts.get(key, members) if i in members and i not in ids]:
                self._by_machine.pop(self._watched.pop((key, gone)).row.machine_key, None)
                del members[gone]
            if not members:
                self._by_set.pop(key, None)
                self._specs.pop(key, None)
                self._keys.pop(key, None)
        self._unwritten = False
        self._shared.write(self._watched, self._by_set)

    def _consider(self, scale_set_key: str, row: Seen, spec: ProbeSpec | None, now: datetime,
                  upgrading: bool) -> None:
        key = (scale_set_key, row.instance_id)
        watched = self._watched.get(key)
        # A probe is one object per scale set body: the same one is told at once, not field by field.
        if watched is None or (watched.spec is not spec and watched.spec != spec) or watched.action_seq != row.action_seq:
            # New, re-specified, or acted upon (reimaged, restarted): its health starts over.
            host = row.private_ip if self.ctx.driver.reached_at_private_ip else None
            tracker = HealthTracker(spec, host=host, started=now) if spec is not None else None
            watched = Watched(spec=spec, tracker=tracker, action_seq=row.action_seq, next_probe=now)
            self._watched[key] = self._by_set.setdefault(scale_set_key, {})[row.instance_id] = watched
            if row.pending_action is None:  # else the action's end has it read again, and probed at once
                self._schedule(key, now)
            if self._unwatch is not None:
                self._by_machine[row.machine_key] = key
        watched.row, watched.upgrading = row, upgrading
        before = watched.state
        if spec is None or watched.tracker is None:
            watched.judged = default_verdict(row.power_state, row.extensions or [], now=now)
        else:
            watched.tracker.advance(now)  # a grace period may have run out
        if watched.state != before:
            self._state_changed(scale_set_key, before, watched.state)
        if watched.tracker is None:
            return
        if row.pending_action is not None:
            return  # under an action the machine is going away and coming back: nothing to learn yet
        if now >= watched.next_probe and not watched.probing and not watched.quiet:
            settle = upgrading and not watched.settled
            answer = self.ctx.driver.answer_now(row.machine_key, spec, self.ctx.clock)
            if answer is not None:  # nothing to wait on, so no task (a million of them on the simulator)
                self._answered(watched, scale_set_key, row.machine_key, spec, answer, settle, now)
                return
            watched.probing = True
            probe = self._settle if settle else self._probe
            task = asyncio.create_task(probe(watched, scale_set_key, row.machine_key, spec))
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)

    def _interval(self, spec: ProbeSpec) -> float:
        # The server may probe more often than the probe says (tests and demos shorten every wait).
        return self.ctx.settings.probe_interval or spec.interval_seconds

    def _schedule(self, slot: tuple[str, int], when: datetime) -> None:
        heapq.heappush(self._due, (when, next(self._order), slot))

    def _machine_changed(self, machine_key: str) -> None:
        """The driver reports a change: a quiet (or long-scheduled) instance is probed again when it
        would have been had it been probed all along."""
        slot = self._by_machine.get(machine_key)
        watched = self._watched.get(slot) if slot is not None else None
        # Under an action, a change is the action's own doing: its end has the instance read again.
        if watched is None or watched.spec is None or watched.probing or (watched.row and watched.row.pending_action):
            return
        now, step = self.ctx.clock.now(), timedelta(seconds=self._interval(watched.spec))
        if watched.upgrading and not watched.settled:
            self._wake_for(slot, watched, now)  # a run waits on it: at once
            return
        watched.quiet = False
        if watched.next_probe < now:
            watched.next_probe += step * math.ceil((now - watched.next_probe) / step)
        else:
            watched.next_probe -= step * ((watched.next_probe - now) // step)
        self._schedule(slot, watched.next_probe)

    def _until_next_look(self) -> float:
        """Seconds to the next look: a tick, or less when a settling instance is due sooner."""
        now = self.ctx.clock.now()
        while self._wakeups and self._wakeups[0] <= now:
            heapq.heappop(self._wakeups)
        tick = self.ctx.settings.health_tick
        return min(tick, (self._wakeups[0] - now).total_seconds()) if self._wakeups else tick

    def _state_changed(self, scale_set_key: str, before: HealthState | None, after: HealthState | None) -> None:
        """An instance's health state changed: other replicas are shown it at the next look, and its
        run looks now (it sleeps until told) if its view changed (`gate`: unknown to initializing is none)."""
        if (now := gate(after)) != gate(before):
            for changed in self.changed:
                changed(scale_set_key, now is True)
        if self._shared.sharing:
            self._unwritten = True
            self._look_now.set()
