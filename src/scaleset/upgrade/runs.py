"""Upgrade runs in the store: create, read, and move them from one phase to the next.

Every phase change is written before the work of the phase starts, so a restarted server resumes a
run exactly where it stood.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from scaleset.store import database
from scaleset.store.database import Database
from scaleset.store.tables import instances, upgrade_members, upgrade_runs
from scaleset.upgrade.planner import Policy, Progress
from scaleset.upgrade.policy import policy_from_json, policy_json

ACTIVE = ("RollingForward", "RollingBack")
TERMINAL = ("Completed", "Faulted", "Cancelled")

# An instance not on its way out (no delete under way): what a run is made of.
LIVE = sa.or_(instances.c.pending_action.is_(None), instances.c.pending_action != "delete")
# The image an instance runs, or is being created or reimaged with right now. An instance still
# being created on the target (a scale-out just before the start) is not behind it, and must not
# be reimaged once it is up.
BOUND = sa.case((sa.and_(instances.c.pending_action.in_(("create", "reimage")), instances.c.pending_image.is_not(None)),
                 instances.c.pending_image), else_=instances.c.image_urn)


def behind(target_urn: str) -> sa.ColumnElement[bool]:
    """An instance that is not bound for the target: a run upgrades it."""
    return sa.or_(BOUND.is_(None), BOUND != target_urn)


def create(conn: sa.Connection, *, scale_set_key: str, started_by: str, target_urn: str, force: bool, policy: Policy,
           op_id: str | None, now: datetime) -> str:
    """A new run. Every live instance is a member: pending, or skipped when it is bound for the
    target already and the run is not forced; with the image it runs now (what a rollback restores).
    Chosen by the database (INSERT ... SELECT): a publish begins a run on every scale set at once,
    and picking a thousand members each in Python cost 7% of bench/scale.py."""
    run_id = str(uuid.uuid4())
    latest = latest_for(conn, scale_set_key)
    if latest is not None and latest.started_at >= now:
        # Two runs begun in the same instant (a clock's resolution, or virtual time) still have an
        # order: the history lists and prunes runs by their start.
        now = latest.started_at + timedelta(microseconds=1)
    conn.execute(upgrade_runs.insert().values(
        id=run_id, scale_set_key=scale_set_key, started_by=started_by, target_urn=target_urn, force=force,
        policy=policy_json(policy), state="RollingForward", phase="next", batch=[], batch_count=0, phase_since=now,
        cancel_requested=False, paused=False, last_action="Start", last_action_time=now, error=None,
        rollback_info={"successfullyRolledbackInstanceCount": 0, "failedRolledbackInstanceCount": 0},
        op_id=op_id, started_at=now, ended_at=None))
    pending = sa.literal(str(Progress.PENDING))
    progress = pending if force else sa.case((behind(target_urn), pending), else_=sa.literal(str(Progress.SKIPPED)))
    conn.execute(upgrade_members.insert().from_select(
        ["run_id", "instance_id", "progress", "previous_urn"],
        sa.select(sa.bindparam("run_id", run_id), instances.c.instance_id, progress,
                  sa.func.coalesce(instances.c.image_urn, instances.c.pending_image))
        .where(instances.c.scale_set_key == scale_set_key, LIVE)))
    return run_id


_LOAD = sa.select(upgrade_runs).where(upgrade_runs.c.id == sa.bindparam("run"))


def load(db: Database, run_id: str) -> Any | None:
    """The run's row, straight on the database driver: its runner reads it each time it wakes."""
    found, = db.rows((_LOAD, {"run": run_id}))
    return found[0] if found else None


def active_for(conn: sa.Connection, scale_set_key: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(upgrade_runs).where(
        upgrade_runs.c.scale_set_key == scale_set_key, upgrade_runs.c.state.in_(ACTIVE))).first()


def active(conn: sa.Connection) -> list[tuple[str, str]]:
    """(run id, scale set key) of every run under way."""
    return [(row.id, row.scale_set_key) for row in conn.execute(
        sa.select(upgrade_runs.c.id, upgrade_runs.c.scale_set_key).where(upgrade_runs.c.state.in_(ACTIVE))).all()]


def surging(conn: sa.Connection, scale_set_key: str) -> set[int]:
    """The instances a maxSurge run added beside the ones they will replace, while it waits on
    them: they are the run's, not part of the scale set's capacity."""
    run = active_for(conn, scale_set_key)
    if run is None or run.phase not in ("batch", "health") or not policy_from_json(run.policy).max_surge:
        return set()
    return set(run.batch)


def latest_for(conn: sa.Connection, scale_set_key: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(upgrade_runs).where(upgrade_runs.c.scale_set_key == scale_set_key)
                        .order_by(upgrade_runs.c.started_at.desc()).limit(1)).first()


def history(conn: sa.Connection, scale_set_key: str) -> list[sa.Row[Any]]:
    """Newest first."""
    return conn.execute(sa.select(upgrade_runs).where(upgrade_runs.c.scale_set_key == scale_set_key)
                        .order_by(upgrade_runs.c.started_at.desc())).all()


