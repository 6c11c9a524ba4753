"""The reconciler: carries instance intents out through the driver, a batch's creates and reimages
in one call (and one task), other actions one instance at a time.

The intent is on the row before the driver is called; the outcome is written after, and only if
no newer intent replaced it meanwhile (action_seq). A crash anywhere leaves the intent in place,
and the next start carries it out again. Driver calls are idempotent, and a reimage carries its
intent's action_seq as its generation, so one the dead server had already carried out is not done
a second time. It also keeps the observed power and extension states of idle instances fresh.

With several replicas, a scale set's intents are carried out by the holder of its lease alone:
each driver call carries the lease's fencing token and each outcome is written only while the
lease is still ours, so a replica that lost it changes neither the machine nor the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import sqlalchemy as sa

from scaleset.clock import every
from scaleset.drivers.fencing import Fenced
from scaleset.drivers.base import InstanceStatus, PowerState
from scaleset.images.artifacts import ArtifactStore
from scaleset.service import machine_specs
from scaleset.service.context import Context
from scaleset.service.dispatched import INTENTS, Intent, intent
from scaleset.service.extension_states import said
from scaleset.service.intents import ACTIONS
from scaleset.service.machine_specs import SpecTemplate
from scaleset.service.observation import Observing
from scaleset.service.outcomes import Outcome, Outcomes
from scaleset.store.leases import LeaseLost, scale_set_lease
from scaleset.store.tables import instances

log = logging.getLogger(__name__)

# An intent is pending, said so that SQLite looks it up in the index on pending_action: for "IS NOT
# NULL" it scans the whole table, which at a million instances costs every dispatch ~0.1 s.
_PENDING = instances.c.pending_action.in_(ACTIONS)
# A scale set's instances with an action to carry out, for `Database.fetch`: the same IN over the
# actions, as a bind it fills (a literal list would be left for SQLAlchemy to expand).
_SLOTS = sa.select(instances.c.scale_set_key, instances.c.instance_id).where(
    instances.c.scale_set_key == sa.bindparam("key"), instances.c.pending_action.in_(sa.bindparam("actions", expanding=True)))


class Reconciler(Observing):
    def __init__(self, ctx: Context, artifacts: ArtifactStore) -> None:
        self.ctx = ctx
        self.artifacts = artifacts
        self._wakeup = asyncio.Event()
        self._inflight: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._outcomes = Outcomes(ctx)
        # What the next dispatch reads: every intent (after a wake), those of the scale sets woken
        # for, and the instances whose action just ended (a newer intent may wait behind it): a
        # batch of hundreds ends one by one, and a thousand scale sets each wake it for theirs.
        self._rescan = True
        self._rescan_sets: set[str] = set()
        self._recheck: set[tuple[str, int]] = set()
        # Whether other replicas are alive, whose API calls write intents without waking us.
        self.others_alive = True
        self._tasks: list[asyncio.Task[None]] = []
        ctx.leases.lost.append(self._lease_lost)
        self._changed = None  # everything at the first look (Observing)
        self._flying, self._ended, self._late, self._held = set(), set(), set(), set()
        self._unwatch = ctx.driver.watch(self._machine_changed)

    def wake(self, scale_set_key: str | None = None) -> None:
        """Look for intents: those of the scale set named, or any."""
        if scale_set_key is None:
            self._rescan = True
        else:
            self._rescan_sets.add(scale_set_key)
        self._wakeup.set()

    def start(self) -> None:
        observing = every(self.ctx.clock, lambda: self.ctx.settings.status_interval, self.observe, what="observing instances")
        # Another replica's API calls write intents for our scale sets without waking us: look now and then.
        polling = every(self.ctx.clock, lambda: self.ctx.settings.dispatch_poll, self._poll, what="looking for intents")
        self._tasks = [asyncio.create_task(t) for t in (self._dispatch_forever(), observing, polling)]

    async def stop(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
        tasks = {*self._tasks, *self._inflight.values()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no intent is pending or in flight (tests and the demo)."""
        while True:
            self._rescan = True
            self.dispatch()
            if self._inflight:
                await asyncio.gather(*set(self._inflight.values()), return_exceptions=True)
                continue
            with self.ctx.db.reading() as conn:
                if conn.execute(sa.select(instances.c.instance_id).where(_PENDING).limit(1)).first() is None:
                    return
            await asyncio.sleep(0.01)

    # -- dispatch -----------------------------------------------------------------------------

    async def _dispatch_forever(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                self.dispatch()
            except Exception:  # a store hiccup must not stop the reconciler
                log.exception("dispatch failed")
                self._rescan = True  # what it was to read is read at the next dispatch
            await self._wakeup.wait()

    async def _poll(self) -> None:
        if self.others_alive or self._rescan:  # or a failed dispatch left something unread
            self.wake()

    def dispatch(self) -> None:
        rescan, sets, recheck = self._rescan, self._rescan_sets, self._recheck
        self._rescan, self._rescan_sets, self._recheck = False, set(), set()
        # The slots first, and whole rows only for those not already in flight.
        if rescan:
            with self.ctx.db.reading() as conn:
                slots = conn.execute(sa.select(instances.c.scale_set_key, instances.c.instance_id).where(_PENDING)).all()
        else:
            # Straight on the driver: at scale a dispatch reads hundreds of woken scale sets.
            reads = [(_SLOTS, {"key": key, "actions": list(ACTIONS)}) for key in sorted(sets)]
            slots = sorted(recheck) + [slot for rows in (self.ctx.db.fetch(*reads) if reads else []) for slot in rows]
        waiting: dict[str, list[int]] = {}
        for key, instance_id in slots:
            if (key, instance_id) not in self._inflight:
                waiting.setdefault(key, []).append(instance_id)
        shared: dict[Any, Any] = {}
        pending = [intent(row, shared) for rows in self.ctx.db.fetch(*[
            (INTENTS, {"key": key, "ids": ids}) for key, ids in waiting.items()]) for row in rows]
        tokens: dict[str, int | None] = {}
        # A batch's creates and reimages (one scale set, one image) go to the driver in one call,
        # from the part of a spec they share, worked out once (or the error each of them reports:
        # the image is gone, say); other actions go one instance at a time.
        batches: dict[tuple[str, str, str | None], list[Intent]] = {}
        for row in pending:
            if (row.scale_set_key, row.instance_id) in self._inflight:
                continue
            if row.scale_set_key not in tokens:
                # A scale set no replica holds yet (just created) is taken by whoever sees its intents.
                tokens[row.scale_set_key] = self.ctx.leases.acquire(scale_set_lease(row.scale_set_key))
            token = tokens[row.scale_set_key]
            if token is None:
                continue  # another replica's
            if row.pending_action in ("create", "reimage"):
                batches.setdefault((row.scale_set_key, row.pending_action, row.pending_image), []).append(row)
            else:
                self._launch([row], token, None)
        for (key, _, _), rows in batches.items():
            self._launch(rows, tokens[key], self._template(rows[0]))

    def _launch(self, rows: list[Intent], token: int | None, template: SpecTemplate | Exception | None) -> None:
        task = asyncio.create_task(self._carry_out(rows, token or 0, template))
        slots = [(row.scale_set_key, row.instance_id) for row in rows]
        for slot in slots:
            self._inflight[slot] = task
        machines = [row.machine_key for row in rows]
        self._flying.update(machines)
        task.add_done_callback(lambda _t: self._done(slots, machines))

    def _template(self, row: sa.Row[Any]) -> SpecTemplate | Exception:
        try:
            with self.ctx.db.reading() as conn:
                return machine_specs.template(conn, row.scale_set_key, row.pending_image, self.artifacts, self.ctx.secrets)
        except Exception as error:  # noqa: BLE001 - the instances' own failure, reported with each
            return error

    def _lease_lost(self, name: str) -> None:
        """Another replica carries this scale set's intents out now: stop ours where they stand (a
        crash could have stopped them there too, and the new holder redoes them idempotently)."""
        for (key, _), task in list(self._inflight.items()):
            if scale_set_lease(key) == name:
                task.cancel()

    def _done(self, slots: list[tuple[str, int]], machines: list[str]) -> None:
        self._flying.difference_update(machines)
        self._ended.difference_update(machines)
        late = self._late.intersection(machines)
        if late:
            self._late -= late
            if self._changed is not None:
                self._changed |= late
        for slot in slots:
            self._inflight.pop(slot, None)
            self._recheck.add(slot)  # a newer intent may be waiting for this instance
        self._wakeup.set()

    # -- carrying intents out -------------------------------------------------------------------

    async def _carry_out(self, rows: list[Intent], token: int, template: SpecTemplate | Exception | None) -> None:
        """Carry out one instance's intent, or (with a template) a batch's creates or reimages,
        and record the outcomes together."""
        driver, model_version, expected = self.ctx.driver, None, frozenset[str]()
        action = rows[0].pending_action
        try:
            if template is None:
                async with driver.slots():
                    failures: list[BaseException | None] = [await _failure(
                        getattr(driver, action)(rows[0].machine_key, fence=token))]
            elif isinstance(template, Exception):
                failures = [template] * len(rows)
            else:
                specs = [template.spec(row) for row in rows]
                model_version, expected = template.model_version, frozenset(e.name for e in specs[0].extensions)
                failures = await getattr(driver, f"{action}_many")(specs, fence=token)
        except (asyncio.CancelledError, LeaseLost, Fenced):
            return  # no longer ours to carry out: the new holder of the lease does it
        outcomes, provisioning = [], []
        for row, failure in zip(rows, failures):
            if isinstance(failure, (asyncio.CancelledError, LeaseLost, Fenced)):
                continue  # as above, for this one
            if failure is not None:  # any driver failure is the instance's, shown to the user
                log.warning("%s of %s failed: %s", action, row.machine_key, failure)
                outcomes.append(await self._outcome(row, _failed(row, failure), model_version, None))
            elif template is None:
                outcomes.append(await self._outcome(row, None, model_version, None))
            else:
                provisioning.append(row)
        # Provisioning ends when the extensions do: most have by now, and the rest are waited on together.
        ended = [await self._extensions_ended(row, expected, wait=False) for row in provisioning]
        waiting = [row for row, found in zip(provisioning, ended) if found is None]
        waited = iter(await asyncio.gather(*(self._extensions_ended(row, expected, wait=True) for row in waiting)))
        for row, found in zip(provisioning, ended):
            error, extensions = found or next(waited)  # type: ignore[misc]
            outcomes.append(await self._outcome(row, error, model_version, extensions))
        try:
            await self._outcomes.record(outcomes)
        except LeaseLost:
            log.warning("the outcomes of %s of %d instances of %s were not written: the scale set's lease was taken over",
                        action, len(outcomes), rows[0].scale_set_key)

    async def _outcome(self, row: Intent, error: dict[str, str] | None, model_version: int | None,
                       extensions: list[dict[str, str]] | None) -> Outcome:
        action = row.pending_action
        if error is not None and action == "delete" and await self._power(row.machine_key) == PowerState.UNKNOWN:
            error = None  # the call failed (a timeout, say) after the machine went: the delete is done
        if action in ("create", "reimage"):
            on_disk = row.pending_image if error is None else await self._image_on_disk(row.machine_key)
        else:
            # A create whose intent a newer one replaced before it was recorded (a crash cut it
            # short) leaves no image in the store: learn it from the machine.
            on_disk = await self._image_on_disk(row.machine_key) if row.image_urn is None else None
        if extensions is not None:
            self._ended.add(row.machine_key)  # its states as the action left them are taken: a change from here on is news
        elif self._changed is not None:
            self._changed.add(row.machine_key)  # its states as the action left them are looked at next
        return Outcome(row, error, model_version, on_disk, extensions)

    async def _power(self, key: str) -> PowerState | None:
        status = await self._status(key)
        return status.power_state if status else None

    async def _image_on_disk(self, key: str) -> str | None:
        """The image the machine really has (None: unknown)."""
        status = await self._status(key)
        return status.image_urn if status else None

    async def _status(self, key: str) -> InstanceStatus | None:
        """The machine's status after a call failed, or None when the driver cannot say either."""
        try:
            return await self.ctx.driver.status(key)
        except Exception:  # noqa: BLE001 - the driver already failed once; the record says so
            return None

    async def _extensions_ended(self, row: Intent, expected: frozenset[str], *, wait: bool
                                ) -> tuple[dict[str, str] | None, list[dict[str, str]]] | None:
        """Provisioning ends when the extensions do; a failed one fails it, as in Azure. Returns
        the error, if any, and the extensions' states, which the outcome writes; None while they
        run, unless asked to `wait` (their progress is written meanwhile).

        An extension the driver has not reported on yet counts as still running.
        """
        key = row.machine_key
        deadline = self.ctx.clock.monotonic() + self.ctx.settings.extension_timeout
        pause = 0.02  # most extensions finish just after the machine is up: look soon, then less often
        while True:
            try:
                status = await self.ctx.driver.status(key)
            except Exception as failure:  # noqa: BLE001 - the instance's, as the action's own would be
                return _failed(row, failure), []
            found = said(status.extensions)
            states = found.states
            if expected <= found.ended:
                failed = found.failed
                if failed:
                    return {"code": "VMExtensionProvisioningError",
                            "message": "; ".join(f"VM has reported a failure when processing extension '{e.name}'. Error message: {e.message}" for e in failed)}, states
                return None, states
            if not wait:
                return None
            if self.ctx.clock.monotonic() > deadline:
                return {"code": "VMExtensionProvisioningTimeout", "message": f"Extensions of {key} did not finish in time."}, states
            self._store_extensions(row, states)
            await self.ctx.clock.sleep(pause)
            pause = min(0.2, 2 * pause)

    def _store_extensions(self, row: Intent, extensions: list[dict[str, str]]) -> None:
        """Keep extension progress visible while provisioning waits on it."""
        key = row.machine_key
        with self.ctx.db.reading() as conn:
            current = conn.execute(sa.select(instances.c.extensions).where(instances.c.machine_key == key)).scalar()
        if current != extensions:  # compared here: PostgreSQL's json type has no equality operator
            with self.ctx.db.transaction() as conn:
                self.ctx.leases.fence(conn, scale_set_lease(row.scale_set_key))
                conn.execute(instances.update().where(instances.c.machine_key == key).values(extensions=extensions))


def _failed(row: Intent, failure: BaseException) -> dict[str, str]:
    """The instance's error when the driver failed its action."""
    return {"code": "VMOperationFailed", "message": f"{row.pending_action} of instance {row.instance_id} failed: {failure}"}


async def _failure(call: Awaitable[None]) -> BaseException | None:
    """What the call raised (None: nothing), as the driver's batch calls return it."""
    try:
        await call
    except Exception as failure:  # noqa: BLE001 - the instance's, recorded with its outcome
        return failure
    return None
