"""The runner: carries one upgrade run out, phase by phase, asking the planner at each step.

Phases: next (choose a batch: pre-check, done, or go) -> batch (reimages under way) -> health (wait
for the batch to turn healthy) -> pause (between batches) -> next ...; a policy breach leads to
rollback (previous images restored) and then Faulted. Each phase is written to the store before
its work starts; the reimages themselves are instance intents, so after a crash nothing is
reimaged twice: an intent already carried out is gone, one not yet carried out is still there.

Every write goes through `_writing(run)`, which first calls `fence` (given by the layer above): with
several replicas it raises when this replica no longer holds the run's scale set, and the run
stops here, to be carried on by the replica that took it over, from the phase last written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scaleset.clock import Clock, sleep_or_until
from scaleset.store.database import Database
from scaleset.store.leases import LeaseLost
from scaleset.upgrade import planner, run_reads, runs
from scaleset.upgrade.known_sets import KnownSet, KnownSets
from scaleset.upgrade.planner import Member, Progress
from scaleset.upgrade.policy import policy_from_json
from scaleset.upgrade.ports import Actions, HealthView

log = logging.getLogger(__name__)

_GATHER = 0.01  # seconds a nudged run waits for the nudges that come with the first


class Runner:
    def __init__(self, db: Database, clock: Clock, actions: Actions, health: HealthView, *, poll: float = 1.0,
                 on_change: Callable[[str], None] | None = None,
                 fence: Callable[[sa.Connection, str], object] | None = None) -> None:
        self.db = db
        self.fence = fence or (lambda _conn, _key: None)
        self.clock = clock
        self.actions = actions
        self.health = health
        self.poll = poll
        self.on_change = on_change or (lambda _run_id: None)
        self._nudges: dict[str, asyncio.Event] = {}  # scale set key -> set when its instances changed
        self._since: dict[str, datetime] = {}  # run id -> when this runner took it up (began, resumed, took over)
        # Scale sets whose run waits on its batch turning healthy: nothing else the health watch
        # tells moves it (an instance of a batch warming up answers unhealthy first).
        self._awaiting_healthy: set[str] = set()
        self._sets = KnownSets(db)  # each run's set as last read

    def nudge(self, scale_set_key: str) -> None:
        """Something a run of this scale set may be waiting for happened (an action ended, a
        verdict changed): look now rather than at the next poll, so no batch waits for nothing."""
        event = self._nudges.get(scale_set_key)
        if event is not None:
            event.set()

    def health_changed(self, scale_set_key: str, healthy: bool) -> None:
        """The health watch's word: a run's view of an instance's health changed (to healthy, or not)."""
        if healthy or scale_set_key not in self._awaiting_healthy:
            self.nudge(scale_set_key)

    async def drive(self, run_id: str) -> None:
        """Carry the run out until it ends (or its scale set is gone)."""
        steps = {"next": self._next, "approval": self._approval, "batch": self._batch, "health": self._health,
                 "pause": self._pause, "rollback": self._rollback}
        op_id: str | None = None
        nudged, key, last = asyncio.Event(), None, None
        self._since[run_id] = self.clock.now()
        try:
            while True:
                run = runs.load(self.db, run_id)
                if run is None:
                    if op_id is not None:
                        # The scale set was deleted under the run, and the run with it: its operation ends too.
                        with self.db.transaction() as conn:  # nothing left to fence: the scale set is gone
                            self.actions.finish(conn, op_id, "Canceled", {
                                "code": "OperationPreempted",
                                "message": "The scale set was deleted while its rolling upgrade ran."})
                        log.info("upgrade run %s ended with its scale set", run_id)
                    return
                if run.state in runs.TERMINAL:
                    return
                op_id, key = run.op_id, run.scale_set_key
                self._nudges[key] = nudged
                if run == last and not nudged.is_set() and not self._due(run):
                    # A poll that finds nothing new: what a batch waits for (its actions' ends, its
                    # instances' verdicts) nudges the run, so there is nothing to look at again.
                    await sleep_or_until(self.clock, self._patience(run), nudged, gather=_GATHER)
                    continue
                last = run
                nudged.clear()  # what happens from here on is seen by this step or wakes the next
                self._awaiting_healthy.discard(key)
                try:
                    moved = await steps[run.phase](run)
                except asyncio.CancelledError:
                    raise
                except LeaseLost:
                    log.warning("upgrade run %s: this replica no longer holds its scale set; the new holder carries it on", run_id)
                    return
                except Exception:  # a store hiccup or a bug must not orphan the run: log, look again
                    log.exception("upgrade run %s: the %s step failed; trying again", run_id, run.phase)
                    self._sets.drop(run_id)  # what it wrote may not be what it was told
                    moved = False
                if moved:
                    last = None
                    self.on_change(run_id)
                else:
                    # A batch's instances report one by one: let the burst gather, so it costs one look.
                    await sleep_or_until(self.clock, self._patience(run), nudged, gather=_GATHER)
        finally:
            self._since.pop(run_id, None)
            self._sets.drop(run_id)
            if key is not None and self._nudges.get(key) is nudged:
                del self._nudges[key]
                self._awaiting_healthy.discard(key)

    # -- phases: each returns True when it moved the run on ---------------------------------

    async def _next(self, run: sa.Row[Any]) -> bool:
        now = self.clock.now()
        if run.cancel_requested:
            with self._writing(run) as conn:
                self._end(conn, run, "Cancelled", None, now)
            return True
        if run.paused:
            return False
        known = self._sets.of(run)
        self._forget_gone(run, known)
        return self._choose(run, *known.members(run.scale_set_key, self.health), now)

    def _choose(self, run: sa.Row[Any], members: list[Member], unknown: frozenset[int], now: datetime) -> bool:
        """The next batch, from the set as read (`members`; `unknown`: those whose verdict is not
        in yet): launched, or the run's end; False while a verdict it needs is not in yet."""
        if not any(m.progress == Progress.PENDING for m in members):  # done at once, whatever health says
            with self._writing(run) as conn:
                self._end(conn, run, "Completed", None, now)
            return True
        if unknown:  # health verdicts not all in yet: the pre-check would be guessing
            with self._writing(run):
                pass  # unless the scale set is no longer ours (LeaseLost): its new holder carries the run on
            return False
        decision = planner.next_batch(members, self._policy(run), first=run.batch_count == 0)
        touched, action = None, None  # the instances given intents, when known, and the action when one for all
        with self._writing(run) as conn:
            if isinstance(decision, planner.Done):
                self._end(conn, run, "Completed", None, now)
            elif isinstance(decision, planner.Stop):
                self._end(conn, run, "Faulted", {"code": decision.code, "message": decision.message}, now)
            else:
                batch = list(decision.ids)
                runs.set_progress(conn, run.id, batch, Progress.IN_FLIGHT, batch_index=run.batch_count)
                runs.update(conn, run.id, batch_count=run.batch_count + 1)
                if self._policy(run).defer:
                    # Deferred: the batch waits until each of its instances is approved.
                    runs.update(conn, run.id, phase="approval", batch=batch, phase_since=now)
                else:
                    touched, action = self._launch(conn, run, batch, now)
        if isinstance(decision, planner.Batch):
            self._sets.told(run.id, decision.ids, Progress.IN_FLIGHT)
        self.actions.wake(run.scale_set_key, touched, action)
        return True

    async def _approval(self, run: sa.Row[Any]) -> bool:
        """osRollingUpgradeDeferral: reimage the batch once every instance in it is approved."""
        now = self.clock.now()
        with self._writing(run) as conn:
            members = runs.members(conn, run.id)
            batch = [i for i in run.batch if i in members]
            if run.cancel_requested:  # nothing of this batch was touched: it goes back to pending
                runs.set_progress(conn, run.id, batch, Progress.PENDING)
                self._end(conn, run, "Cancelled", None, now)
                return True
            if not all(members[i].approved for i in batch):
                return False
            touched, action = self._launch(conn, run, batch, now)
        self.actions.wake(run.scale_set_key, touched, action)
        return True

    def _launch(self, conn: sa.Connection, run: sa.Row[Any], batch: list[int], now: datetime) -> tuple[list[int], str]:
        """Start a chosen batch: reimage it in place, or (maxSurge) create its replacements first.
        Returns the instances given intents, and their action.

        With maxSurge the run's batch is the new instances (their health is what is waited on);
        the ones they replace are the members in flight.
        """
        if self._policy(run).max_surge:
            new = self.actions.surge(conn, run.scale_set_key, len(batch), run.target_urn, run.op_id)
            runs.update(conn, run.id, phase="batch", batch=new, phase_since=now)
            return new, "create"
        runs.update(conn, run.id, phase="batch", batch=batch, phase_since=now)
        self.actions.reimage(conn, run.scale_set_key, {i: run.target_urn for i in batch}, run.op_id)
        return batch, "reimage"

    async def _batch(self, run: sa.Row[Any]) -> bool:
        if self._pending(run):
            return False
        with self._writing(run) as conn:
            runs.update(conn, run.id, phase="health", phase_since=self.clock.now())
        return True

    async def _health(self, run: sa.Row[Any]) -> bool:
        if self._policy(run).max_surge:
            return await self._surge_health(run)
        ends = run_reads.instance_rows(self.db, run.scale_set_key, run.batch)  # how the batch's actions ended
        if run_reads.batch_waits(run, ends, self.health, self._policy(run), self._waited(run, self.clock.now())):
            self._awaiting_healthy.add(run.scale_set_key)
            return False
        known = self._sets.of(run, ends.values())
        gone = self._forget_gone(run, known)
        batch = tuple(i for i in run.batch if i not in gone)  # an instance deleted meanwhile left the batch
        members, unknown = known.members(run.scale_set_key, self.health)
        now = self.clock.now()
        policy = self._policy(run)
        failed = run_reads.failed_reimages(run, ends)
        waited = self._waited(run, now)
        verdict = planner.judge_batch(members, batch, policy, elapsed=waited, failed=frozenset(failed))
        if isinstance(verdict, planner.Wait):
            return False
        bad = set(verdict.unhealthy) if isinstance(verdict, planner.BatchTimedOut) else set()
        judged = {i: Progress.FAILED if i in bad else Progress.UPGRADED for i in batch}
        members = [Member(m.id, m.healthy, judged[m.id], m.zone, m.update_domain) if m.id in judged else m for m in members]
        pending_left = any(m.progress == Progress.PENDING for m in members)
        outcome = planner.after_batch(members, batch, policy, failed_reimages=frozenset(failed),
                                      unknown=planner.awaited(unknown, waited, policy))
        if isinstance(outcome, planner.Unsure):
            return False  # each verdict that comes in nudges the run
        with self._writing(run) as conn:
            runs.set_progress(conn, run.id, [i for i in batch if i not in bad], Progress.UPGRADED)
            for instance_id in bad:
                runs.set_progress(conn, run.id, [instance_id], Progress.FAILED,
                                  error=failed.get(instance_id) or "not healthy within the health wait")
            if isinstance(outcome, planner.GoOn):
                # The pause is between batches: after the last one the run ends at once.
                phase = "pause" if policy.pause_between_batches > 0 and pending_left else "next"
                runs.update(conn, run.id, phase=phase, batch=[], phase_since=now)
            else:
                phase = None
                error = run_reads.stop_error(outcome, run.batch, bad, failed)
                if outcome.roll_back:
                    self._begin_rollback(conn, run, outcome.roll_back, error, now)
                else:
                    self._end(conn, run, "Faulted", error, now)
        self._sets.told(run.id, [i for i in batch if i not in bad], Progress.UPGRADED)
        self._sets.told(run.id, bad, Progress.FAILED)
        if isinstance(outcome, planner.Stop) and outcome.roll_back:
            self.actions.wake(run.scale_set_key, list(outcome.roll_back))  # a batch that goes on wrote no intents
        if phase == "next" and not run.cancel_requested and not run.paused:
            # On to the next batch in the same step, from the scale set as just read: reading it
            # again for the choice costs as much as the judgement did.
            self._choose(run, members, unknown, now)
        return True

    async def _surge_health(self, run: sa.Row[Any]) -> bool:
        """maxSurge: once the new instances are judged, the old ones go (or, on a stop that rolls
        back, the new ones go and the old ones keep serving, untouched)."""
        new = tuple(run.batch)
        known = self._sets.of(run)
        old = sorted(i for i, p in known.progress_of().items() if p == Progress.IN_FLIGHT)
        members, unknown = known.members(run.scale_set_key, self.health)
        now = self.clock.now()
        policy = self._policy(run)
        failed = run_reads.failed_reimages(run, run_reads.instance_rows(self.db, run.scale_set_key, new))
        present = {m.id for m in members}
        failed.update({i: "the new instance was deleted before it turned healthy" for i in new if i not in present})
        waited = self._waited(run, now)
        verdict = planner.judge_batch(members, new, policy, elapsed=waited, failed=frozenset(failed))
        if isinstance(verdict, planner.Wait):
            return False
        bad = set(verdict.unhealthy) if isinstance(verdict, planner.BatchTimedOut) else set()
        # The limits are judged as if the batch had been upgraded in place: the new instances
        # stand in for the old ones.
        stand_ins = [m for m in members if m.id not in old and m.id not in new] + [
            Member(m.id, m.healthy, Progress.FAILED if m.id in bad else Progress.UPGRADED, m.zone, m.update_domain)
            for m in members if m.id in new]
        outcome = planner.after_batch(stand_ins, new, policy, failed_reimages=frozenset(failed),
                                      unknown=planner.awaited(unknown, waited, policy))
        if isinstance(outcome, planner.Unsure):
            return False
        with self._writing(run) as conn:
            if isinstance(outcome, planner.Stop) and outcome.roll_back:
                self.actions.delete(conn, run.scale_set_key, list(new), run.op_id)
                runs.set_progress(conn, run.id, old, Progress.ROLLED_BACK)
                runs.update(conn, run.id, rollback_info={"successfullyRolledbackInstanceCount": len(old),
                                                         "failedRolledbackInstanceCount": 0})
                self._end(conn, run, "Faulted", run_reads.stop_error(outcome, new, bad, failed), now)
            else:
                for replaced, replacement in zip(old, sorted(new), strict=False):
                    runs.set_progress(conn, run.id, [replaced], Progress.FAILED if replacement in bad else Progress.UPGRADED)
                self.actions.delete(conn, run.scale_set_key, old, run.op_id)
                if isinstance(outcome, planner.Stop):
                    self._end(conn, run, "Faulted", run_reads.stop_error(outcome, new, bad, failed), now)
                else:
                    left = Progress.PENDING in runs.progress_of(conn, run.id).values()
                    phase = "pause" if policy.pause_between_batches > 0 and left else "next"
                    runs.update(conn, run.id, phase=phase, batch=[], phase_since=now)
        self.actions.wake(run.scale_set_key)
        return True

    async def _pause(self, run: sa.Row[Any]) -> bool:
        policy = self._policy(run)
        if (self.clock.now() - run.phase_since).total_seconds() < policy.pause_between_batches and not run.cancel_requested:
            return False
        with self._writing(run) as conn:
            runs.update(conn, run.id, phase="next", phase_since=self.clock.now())
        return True

    async def _rollback(self, run: sa.Row[Any]) -> bool:
        if self._pending(run):
            return False
        now = self.clock.now()
        states = run_reads.instance_rows(self.db, run.scale_set_key)  # settled: no action is under way
        with self._writing(run) as conn:
            members = runs.members(conn, run.id)  # whole rows: with the image each had before
            gone = KnownSet(states.values(), {i: runs.PROGRESS[m.progress] for i, m in members.items()}).gone()
            runs.forget(conn, run.id, sorted(gone))
            good, bad = [], []
            for instance_id in (i for i in run.batch if i not in gone):
                row = states.get(instance_id)
                restored = row is not None and row.provisioning_state == "Succeeded" and row.image_urn == members[instance_id].previous_urn
                (good if restored else bad).append(instance_id)
            runs.set_progress(conn, run.id, good, Progress.ROLLED_BACK)
            runs.set_progress(conn, run.id, bad, Progress.ROLLBACK_FAILED)
            info = {"successfullyRolledbackInstanceCount": len(good), "failedRolledbackInstanceCount": len(bad)}
            if bad:
                info["rollbackError"] = {"code": "RollbackFailed", "message": f"{len(bad)} instance(s) could not get their previous image back."}
            runs.update(conn, run.id, rollback_info=info)
            self._end(conn, run, "Faulted", run.error, now)
        return True

    # -- helpers -----------------------------------------------------------------------------

    def _begin_rollback(self, conn: sa.Connection, run: sa.Row[Any], ids: tuple[int, ...], error: dict[str, Any],
                        now: datetime) -> None:
        members = runs.members(conn, run.id)
        targets = {i: members[i].previous_urn for i in ids if members[i].previous_urn}
        runs.update(conn, run.id, state="RollingBack", phase="rollback", batch=sorted(targets), error=error, phase_since=now)
        self.actions.reimage(conn, run.scale_set_key, targets, run.op_id)

    def _forget_gone(self, run: sa.Row[Any], known: KnownSet) -> set[int]:
        """Members whose instance left the set leave the run: a write only when there are some."""
        left = known.gone()
        if left:
            with self._writing(run) as conn:
                runs.forget(conn, run.id, sorted(left))
            known.forget(left)
        return left

    def _end(self, conn: sa.Connection, run: sa.Row[Any], state: str, error: dict[str, Any] | None, now: datetime) -> None:
        runs.update(conn, run.id, state=state, phase="done", batch=[], error=error, ended_at=now, phase_since=now)
        status = {"Completed": "Succeeded", "Cancelled": "Canceled"}.get(state, "Failed")
        self.actions.finish(conn, run.op_id, status, error)
        log.info("upgrade run %s of %s ended %s", run.id, run.scale_set_key, state)

    @contextlib.contextmanager
    def _writing(self, run: sa.Row[Any]) -> Iterator[sa.Connection]:
        """A write of this run's: only while its scale set is still ours to act on."""
        with self.db.transaction() as conn:
            self.fence(conn, run.scale_set_key)
            yield conn

    def _patience(self, run: sa.Row[Any]) -> float:
        """How long a run that could not move waits, unless nudged: until its pause or its batch's
        health wait ends, and at most the poll (for what nothing nudges, such as another replica
        cancelling it)."""
        if run.phase == "pause":
            elapsed = (self.clock.now() - run.phase_since).total_seconds()
            return max(0.0, min(self.poll, self._policy(run).pause_between_batches - elapsed))
        if run.phase == "health":
            return max(0.0, min(self.poll, self._policy(run).health_wait - self._waited(run, self.clock.now())))
        return self.poll

    def _due(self, run: sa.Row[Any]) -> bool:
        """Whether the run must look again though nothing nudged it and its row is unchanged:
        unless it waits on its batch (its actions, then its health, both of which nudge it), until
        the health wait runs out."""
        if run.phase == "batch":
            return False
        if run.phase == "health":
            return self._waited(run, self.clock.now()) >= self._policy(run).health_wait
        return True

    def _waited(self, run: sa.Row[Any], now: datetime) -> float:
        """Seconds of the batch's health wait spent: since its phase began, or since this runner
        took the run up (a restart, a takeover), whichever is later. Verdicts live in memory, so a
        runner just come has seen none, and the batch gets its whole wait again."""
        since = max(run.phase_since, self._since.get(run.id, run.phase_since))
        return (now - since).total_seconds()

    def _policy(self, run: sa.Row[Any]) -> planner.Policy:
        return policy_from_json(run.policy)

    def _pending(self, run: sa.Row[Any]) -> bool:
        return run_reads.busy(self.db, run.scale_set_key, run.batch)
