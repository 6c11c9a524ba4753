"""Rolling OS upgrades: start (by a user, or by the platform when an image is published), dry-run,
cancel, pause, resume, and the status and history a client reads.

Any replica starts and steers runs (they are rows); a run is carried out by the replica holding
its scale set's lease, whose every write is fenced by it, and picked up from where it stands by
the next holder. Publications are queued in the store and the holder of the trigger lease starts
the platform's runs for them, so a publish answered by a replica that dies at once still counts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa

from scaleset.model.image_reference import ImageReference
from scaleset.model.scale_set import ScaleSetModel
from scaleset.service import intents, operations
from scaleset.service.context import Context
from scaleset.service.errors import ArmError, not_allowed
from scaleset.service.scale_sets import require as require_scale_set
from scaleset.store.leases import TRIGGER, LeaseLost, cursor_of, scale_set_lease, write_cursor
from scaleset.store.tables import instances, operations as operations_table, publications, scale_sets
from scaleset.upgrade import planner, runs
from scaleset.upgrade.planner import Member, Progress
from scaleset.upgrade.policy import effective_policy
from scaleset.upgrade.ports import HealthView
from scaleset.upgrade.runner import Runner

log = logging.getLogger(__name__)


class Upgrades:
    def __init__(self, ctx: Context, health: HealthView) -> None:
        self.ctx = ctx
        self.health = health
        self.runner = Runner(ctx.db, ctx.clock, _Actions(ctx), health, poll=ctx.settings.upgrade_poll,
                             fence=lambda conn, key: ctx.leases.fence(conn, scale_set_lease(key)))
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._task_sets: dict[str, str] = {}  # run id -> its scale set's key
        self._triggers: set[asyncio.Task[None]] = set()
        self._trigger_lock = asyncio.Lock()
        ctx.leases.lost.append(self._lease_lost)

    # -- lifecycle ------------------------------------------------------------------------------

    def adopt(self, active: list[tuple[str, str]]) -> None:
        """Carry on the unfinished runs (runs.active) of the scale sets whose lease we hold: after
        a start, a takeover, or a run started by another replica."""
        for run_id, scale_set_key in active:
            if run_id not in self._tasks or self._tasks[run_id].done():  # one driven here needs no nudge
                self._drive(run_id, scale_set_key)

    def _lease_lost(self, name: str) -> None:
        for run_id, key in list(self._task_sets.items()):
            if scale_set_lease(key) == name and run_id in self._tasks:
                self._tasks[run_id].cancel()

    async def stop(self) -> None:
        for task in self._triggers:  # first: a trigger pass would go on starting runs
            task.cancel()
        await asyncio.gather(*self._triggers, return_exceptions=True)
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _drive(self, run_id: str, scale_set_key: str) -> None:
        """Carry the run out here, or, when it is already, have it look at once (it was steered)."""
        if run_id in self._tasks and not self._tasks[run_id].done():
            self.runner.nudge(scale_set_key)
            return
        if self.ctx.leases.acquire(scale_set_lease(scale_set_key)) is None:
            return  # another replica carries this scale set's runs out
        task = asyncio.get_running_loop().create_task(self.runner.drive(run_id))
        task.add_done_callback(lambda t, run_id=run_id: self._finished(run_id, t))
        # Its instances are watched from now on (a Manual scale set's are not before), and its
        # first batch waits on their verdicts: the watch learns of the run now, not at its next
        # reread (none of the instances changed: one watched already is not read again).
        self.health.nudge(scale_set_key, ())
        self._tasks[run_id] = task
        self._task_sets[run_id] = scale_set_key

    def _finished(self, run_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.pop(run_id, None)
        self._task_sets.pop(run_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("upgrade run %s stopped on an error", run_id, exc_info=task.exception())

    async def idle(self) -> None:
        """Wait for every run in this process to end (tests, demo)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # -- starting -------------------------------------------------------------------------------

    def start(self, sub: str, group: str, name: str, *, force: bool = False) -> str:
        """POST osRollingUpgrade: returns the operation id."""
        with self.ctx.db.transaction() as conn:
            scale_set = require_scale_set(conn, sub, group, name)
            run_id, op = self._begin(conn, scale_set, started_by="User", force=force)
        self._drive(run_id, scale_set.key)
        return op

    def dry_run(self, sub: str, group: str, name: str, *, force: bool = False) -> dict[str, Any]:
        """The exact plan of the next upgrade; nothing changes."""
        with self.ctx.db.reading() as conn:
            scale_set = require_scale_set(conn, sub, group, name)
            target = self._target(conn, scale_set)
            live = intents.live_instances(conn, scale_set.key, instances.c.instance_id, instances.c.zone,
                                          instances.c.update_domain, runs.behind(target.urn).label("behind"))
            history = runs.history(conn, scale_set.key)
        policy = effective_policy(scale_set.body, started_by="User", health_wait=self.ctx.settings.health_wait)
        health = self.health.healthy(scale_set.key)
        skipped = {row.instance_id: f"already runs {target.version}" for row in live if not force and not row.behind}
        members = [Member(row.instance_id, bool(health.get(row.instance_id, True)),
                          Progress.SKIPPED if row.instance_id in skipped else Progress.PENDING, row.zone, row.update_domain)
                   for row in live]
        per_batch, basis = _seconds_per_batch(history, self.ctx.settings.health_wait)
        laid_out = planner.plan(members, policy, skipped=skipped, seconds_per_batch=per_batch)
        return {"target": target, "policy": policy, "plan": laid_out, "estimate_basis": basis}

    async def on_published(self, _location: str, _ref: ImageReference) -> None:
        """A publish answers once its runs are begun (on the holder of the trigger)."""
        if self.ctx.leases.acquire(TRIGGER) is not None:
            await self.start_queued()

    def trigger(self) -> None:
        """The automatic trigger, on the replica holding its lease: start the runs of the
        publications not yet handled (start_queued), in a task of its own."""
        if self.ctx.leases.acquire(TRIGGER) is None:
            return
        task = asyncio.get_running_loop().create_task(self.start_queued())
        self._triggers.add(task)
        task.add_done_callback(self._triggers.discard)

    @staticmethod
    def queued(conn: sa.Connection) -> list[sa.Row[Any]]:
        """The publications the trigger has not handled yet, oldest first."""
        return conn.execute(sa.select(publications).where(publications.c.seq > cursor_of(TRIGGER))
                            .order_by(publications.c.seq)).all()

    async def start_queued(self) -> None:
        """Each publication not yet handled starts a run on every eligible scale set on `latest` of
        its image, then is marked handled (the cursor on the trigger's lease). Each run is begun in
        a transaction of its own and driven at once, so with a thousand scale sets the first batch
        does not wait for the last run to be written. A holder that dies midway leaves the cursor
        where it was, and the next one skips the scale sets whose run was begun (or that are on
        the target already)."""
        async with self._trigger_lock:  # one pass at a time: the lease round and a publish may both ask
            with self.ctx.db.reading() as conn:
                queued = self.queued(conn)
            for publication in queued:
                ref = ImageReference.from_urn(publication.urn)
                with self.ctx.db.reading() as conn:
                    keys = conn.execute(sa.select(scale_sets.c.key).where(scale_sets.c.location == publication.location)
                                        .order_by(scale_sets.c.key)).scalars().all()
                try:
                    for key in keys:
                        with self.ctx.db.transaction() as conn:
                            self.ctx.leases.fence(conn, TRIGGER)
                            run_id = self._start_platform_run(conn, key, ref)
                        if run_id is not None:
                            self._drive(run_id, key)
                            await asyncio.sleep(0)  # let the runs begun so far get going
                    with self.ctx.db.transaction() as conn:
                        self.ctx.leases.fence(conn, TRIGGER)
                        write_cursor(conn, TRIGGER, publication.seq)
                except LeaseLost:
                    return  # the new holder of the trigger goes on from the cursor

    def _start_platform_run(self, conn: sa.Connection, key: str, ref: ImageReference) -> str | None:
        scale_set = conn.execute(sa.select(scale_sets).where(scale_sets.c.key == key)).first()
        if scale_set is None:
            return None  # deleted meanwhile
        model = ScaleSetModel.from_body(scale_set.name, scale_set.body)
        if not (model.automatic_os_upgrade and model.image.is_latest and model.image.same_image(ref)):
            return None
        if scale_set.provisioning_state == "Deleting" or runs.active_for(conn, scale_set.key) is not None:
            return None  # one run at a time; a run already under way moves to its own target
        target = self._target(conn, scale_set)
        if not _any_behind(conn, scale_set.key, target.urn):
            return None  # nothing runs behind the newest version (an older one was published): no run
        run_id, _ = self._begin(conn, scale_set, started_by="Platform", force=False, target=target)
        return run_id

    def _begin(self, conn: sa.Connection, scale_set: sa.Row[Any], *, started_by: str, force: bool,
               target: ImageReference | None = None) -> tuple[str, str]:
        """Begin a run (`target`: the image it upgrades to, when the caller resolved it already)."""
        if scale_set.provisioning_state == "Deleting":
            raise not_allowed(f"The scale set '{scale_set.name}' is being deleted.")
        if runs.active_for(conn, scale_set.key) is not None:
            raise ArmError(409, "RollingUpgradeInProgress", "Another rolling upgrade is already in progress on this scale set.")
        now = self.ctx.clock.now()
        target = target or self._target(conn, scale_set)
        policy = effective_policy(scale_set.body, started_by=started_by, health_wait=self.ctx.settings.health_wait)
        op = operations.begin(conn, subscription=scale_set.subscription_id, location=scale_set.location,
                              resource_key=scale_set.key, kind=operations.RUN_KIND, now=now)
        run_id = runs.create(conn, scale_set_key=scale_set.key, started_by=started_by, target_urn=target.urn, force=force,
                             policy=policy, op_id=op, now=now)
        runs.prune(conn, scale_set.key, keep=self.ctx.settings.history_keep, window_seconds=self.ctx.settings.history_window, now=now)
        return run_id, op

    def _target(self, conn: sa.Connection, scale_set: sa.Row[Any]) -> ImageReference:
        model = ScaleSetModel.from_body(scale_set.name, scale_set.body)
        return intents.resolve(conn, scale_set.location, model.image)

    # -- steering a run -------------------------------------------------------------------------

    def cancel(self, sub: str, group: str, name: str) -> str:
        """POST rollingUpgrades/cancel: the batch in flight finishes, then the run ends Cancelled."""
        return self._steer(sub, group, name, "Cancel", cancel_requested=True)

    def pause(self, sub: str, group: str, name: str) -> str:
        return self._steer(sub, group, name, "Pause", paused=True)

    def resume(self, sub: str, group: str, name: str) -> str:
        return self._steer(sub, group, name, "Resume", paused=False)

    def _steer(self, sub: str, group: str, name: str, action: str, **values: Any) -> str:
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as conn:
            scale_set = require_scale_set(conn, sub, group, name)
            run = runs.active_for(conn, scale_set.key)
            if run is None:
                raise ArmError(409, "NoRollingUpgradeInProgress" if action != "Cancel" else "OperationNotAllowed",
                               f"There is no rolling upgrade in progress on scale set '{scale_set.name}' to {action.lower()}.")
            runs.update(conn, run.id, last_action=action, last_action_time=now, **values)
            op = operations.begin(conn, subscription=scale_set.subscription_id, location=scale_set.location,
                                  resource_key=scale_set.key, kind=f"upgrade-{action.lower()}", now=now)
            operations.settle_open(conn, now)
        self._drive(run.id, scale_set.key)
        return op

    def approve(self, sub: str, group: str, name: str, instance_ids: list[str] | None) -> str:
        """POST approveRollingUpgrade: let a deferred run reimage these instances (all when None)."""
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as conn:
            scale_set = require_scale_set(conn, sub, group, name)
            run = runs.active_for(conn, scale_set.key)
            if run is None:
                raise ArmError(409, "OperationNotAllowed",
                               f"There is no rolling upgrade in progress on scale set '{scale_set.name}' to approve.")
            ids = None
            if instance_ids is not None and instance_ids != ["*"]:
                known = runs.members(conn, run.id)
                ids = []
                for given in instance_ids:
                    if not str(given).isdigit() or int(given) not in known:
                        raise ArmError(400, "InvalidParameter", f"The instance id '{given}' is not part of the rolling upgrade.",
                                       target="instanceIds")
                    ids.append(int(given))
            runs.approve(conn, run.id, ids)
            op = operations.begin(conn, subscription=scale_set.subscription_id, location=scale_set.location,
                                  resource_key=scale_set.key, kind="upgrade-approve", now=now)
            operations.settle_open(conn, now)
        self._drive(run.id, scale_set.key)
        return op

    def on_updated(self, conn: sa.Connection, old: sa.Row[Any], body: dict[str, Any]) -> None:
        """Disabling automatic OS upgrades cancels a run the platform started, as a cancel would."""
        was = ScaleSetModel.from_body(old.name, old.body).automatic_os_upgrade
        if not was or ScaleSetModel.from_body(old.name, body).automatic_os_upgrade:
            return
        run = runs.active_for(conn, old.key)
        if run is not None and run.started_by == "Platform":
            runs.update(conn, run.id, cancel_requested=True, last_action="Cancel", last_action_time=self.ctx.clock.now())
            self.runner.nudge(old.key)

    # -- reading --------------------------------------------------------------------------------

    def latest(self, sub: str, group: str, name: str) -> tuple[sa.Row[Any], sa.Row[Any], dict[str, int], list[int]]:
        """(scale set, its latest run, progress counts, instances waiting for approval)."""
        with self.ctx.db.reading() as conn:
            scale_set = require_scale_set(conn, sub, group, name)
            run = runs.latest_for(conn, scale_set.key)
            if run is None:
                raise ArmError(404, "NotFound", f"No rolling upgrade has run on scale set '{scale_set.name}'.")
            return scale_set, run, runs.counts(runs.members(conn, run.id)), runs.awaiting_approval(conn, run)

    def history(self, sub: str, group: str, name: str) -> tuple[sa.Row[Any], list[tuple[sa.Row[Any], dict[str, int]]]]:
        with self.ctx.db.reading() as conn:
            scale_set = require_scale_set(conn, sub, group, name)
            found = runs.history(conn, scale_set.key)
            now = self.ctx.clock.now()
            window = self.ctx.settings.history_window
            kept = [run for run in found if run.state in runs.ACTIVE or (now - run.started_at).total_seconds() <= window]
            return scale_set, [(run, runs.counts(runs.members(conn, run.id))) for run in kept[: self.ctx.settings.history_keep]]


