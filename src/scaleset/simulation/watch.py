"""Watching the store while a seed runs.

The engine writes every step of a run before acting on it, so the store is where decisions can be
seen as they are made. `StoreWatch` listens to the statements on the simulation's own database
(an SQLAlchemy event; nothing in the engine is replaced): a run created, its members as created,
and each batch decided (the run's batch count written). At a decision the engine's health verdicts
in memory are exactly those it decided on (nothing else runs in between), so the pre-check is
judged at that instant, against the verdicts and against the machines.

`sample` is the periodic look: progress counts through the service, runs ending, history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from scaleset.simulation import invariants as inv
from scaleset.simulation.world import Attribution, Observer, label
from scaleset.store.database import Database
from scaleset.store.tables import instances, upgrade_members, upgrade_runs


@dataclass
class RunInfo:
    id: str
    scale_set: str
    started: float  # virtual seconds
    policy: dict[str, Any]
    op_id: str | None
    initial: frozenset[int] = frozenset()
    ended: float | None = None
    state: str = "RollingForward"
    final_sample: bool = False  # its progress was sampled once after it ended


@dataclass
class StoreWatch:
    observer: Observer
    # The engine's verdicts now, per scale set key (the current server's health monitor); None while down.
    verdicts: Callable[[str], dict[int, bool | None]]
    lag: float  # how long a machine may be down before the engine must have noticed
    runs: dict[str, RunInfo] = field(default_factory=dict)
    db: Database | None = None

    def attach(self, db: Database) -> None:
        self.db = db
        sa.event.listen(db.engine, "after_cursor_execute", self._statement)

    # -- what the engine writes

    def _statement(self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        if "upgrade_" not in statement[:40] or context is None or not context.compiled_parameters:
            return
        head = statement.lstrip()[:40].upper()
        written = context.compiled_parameters
        if head.startswith("INSERT INTO UPGRADE_RUNS"):
            values = written[0]
            self.runs[values["id"]] = RunInfo(id=values["id"], scale_set=values["scale_set_key"], started=self.observer.now(),
                                              policy=dict(values["policy"]), op_id=values.get("op_id"))
            self.observer.note(f"run created {self._name(values['scale_set_key'])} by {values.get('started_by')}")
        elif head.startswith("INSERT INTO UPGRADE_MEMBERS"):
            # The database chose the members (INSERT ... SELECT): they are read back in the same transaction.
            run = self.runs.get(written[0]["run_id"])
            if run is not None:
                chosen = _conn.execute(sa.select(upgrade_members.c.instance_id).where(upgrade_members.c.run_id == run.id))
                run.initial = run.initial | set(chosen.scalars())
        elif head.startswith("UPDATE UPGRADE_RUNS"):
            run_id = next((v for k, v in written[0].items() if k.startswith("id")), None)
            run = self.runs.get(run_id)
            if run is None:
                return
            if "batch_count" in written[0]:
                self._decided(run, int(written[0]["batch_count"]))
            if "state" in written[0]:
                # Seen as written: a run that ends may be pruned from the history before any sample.
                self._state(run, written[0]["state"], self.observer.now())

    def _decided(self, run: RunInfo, batch: int) -> None:
        assert self.db is not None
        with self.db.reading() as conn:
            rows = conn.execute(sa.select(instances.c.instance_id, instances.c.machine_key, instances.c.pending_action)
                                .where(instances.c.scale_set_key == run.scale_set)).all()
        live = [row for row in rows if row.pending_action != "delete"]
        verdicts = self.verdicts(run.scale_set)
        now = self.observer.now()
        down = self.observer.down_since
        self.observer.obs.decisions.append(inv.Decision(
            t=now, run=run.id, scale_set=self._name(run.scale_set), batch=batch, live=len(live),
            unhealthy=sum(1 for row in live if verdicts.get(row.instance_id) is not True),
            long_down=sum(1 for row in live if row.machine_key in down and now - down[row.machine_key] > self.lag),
            max_batch_percent=int(run.policy["max_batch_percent"]),
            max_unhealthy_percent=int(run.policy["max_unhealthy_percent"])))
        self.observer.note(f"batch {batch - 1} decided {self._name(run.scale_set)} ({len(live)} live)")

    def attribute(self, machine_key: str) -> Attribution | None:
        """Which active run a create or reimage of this machine serves (its intent's operation is the run's)."""
        if self.db is None:
            return None
        with self.db.reading() as conn:
            row = conn.execute(sa.select(instances.c.scale_set_key, instances.c.pending_op)
                               .where(instances.c.machine_key == machine_key)).first()
            if row is None or row.pending_op is None:
                return None
            run = next((r for r in self.runs.values() if r.op_id == row.pending_op and r.ended is None), None)
            if run is None:
                return None
            live = conn.execute(sa.select(sa.func.count()).select_from(instances).where(
                instances.c.scale_set_key == row.scale_set_key,
                sa.or_(instances.c.pending_action.is_(None), instances.c.pending_action != "delete"))).scalar_one()
        return Attribution(run=run.id, scale_set=self._name(run.scale_set), live=live,
                           max_batch_percent=int(run.policy["max_batch_percent"]))

    # -- the periodic look

    def sample(self, plane: Any, sub: str, group: str, names: dict[str, str], gone: dict[str, set[int]]) -> None:
        """Runs' states and ends, and the progress of every active run, as the service shows them."""
        assert self.db is not None
        now = self.observer.now()
        with self.db.reading() as conn:
            rows = conn.execute(sa.select(upgrade_runs.c.id, upgrade_runs.c.state, upgrade_runs.c.ended_at)).all()
            member_rows = conn.execute(sa.select(upgrade_members.c.run_id, upgrade_members.c.instance_id)).all()
            live_rows = conn.execute(sa.select(instances.c.scale_set_key, instances.c.instance_id,
                                               instances.c.pending_action)).all()
        for key in names:
            present = {r.instance_id for r in live_rows if r.scale_set_key == key and r.pending_action != "delete"}
            seen = gone.setdefault(key, set())
            seen |= {i for r in self.runs.values() if r.scale_set == key for i in r.initial} - present
        members: dict[str, set[int]] = {}
        for row in member_rows:
            members.setdefault(row.run_id, set()).add(row.instance_id)
        for row in rows:
            run = self.runs.get(row.id)
            if run is None:
                continue
            if run.final_sample:
                continue  # a finished run's progress was sampled once, after it ended
            ended = None if row.ended_at is None else now - (self.observer.clock.now() - row.ended_at).total_seconds()
            self._state(run, row.state, ended)
            run.final_sample = run.ended is not None
            _, latest, counts, _ = plane.upgrades.latest(sub, group, names[run.scale_set])
            if latest.id != run.id:
                continue
            self.observer.obs.progress.append(inv.ProgressSample(
                t=now, run=run.id, state=row.state, counts=dict(counts), members=frozenset(members.get(run.id, ())),
                initial=run.initial, gone=frozenset(gone.get(run.scale_set, set()))))

    def history(self, plane: Any, sub: str, group: str, key: str, name: str, *, keep: int, window: float) -> None:
        """osUpgradeHistory against the newest `keep` runs within the window of every run seen."""
        assert self.db is not None
        now = self.observer.now()
        with self.db.reading() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(upgrade_runs)
                                  .where(upgrade_runs.c.scale_set_key == key)).scalar_one()
        _, entries = plane.upgrades.history(sub, group, name)
        listed = tuple((run.id, now - self.runs[run.id].started if run.id in self.runs else float("inf"),
                        run.state not in inv.TERMINAL) for run, _ in entries)
        # Newest first; of two begun in the same instant, the one created later is the newer.
        order = {run_id: index for index, run_id in enumerate(self.runs)}
        mine = sorted((r for r in self.runs.values() if r.scale_set == key), key=lambda r: (r.started, order[r.id]), reverse=True)
        expected = tuple(r.id for r in mine if r.state not in inv.TERMINAL or now - r.started <= window)[:keep]
        self.observer.obs.history.append(inv.HistorySample(t=now, scale_set=name, keep=keep, window=window, stored=stored,
                                                           listed=listed, expected=expected))

    def batch_sizes(self) -> None:
        """Each batch's size as the store finally holds it."""
        assert self.db is not None
        with self.db.reading() as conn:
            rows = conn.execute(sa.select(upgrade_members.c.run_id, upgrade_members.c.batch_index, sa.func.count())
                                .where(upgrade_members.c.batch_index.is_not(None))
                                .group_by(upgrade_members.c.run_id, upgrade_members.c.batch_index)).all()
        for run_id, index, size in rows:
            self.observer.obs.batches.append(inv.BatchSize(run=run_id, batch=int(index), size=int(size)))

    def _state(self, run: RunInfo, state: str, ended: float | None) -> None:
        if run.state != state:
            self.observer.note(f"run {self._name(run.scale_set)} {state}")
            run.state = state
        if state in inv.TERMINAL and run.ended is None:
            run.ended = ended if ended is not None else self.observer.now()

    def _name(self, scale_set_key: str) -> str:
        return scale_set_key.rsplit("/", 1)[-1]


__all__ = ["RunInfo", "StoreWatch", "label"]
