"""The reconciler: carries instance intents out through the driver, one task per instance.

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
from typing import Any

import sqlalchemy as sa

from scaleset.clock import every
from scaleset.drivers.fencing import Fenced
from scaleset.drivers.base import ExtensionSpec, ExtensionState, ImageArtifact, InstanceSpec, InstanceStatus, PowerState
from scaleset.images import catalog
from scaleset.images.artifacts import ArtifactStore
from scaleset.model.image_reference import ImageReference
from scaleset.model.scale_set import ScaleSetModel
from scaleset.service import bodies, operations
from scaleset.service.context import Context
from scaleset.service.intents import instance_computer_name
from scaleset.store.leases import LeaseLost, scale_set_lease
from scaleset.service.network import backend_ports, health_probe_of
from scaleset.store.tables import instances, scale_sets

log = logging.getLogger(__name__)

_POWER_AFTER = {
    "create": PowerState.RUNNING, "reimage": PowerState.RUNNING, "start": PowerState.RUNNING,
    "restart": PowerState.RUNNING, "stop": PowerState.STOPPED, "deallocate": PowerState.DEALLOCATED,
}


class Reconciler:
    def __init__(self, ctx: Context, artifacts: ArtifactStore) -> None:
        self.ctx = ctx
        self.artifacts = artifacts
        self._wakeup = asyncio.Event()
        self._inflight: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._limit = asyncio.Semaphore(ctx.driver.parallel_operations)
        self._tasks: list[asyncio.Task[None]] = []
        ctx.wake = self.wake
        ctx.leases.lost.append(self._lease_lost)

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        observing = every(self.ctx.clock, lambda: self.ctx.settings.status_interval, self.observe, what="observing instances")
        # Another replica's API calls write intents for our scale sets without waking us: look now and then.
        polling = every(self.ctx.clock, lambda: self.ctx.settings.dispatch_poll, self._poll, what="looking for intents")
        self._tasks = [asyncio.create_task(t) for t in (self._dispatch_forever(), observing, polling)]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._inflight.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._inflight.values(), return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no intent is pending or in flight (tests and the demo)."""
        while True:
            self.dispatch()
            if self._inflight:
                await asyncio.gather(*list(self._inflight.values()), return_exceptions=True)
                continue
            with self.ctx.db.reading() as conn:
                if conn.execute(sa.select(instances.c.instance_id).where(instances.c.pending_action.is_not(None)).limit(1)).first() is None:
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
            await self._wakeup.wait()

    async def _poll(self) -> None:
        self.wake()

    def dispatch(self) -> None:
        with self.ctx.db.reading() as conn:
            # The slots first, and whole rows only for those not already in flight: it runs after
            # every action ends, and a batch of hundreds would read every other one each time.
            slots = conn.execute(sa.select(instances.c.scale_set_key, instances.c.instance_id)
                                 .where(instances.c.pending_action.is_not(None))).all()
            waiting: dict[str, list[int]] = {}
            for key, instance_id in slots:
                if (key, instance_id) not in self._inflight:
                    waiting.setdefault(key, []).append(instance_id)
            pending = []
            for key, ids in waiting.items():
                pending += conn.execute(sa.select(instances).where(
                    instances.c.scale_set_key == key, instances.c.instance_id.in_(ids),
                    instances.c.pending_action.is_not(None))).all()
        tokens: dict[str, int | None] = {}
        for row in pending:
            slot = (row.scale_set_key, row.instance_id)
            if slot in self._inflight:
                continue
            if row.scale_set_key not in tokens:
                # A scale set no replica holds yet (just created) is taken by whoever sees its intents.
                tokens[row.scale_set_key] = self.ctx.leases.acquire(scale_set_lease(row.scale_set_key))
            token = tokens[row.scale_set_key]
            if token is None:
                continue  # another replica's
            task = asyncio.create_task(self._carry_out(row, token))
            self._inflight[slot] = task
            task.add_done_callback(lambda _t, slot=slot: self._done(slot))

    def _lease_lost(self, name: str) -> None:
        """Another replica carries this scale set's intents out now: stop ours where they stand (a
        crash could have stopped them there too, and the new holder redoes them idempotently)."""
        for (key, _), task in list(self._inflight.items()):
            if scale_set_lease(key) == name:
                task.cancel()

    def _done(self, slot: tuple[str, int]) -> None:
        self._inflight.pop(slot, None)
        self.wake()  # a newer intent may be waiting for this instance

    # -- one action ---------------------------------------------------------------------------

    async def _carry_out(self, row: sa.Row[Any], token: int) -> None:
        async with self._limit:
            action, error, model_version = row.pending_action, None, None
            try:
                if action in ("create", "reimage"):
                    spec, model_version = self._spec(row)
                    await getattr(self.ctx.driver, action)(spec, fence=token)
                    error = await self._await_extensions(row, {e.name for e in spec.extensions})
                else:
                    await getattr(self.ctx.driver, action)(row.machine_key, fence=token)
            except (asyncio.CancelledError, LeaseLost, Fenced):
                return  # no longer ours to carry out: the new holder of the lease does it
            except Exception as failure:  # any driver failure is the instance's, shown to the user
                log.warning("%s of %s failed: %s", action, row.machine_key, failure)
                error = {"code": "VMOperationFailed", "message": f"{action} of instance {row.instance_id} failed: {failure}"}
            if error is not None and action == "delete" and await self._power(row.machine_key) == PowerState.UNKNOWN:
                error = None  # the call failed (a timeout, say) after the machine went: the delete is done
            if action in ("create", "reimage"):
                on_disk = row.pending_image if error is None else await self._image_on_disk(row.machine_key)
            else:
                # A create whose intent a newer one replaced before it was recorded (a crash cut it
                # short) leaves no image in the store: learn it from the machine.
                on_disk = await self._image_on_disk(row.machine_key) if row.image_urn is None else None
            try:
                self._record(row, error, model_version, on_disk)
            except LeaseLost:
                log.warning("the outcome of %s of %s was not written: the scale set's lease was taken over",
                            action, row.machine_key)
            else:
                self.ctx.acted(row.scale_set_key)

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

    def _record(self, row: sa.Row[Any], error: dict[str, str] | None, model_version: int | None,
                on_disk: str | None) -> None:
        now = self.ctx.clock.now()
        where = (instances.c.scale_set_key == row.scale_set_key, instances.c.instance_id == row.instance_id)
        with self.ctx.db.transaction() as conn:
            self.ctx.leases.fence(conn, scale_set_lease(row.scale_set_key))
            current = conn.execute(sa.select(instances).where(*where)).first()
            if current is None:
                return
            if error is not None:
                operations.record_error(conn, row.pending_op, error)
            if current.action_seq != row.action_seq:
                # Superseded: the newer intent stays for the next dispatch. What this one laid on
                # the OS disk is still a fact, and a newer start or stop will not change it.
                if row.pending_action in ("create", "reimage") and model_version is not None and on_disk is not None:
                    conn.execute(instances.update().where(*where).values(
                        image_urn=on_disk,
                        model_version=model_version if on_disk == row.pending_image else current.model_version))
                operations.settle_open(conn, now)
                return
            if row.pending_action == "delete" and error is None:
                conn.execute(instances.delete().where(*where))
            else:
                values: dict[str, Any] = {
                    "pending_action": None, "pending_image": None, "pending_op": None,
                    "provisioning_state": "Failed" if error else "Succeeded",
                    "last_error": error["message"] if error else None,
                }
                if row.pending_action in _POWER_AFTER:
                    values["power_state"] = str(_POWER_AFTER[row.pending_action])
                if row.pending_action not in ("create", "reimage") and current.image_urn is None and on_disk is not None:
                    values["image_urn"] = on_disk
                if row.pending_action in ("create", "reimage") and model_version is not None and on_disk is not None:
                    # What the OS disk really holds: a reimage that failed before laying it down
                    # leaves the instance on its old image.
                    values["image_urn"] = on_disk
                    values["model_version"] = model_version if on_disk == row.pending_image else row.model_version
                conn.execute(instances.update().where(*where).values(**values))
            operations.settle_open(conn, now)

    def _spec(self, row: sa.Row[Any]) -> tuple[InstanceSpec, int]:
        with self.ctx.db.reading() as conn:
            scale_set = conn.execute(sa.select(scale_sets).where(scale_sets.c.key == row.scale_set_key)).one()
            ref = ImageReference.from_urn(row.pending_image)
            image = catalog.find(conn, scale_set.location, ref)
            model = ScaleSetModel.from_body(scale_set.name, scale_set.body)
            ports = _machine_ports(conn, scale_set.body, model)
        if image is None:
            raise RuntimeError(f"image {ref.urn} is no longer in the catalogue")
        secrets: bodies.Secrets = self.ctx.secrets.decrypt(scale_set.secrets) if scale_set.secrets else {}
        protected = secrets.get("protectedSettings") or {}
        spec = InstanceSpec(
            key=row.machine_key,
            instance_id=str(row.instance_id),
            generation=row.action_seq,  # a reimage the driver already did for this intent is not redone
            computer_name=instance_computer_name(scale_set, row.instance_id),
            private_ip=row.private_ip,
            image=ImageArtifact(urn=ref.urn, path=self.artifacts.path(image.artifact)),
            custom_data=model.custom_data,
            sku=model.sku_name,
            ports=ports,
            data_disk_luns=model.data_disk_luns,
            extensions=tuple(
                ExtensionSpec(name=e.name, publisher=e.publisher, type=e.type, type_handler_version=e.type_handler_version,
                              settings=e.settings, protected_settings=dict(protected.get(e.name) or {}),
                              provision_after=e.provision_after)
                for e in model.extensions
            ),
        )
        return spec, scale_set.model_version

    async def _await_extensions(self, row: sa.Row[Any], expected: set[str]) -> dict[str, str] | None:
        """Provisioning ends when the extensions do; a failed one fails it, as in Azure.

        An extension the driver has not reported on yet counts as still running.
        """
        key = row.machine_key
        deadline = self.ctx.clock.monotonic() + self.ctx.settings.extension_timeout
        pause = 0.02  # most extensions finish just after the machine is up: look soon, then less often
        while True:
            status = await self.ctx.driver.status(key)
            self._store_extensions(row, status)
            finished = {e.name for e in status.extensions if e.state != ExtensionState.TRANSITIONING}
            if expected <= finished:
                failed = [e for e in status.extensions if e.state == ExtensionState.FAILED]
                if failed:
                    return {"code": "VMExtensionProvisioningError",
                            "message": "; ".join(f"VM has reported a failure when processing extension '{e.name}'. Error message: {e.message}" for e in failed)}
                return None
            if self.ctx.clock.monotonic() > deadline:
                return {"code": "VMExtensionProvisioningTimeout", "message": f"Extensions of {key} did not finish in time."}
            await self.ctx.clock.sleep(pause)
            pause = min(0.2, 2 * pause)

    # -- observation --------------------------------------------------------------------------

    async def observe(self) -> None:
        """Refresh power and extension states of instances with no action under way.

        One read, the driver's answers, then one write of only what changed: with thousands of
        instances most of them change nothing between two looks.
        """
        with self.ctx.db.reading() as conn:
            idle = conn.execute(sa.select(instances.c.scale_set_key, instances.c.machine_key, instances.c.power_state,
                                          instances.c.extensions).where(instances.c.pending_action.is_(None))).all()
        changes: dict[str, list[dict[str, Any]]] = {}
        for row in idle:
            if not self.ctx.leases.holds(scale_set_lease(row.scale_set_key)):
                continue  # another replica watches it
            status = await self.ctx.driver.status(row.machine_key)
            power = row.power_state if status.power_state == PowerState.UNKNOWN else str(status.power_state)
            extensions = _extensions_json(status)
            if power != row.power_state or extensions != row.extensions:
                changes.setdefault(row.scale_set_key, []).append(
                    {"key": row.machine_key, "power_state": power, "extensions": extensions})
        for scale_set_key, found in changes.items():
            with self.ctx.db.transaction() as conn:
                try:
                    self.ctx.leases.fence(conn, scale_set_lease(scale_set_key))
                except LeaseLost:
                    continue
                for change in found:
                    # Only while still idle: an intent written meanwhile owns the row's states.
                    conn.execute(instances.update()
                                 .where(instances.c.machine_key == change["key"], instances.c.pending_action.is_(None))
                                 .values(power_state=change["power_state"], extensions=change["extensions"]))
            self.ctx.acted(scale_set_key)  # a machine changed by itself (it stopped, say): so may its health

    def _store_extensions(self, row: sa.Row[Any], status: InstanceStatus) -> None:
        """Keep extension progress visible while provisioning waits on it."""
        key = row.machine_key
        extensions = _extensions_json(status)
        with self.ctx.db.reading() as conn:
            current = conn.execute(sa.select(instances.c.extensions).where(instances.c.machine_key == key)).scalar()
        if current != extensions:  # compared here: PostgreSQL's json type has no equality operator
            with self.ctx.db.transaction() as conn:
                self.ctx.leases.fence(conn, scale_set_lease(row.scale_set_key))
                conn.execute(instances.update().where(instances.c.machine_key == key).values(extensions=extensions))


def _extensions_json(status: InstanceStatus) -> list[dict[str, str]]:
    return [{"name": e.name, "state": str(e.state), "message": e.message} for e in status.extensions]


def _machine_ports(conn: sa.Connection, body: dict[str, Any], model: ScaleSetModel) -> tuple[int, ...]:
    """The ports of a machine the host must reach: its health probe's and its load balancer's backends."""
    ports = set(backend_ports(conn, model.health_probe_id)) if model.health_probe_id else set()
    try:
        probe = health_probe_of(conn, body, model.health_probe_id)
    except ValueError:
        probe = None  # a malformed probe is reported by the health monitor
    if probe is not None:
        ports.add(probe.port)
    return tuple(sorted(ports))