def _any_behind(conn: sa.Connection, scale_set_key: str, target_urn: str) -> bool:
    """Whether any live instance of the scale set is not bound for the target."""
    return conn.execute(sa.select(sa.exists().where(
        instances.c.scale_set_key == scale_set_key, runs.LIVE, runs.behind(target_urn)))).scalar_one()


def _seconds_per_batch(history: list[sa.Row[Any]], health_wait: float) -> tuple[float, str]:
    """The dry run's estimate: the last completed run's pace, or else one health wait per batch."""
    for run in history:
        if run.state == "Completed" and run.batch_count and run.ended_at:
            # The plan adds its own pauses between batches: the pace is the batches' time alone.
            paused = max(0, run.batch_count - 1) * float((run.policy or {}).get("pause_between_batches") or 0)
            working = max(0.0, (run.ended_at - run.started_at).total_seconds() - paused)
            return working / run.batch_count, f"the pace of run {run.id}"
    return health_wait, "one health wait per batch (no completed run to learn from)"


class _Actions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def reimage(self, conn: sa.Connection, scale_set_key: str, targets: dict[int, str], op_id: str | None) -> None:
        by_image: dict[str, list[int]] = {}
        for instance_id, urn in targets.items():
            by_image.setdefault(urn, []).append(instance_id)
        for urn, ids in by_image.items():
            intents.intend_ids(conn, scale_set_key, ids, "reimage", op_id or "", image=urn)

    def surge(self, conn: sa.Connection, scale_set_key: str, count: int, image_urn: str, op_id: str | None) -> list[int]:
        """maxSurge: new instances on the target image, beside the ones they will replace."""
        scale_set = conn.execute(sa.select(scale_sets).where(scale_sets.c.key == scale_set_key)).one()
        model = ScaleSetModel.from_body(scale_set.name, scale_set.body)
        return intents.add_instances(conn, scale_set, model, count, image_urn, op_id or "", self.ctx.clock.now(),
                                     address_block=self.ctx.settings.address_block)

    def delete(self, conn: sa.Connection, scale_set_key: str, ids: list[int], op_id: str | None) -> None:
        rows = conn.execute(sa.select(instances).where(instances.c.scale_set_key == scale_set_key,
                                                       instances.c.instance_id.in_(ids))).all()
        intents.intend(conn, rows, "delete", op_id or "")

    def finish(self, conn: sa.Connection, op_id: str | None, status: str, error: dict[str, Any] | None) -> None:
        if op_id:
            conn.execute(operations_table.update().where(operations_table.c.id == op_id,
                                                         operations_table.c.status == operations.IN_PROGRESS)
                         .values(status=status, error=error, ended_at=self.ctx.clock.now()))

    def wake(self, scale_set_key: str, ids: list[int] | None = None, action: str | None = None) -> None:
        self.ctx.wake(scale_set_key, ids, action)

