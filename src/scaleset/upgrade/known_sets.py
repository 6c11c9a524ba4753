"""What a run last read of its scale set, kept between its looks in a few bytes an instance: judging
a batch then reads the batch's rows and two sums the database works out, not the whole set again.

Between two batches a run's set barely changes: the batch's own instances do (reimaged, judged),
the others only when something else acts on them (a scale-in, a restart, another replica). So a
look reads, besides the batch's rows:

- the set's print: how many instances, the sums of their ids and action_seqs, and how many have an
  action under way. Every intent bumps an instance's action_seq and every outcome clears its
  action; ids are never reused (a scale set counts them) and seqs only grow. So what a run keeps of
  the others (there or not, being deleted or not, which action a verdict must be of) cannot change
  without the print changing;
- the members' tally: how many members, and the sum of their ids, per progress. The run tells what
  it writes of its members; anything else that changes them (another replica that took the scale
  set over meanwhile) changes the tally.

When both agree with what is kept (the batch's rows taken in), the kept set stands; otherwise the
run reads the set whole again. What is kept is columns (arrays, in instance id order), ~25 bytes
an instance: a run keeps its set while it runs, and a publish runs every scale set at once. Rows
and dicts of them cost ~450 bytes an instance, a quarter of the server's memory goal.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from scaleset.store.database import Database
from scaleset.store.tables import instances, upgrade_members
from scaleset.upgrade import run_reads, runs
from scaleset.upgrade.planner import Member, Progress
from scaleset.upgrade.ports import HealthView

_PRINT = sa.select(sa.func.count().label("count"), sa.func.coalesce(sa.func.sum(instances.c.instance_id), 0).label("ids"),
                   sa.func.coalesce(sa.func.sum(instances.c.action_seq), 0).label("seqs"),
                   sa.func.count(instances.c.pending_action).label("acting")).where(instances.c.scale_set_key == sa.bindparam("key"))
_TALLY = sa.select(upgrade_members.c.progress, sa.func.count().label("count"), sa.func.sum(upgrade_members.c.instance_id).label("ids")
                   ).where(upgrade_members.c.run_id == sa.bindparam("run")).group_by(upgrade_members.c.progress)

_CODES = (None, *Progress)  # a member's progress as kept: its index here (0: not a member)
_CODE = {p: n for n, p in enumerate(_CODES) if p is not None}
_UNSETTLED = (Progress.PENDING, Progress.IN_FLIGHT)
_ACTING, _DELETING = 1, 2  # flags of an instance: an action under way, and that action a delete

Print = tuple[int, int, int, int]
Tally = dict[Progress, tuple[int, int]]


def look(db: Database, run: sa.Row[Any]) -> tuple[Print, Tally]:
    """The set's print and the members' tally, in one snapshot."""
    prints, tally = db.fetch((_PRINT, {"key": run.scale_set_key}), (_TALLY, {"run": run.id}))
    return tuple(int(n) for n in prints[0]), {runs.PROGRESS[p]: (int(n), int(s)) for p, n, s in tally}  # type: ignore[return-value]


class KnownSet:
    """A run's set as last read, and its members' progress as last read and since written."""

    __slots__ = ("ids", "seqs", "flags", "zones", "zone_of", "domains", "progress", "orphans", "print", "tally")

    def __init__(self, rows: Iterable[Any], progress: dict[int, Progress]) -> None:
        """`rows`: the set's instances (instance_id, pending_action, action_seq, zone,
        update_domain); `progress`: every member's, those whose instance is gone too."""
        ordered = sorted(rows, key=lambda row: row.instance_id)
        self.ids = array("q", (row.instance_id for row in ordered))
        self.seqs = array("q", (row.action_seq for row in ordered))
        self.flags = bytearray(_flags(row.pending_action) for row in ordered)
        self.zones: list[str | None] = []
        self.zone_of = bytearray(self._zone(row.zone) for row in ordered)
        self.domains = array("H", (row.update_domain for row in ordered))
        self.progress = bytearray(_CODE[progress[i]] if i in progress else 0 for i in self.ids)
        present = set(self.ids)
        self.orphans = {i: p for i, p in progress.items() if i not in present}  # members whose instance is gone
        self.print: Print = (len(self.ids), sum(self.ids), sum(self.seqs), sum(1 for f in self.flags if f & _ACTING))
        self.tally: Tally = {}
        for instance_id, p in progress.items():
            self._count(p, instance_id, 1)

    def agrees(self, batch: Iterable[Any], seen: tuple[Print, Tally]) -> bool:
        """Take in the batch's rows as just read (`batch`, each with instance_id, pending_action,
        action_seq); whether the rest as kept is the set as it is (`seen`: `look`'s)."""
        count, ids, seqs, acting = self.print
        for row in batch:
            at = self._at(row.instance_id)
            if at is None:
                return False  # an instance the set did not have when read: read it again
            flags = _flags(row.pending_action)
            seqs += row.action_seq - self.seqs[at]
            acting += (flags & _ACTING) - (self.flags[at] & _ACTING)
            self.seqs[at], self.flags[at] = row.action_seq, flags
        self.print = count, ids, seqs, acting
        printed, tally = seen
        return self.print == printed and {p: t for p, t in self.tally.items() if t[0]} == tally

    def set(self, ids: Iterable[int], progress: Progress) -> None:
        """What the run wrote of these members' progress (ids not members are not written)."""
        code = _CODE[progress]
        for instance_id in ids:
            at = self._at(instance_id)
            before = _CODES[self.progress[at]] if at is not None else self.orphans.get(instance_id)
            if before is None:
                continue
            self._count(before, instance_id, -1)
            self._count(progress, instance_id, 1)
            if at is not None:
                self.progress[at] = code
            else:
                self.orphans[instance_id] = progress

    def forget(self, ids: Iterable[int]) -> None:
        """These members left the run."""
        for instance_id in ids:
            at = self._at(instance_id)
            before = _CODES[self.progress[at]] if at is not None else self.orphans.pop(instance_id, None)
            if before is not None:
                self._count(before, instance_id, -1)
                if at is not None:
                    self.progress[at] = 0

    def gone(self) -> set[int]:
        """Members whose instance left the scale set (deleted, or being deleted), which leave the run.

        Only pending and in-flight ones: a member that has had its outcome keeps it, whatever
        happens to its instance after (maxSurge deletes every instance it replaced).
        """
        left = {i for i, p in self.orphans.items() if p in _UNSETTLED}
        for at, flags in enumerate(self.flags):
            if flags & _DELETING and _CODES[self.progress[at]] in _UNSETTLED:
                left.add(self.ids[at])
        return left

    def members(self, scale_set_key: str, view: HealthView) -> tuple[list[Member], frozenset[int]]:
        """The set as the planner sees it, an instance whose verdict is not in yet counted
        unhealthy; and those instances (the choice of a batch waits for their verdicts, a judgment
        only when they would stop the run)."""
        health = view.healthy(scale_set_key, dict(zip(self.ids, self.seqs)))
        found: list[Member] = []
        unknown: set[int] = set()
        zones, get = self.zones, health.get
        for instance_id, flags, code, zone, domain in zip(self.ids, self.flags, self.progress, self.zone_of, self.domains):
            if flags & _DELETING:
                continue
            verdict = get(instance_id)
            if verdict is None:
                unknown.add(instance_id)
            # Not a member: joined after the start, so SKIPPED.
            found.append(Member(instance_id, verdict is True, _CODES[code] or Progress.SKIPPED, zones[zone], domain))
        return found, frozenset(unknown)

    def progress_of(self) -> dict[int, Progress]:
        """Every member's progress, by id."""
        found = {i: _CODES[code] for i, code in zip(self.ids, self.progress) if code}
        found.update(self.orphans)
        return found  # type: ignore[return-value]

    def _at(self, instance_id: int) -> int | None:
        at = bisect_left(self.ids, instance_id)
        return at if at < len(self.ids) and self.ids[at] == instance_id else None

    def _zone(self, zone: str | None) -> int:
        if zone not in self.zones:
            self.zones.append(zone)
        return self.zones.index(zone)

    def _count(self, progress: Progress, instance_id: int, sign: int) -> None:
        n, s = self.tally.get(progress, (0, 0))
        self.tally[progress] = (n + sign, s + sign * instance_id)


class KnownSets:
    """What a runner keeps of each run's set while it drives the run (run id -> KnownSet)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._kept: dict[str, KnownSet] = {}

    def of(self, run: sa.Row[Any], batch: Iterable[Any] = ()) -> KnownSet:
        """The run's set (`batch`: its batch's rows, as just read): as kept, when the database's
        sums agree with it; else read whole, and kept."""
        known = self._kept.get(run.id)
        if known is not None and known.agrees(batch, look(self.db, run)):
            return known
        rows, progress = run_reads.read_set(self.db, run)
        known = self._kept[run.id] = KnownSet(rows.values(), progress)
        return known

    def told(self, run_id: str, ids: Iterable[int], progress: Progress) -> None:
        """The run wrote this progress of these members: what is kept of its set follows. (Were it
        not told, the members' tally would disagree at the next look, which reads the set whole.)"""
        known = self._kept.get(run_id)
        if known is not None:
            known.set(ids, progress)

    def drop(self, run_id: str) -> None:
        """The runner stopped driving the run, or may have written what it was not told."""
        self._kept.pop(run_id, None)


def _flags(pending_action: str | None) -> int:
    if pending_action is None:
        return 0
    return _ACTING | _DELETING if pending_action == "delete" else _ACTING
