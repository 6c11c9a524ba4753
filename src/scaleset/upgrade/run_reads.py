"""What a run reads of its scale set to judge it: the instances and the members (`known_sets`
keeps them between batches, and gives the planner its view of them); and the error it ends with
when a batch stops it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from scaleset.store.database import Database
from scaleset.store.tables import instances, upgrade_members
from scaleset.upgrade import planner, runs
from scaleset.upgrade.planner import Member, Progress
from scaleset.upgrade.ports import HealthView

# What a run reads of its scale set's instances (not the JSON columns), and of their actions' ends.
_RUN_COLUMNS = (instances.c.instance_id, instances.c.pending_action, instances.c.action_seq, instances.c.zone,
                instances.c.update_domain)
_ENDS = (instances.c.provisioning_state, instances.c.last_error, instances.c.image_urn)


# Run straight on the database driver (`Database.rows`): a run reads its whole set each batch,
# and SQLAlchemy's statement and result machinery cost more than the reads.
_SET = sa.select(*_RUN_COLUMNS, *_ENDS).where(instances.c.scale_set_key == sa.bindparam("key"))
_SOME = _SET.where(instances.c.instance_id.in_(sa.bindparam("ids", expanding=True)))
# The whole set each batch: each instance with its member's progress in one row, and without how its
# last action ended (only the batch's counts, and the batch's rows are read on their own).
_MEMBERS = upgrade_members.alias("member")
_JOINED = sa.select(*_RUN_COLUMNS, _MEMBERS.c.progress).select_from(instances.outerjoin(_MEMBERS, sa.and_(
    _MEMBERS.c.run_id == sa.bindparam("run"), _MEMBERS.c.instance_id == instances.c.instance_id))).where(
    instances.c.scale_set_key == sa.bindparam("key"))
# Members whose instance is no longer there (deleted during the run): they leave it.
_ORPHANS = sa.select(upgrade_members.c.instance_id, upgrade_members.c.progress).where(
    upgrade_members.c.run_id == sa.bindparam("run"),
    upgrade_members.c.instance_id.not_in(sa.select(instances.c.instance_id).where(instances.c.scale_set_key == sa.bindparam("key"))))


def instance_rows(db: Database, scale_set_key: str, ids: list[int] | tuple[int, ...] | None = None) -> dict[int, Any]:
    """The scale set's instances (those of `ids`, or all) by id."""
    read = (_SET, {"key": scale_set_key}) if ids is None else (_SOME, {"key": scale_set_key, "ids": list(ids)})
    rows, = db.rows(read)
    return {row.instance_id: row for row in rows}


_BUSY = sa.select(sa.func.count().label("busy")).select_from(instances).where(
    instances.c.scale_set_key == sa.bindparam("key"), instances.c.instance_id.in_(sa.bindparam("ids", expanding=True)),
    instances.c.pending_action.is_not(None))


def busy(db: Database, scale_set_key: str, ids: list[int] | tuple[int, ...]) -> bool:
    """Whether an action of these instances is still under way."""
    counts, = db.fetch((_BUSY, {"key": scale_set_key, "ids": list(ids)}))  # a count per slice of the ids
    return any(count for count, in counts)


def batch_waits(run: sa.Row[Any], rows: dict[int, Any], view: HealthView, policy: planner.Policy, elapsed: float) -> bool:
    """Whether the run's batch is still to be waited on (`elapsed` seconds of its health wait
    spent), judged from its own instances (`rows`, as `instance_rows` reads them) alone."""
    batch = tuple(i for i in run.batch if i in rows and rows[i].pending_action != "delete")
    health = view.healthy(run.scale_set_key, {i: rows[i].action_seq for i in batch})
    members = [Member(id=i, healthy=bool(health.get(i)), progress=Progress.IN_FLIGHT) for i in batch]
    failed = frozenset(i for i in batch if rows[i].provisioning_state == "Failed")
    return isinstance(planner.judge_batch(members, batch, policy, elapsed=elapsed, failed=failed), planner.Wait)


def read_set(db: Database, run: sa.Row[Any]) -> tuple[dict[int, Any], dict[int, Progress]]:
    """The scale set's instances (the columns a run reads of each, not how its last action ended:
    `instance_rows` has that) and the run's members' progress, by id, in one snapshot."""
    binds = {"key": run.scale_set_key, "run": run.id}
    joined, orphans = db.fetch((_JOINED, binds), (_ORPHANS, binds))
    typed = db.prepared(_JOINED).typed_all(joined)
    progress = {i: runs.PROGRESS[p] for i, p in orphans}
    progress.update((row.instance_id, runs.PROGRESS[row.progress]) for row in typed if row.progress is not None)
    return {row.instance_id: row for row in typed}, progress


def failed_reimages(run: sa.Row[Any], rows: dict[int, sa.Row[Any]]) -> dict[int, str]:
    """The batch's instances whose reimage failed, and why (`rows`: the batch's, as `instance_rows` reads them)."""
    return {i: rows[i].last_error or "the reimage failed" for i in run.batch
            if i in rows and rows[i].provisioning_state == "Failed"}


def stop_error(outcome: planner.Stop, batch: list[int] | tuple[int, ...], bad: set[int], failed: dict[int, str]) -> dict[str, Any]:
    """The run's ARM error when a batch stops it, naming each instance at fault."""
    message = outcome.message
    failed_here = sorted(i for i in batch if i in failed)
    if failed_here:
        # A client often shows only the message: say what went wrong, not just how often.
        message += f" Instance {failed_here[0]}: {failed[failed_here[0]]}"
    return {"code": outcome.code, "message": message,
            "details": [{"code": "InstanceUpgradeFailed" if i in failed else "InstanceNotHealthy", "target": str(i),
                         "message": failed.get(i, "not healthy within the health wait")} for i in sorted(bad)]}