def members(conn: sa.Connection, run_id: str) -> dict[int, sa.Row[Any]]:
    rows = conn.execute(sa.select(upgrade_members).where(upgrade_members.c.run_id == run_id)).all()
    return {row.instance_id: row for row in rows}


def progress_of(conn: sa.Connection, run_id: str) -> dict[int, Progress]:
    """Each member's progress: all a judgment reads of the members (a thousand of them, each batch)."""
    rows = conn.execute(sa.select(upgrade_members.c.instance_id, upgrade_members.c.progress)
                        .where(upgrade_members.c.run_id == run_id)).all()
    return {instance_id: PROGRESS[progress] for instance_id, progress in rows}


PROGRESS = {str(p): p for p in Progress}  # progress as stored -> Progress: a lookup costs a fraction of Progress(text)


def update(conn: sa.Connection, run_id: str, **values: Any) -> None:
    conn.execute(upgrade_runs.update().where(upgrade_runs.c.id == run_id).values(**values))


def set_progress(conn: sa.Connection, run_id: str, ids: list[int] | tuple[int, ...], progress: Progress, *,
                 batch_index: int | None = None, error: str | None = None) -> None:
    if not ids:
        return
    values: dict[str, Any] = {"progress": str(progress)}
    if batch_index is not None:
        values["batch_index"] = batch_index
    if error is not None:
        values["error"] = error
    database.write(conn, _progress_update(tuple(values)),
                   {"run": run_id, "ids": list(ids), **{f"new_{name}": value for name, value in values.items()}})


@functools.cache
def _progress_update(names: tuple[str, ...]) -> sa.Update:
    """The UPDATE of these columns of some of a run's members, kept: each batch of every run sets
    its members' progress twice, straight on the database driver (`database.write`)."""
    return upgrade_members.update().where(
        upgrade_members.c.run_id == sa.bindparam("run"), upgrade_members.c.instance_id.in_(sa.bindparam("ids", expanding=True))
    ).values({name: sa.bindparam(f"new_{name}") for name in names})


def approve(conn: sa.Connection, run_id: str, ids: list[int] | None) -> int:
    """Approve members for a deferred run (None: every one not yet upgraded); returns how many."""
    query = upgrade_members.update().where(
        upgrade_members.c.run_id == run_id,
        upgrade_members.c.progress.in_([str(Progress.PENDING), str(Progress.IN_FLIGHT)]))
    if ids is not None:
        query = query.where(upgrade_members.c.instance_id.in_(ids))
    return conn.execute(query.values(approved=True)).rowcount


def awaiting_approval(conn: sa.Connection, run: sa.Row[Any]) -> list[int]:
    """The instances of the batch that wait for their approval."""
    if run.phase != "approval":
        return []
    found = members(conn, run.id)
    return [i for i in run.batch if i in found and not found[i].approved]


def forget(conn: sa.Connection, run_id: str, ids: list[int] | tuple[int, ...]) -> None:
    """Instances that left the scale set during the run leave the run (and its counts)."""
    if ids:
        conn.execute(upgrade_members.delete().where(upgrade_members.c.run_id == run_id,
                                                    upgrade_members.c.instance_id.in_(list(ids))))


def counts(member_rows: dict[int, sa.Row[Any]] | list[sa.Row[Any]]) -> dict[str, int]:
    """RollingUpgradeProgressInfo: every member counted once; skipped ones count as successful."""
    rows = member_rows.values() if isinstance(member_rows, dict) else member_rows
    tally = {"successfulInstanceCount": 0, "failedInstanceCount": 0, "inProgressInstanceCount": 0, "pendingInstanceCount": 0}
    for row in rows:
        progress = Progress(row.progress)
        if progress in (Progress.UPGRADED, Progress.SKIPPED):
            tally["successfulInstanceCount"] += 1
        elif progress == Progress.IN_FLIGHT:
            tally["inProgressInstanceCount"] += 1
        elif progress == Progress.PENDING:
            tally["pendingInstanceCount"] += 1
        else:
            tally["failedInstanceCount"] += 1
    return tally


def prune(conn: sa.Connection, scale_set_key: str, *, keep: int, window_seconds: float, now: datetime) -> None:
    """History retention: the newest `keep` runs within the window, as the history shows them.

    An active run always stays and takes one of the `keep` places, so the store holds exactly what
    osUpgradeHistory lists.
    """
    every = conn.execute(sa.select(upgrade_runs.c.id, upgrade_runs.c.started_at, upgrade_runs.c.state)
                         .where(upgrade_runs.c.scale_set_key == scale_set_key)
                         .order_by(upgrade_runs.c.started_at.desc())).all()
    doomed = [row.id for index, row in enumerate(every) if row.state in TERMINAL
              and (index >= keep or (now - row.started_at).total_seconds() > window_seconds)]
    if doomed:
        conn.execute(upgrade_members.delete().where(upgrade_members.c.run_id.in_(doomed)))
        conn.execute(upgrade_runs.delete().where(upgrade_runs.c.id.in_(doomed)))
