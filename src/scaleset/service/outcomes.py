"""Outcomes of instance actions, written to the store a batch at a time.

An outcome is written only if no newer intent replaced the one carried out meanwhile (action_seq);
a superseded one still records what it laid on the OS disk. The actions of a batch end together:
their outcomes are written in one transaction per scale set, under its lease, which costs what
one of them alone did, not a hundred times that.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from scaleset.drivers.base import PowerState
from scaleset.service import operations
from scaleset.service.context import Context
from scaleset.service.watched import Seen
from scaleset.store import database
from scaleset.store.leases import scale_set_lease
from scaleset.store.tables import instances

_POWER_AFTER = {action: str(state) for action, state in {
    "create": PowerState.RUNNING, "reimage": PowerState.RUNNING, "start": PowerState.RUNNING,
    "restart": PowerState.RUNNING, "stop": PowerState.STOPPED, "deallocate": PowerState.DEALLOCATED,
}.items()}  # one string each, shared by every row written and every one the health watch keeps
# The instances as they are when their outcomes are written (straight on the database driver).
_CURRENT = sa.select(instances.c.instance_id, instances.c.action_seq, instances.c.image_urn, instances.c.model_version).where(
    instances.c.scale_set_key == sa.bindparam("key"), instances.c.instance_id.in_(sa.bindparam("ids", expanding=True)))


@dataclass(slots=True)
class Outcome:
    row: sa.Row[Any]  # the instance as its intent was dispatched
    error: dict[str, str] | None
    model_version: int | None  # create and reimage: the model version their spec came from
    on_disk: str | None  # the image the OS disk holds now, when known
    extensions: list[dict[str, str]] | None = None  # the extensions' states as the action ended, when looked at


class Outcomes:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._queue: dict[str, list[tuple[list[Outcome], asyncio.Future[None]]]] = {}

    async def record(self, outcomes: list[Outcome]) -> None:
        """Write the outcomes (of one scale set's instances), with those of the scale set that end
        in the same turn of the event loop. Raises LeaseLost when the scale set is no longer ours:
        nothing is written then."""
        if not outcomes:
            return
        future = asyncio.get_running_loop().create_future()
        if not self._queue:
            asyncio.get_running_loop().call_soon(self._flush)
        self._queue.setdefault(outcomes[0].row.scale_set_key, []).append((outcomes, future))
        await future

    def _flush(self) -> None:
        queue, self._queue = self._queue, {}
        for scale_set_key, waiting in queue.items():
            outcomes = [outcome for batch, _ in waiting for outcome in batch]
            try:
                told = self._write(scale_set_key, outcomes)
            except Exception as error:  # noqa: BLE001 - each waiting action hears of it
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(error)
                continue
            for _, future in waiting:
                if not future.done():
                    future.set_result(None)
            # What the instances are now, as just written: the health watch reads only the others.
            said = {seen.instance_id for seen in told}
            self.ctx.acted(scale_set_key, [o.row.instance_id for o in outcomes if o.row.instance_id not in said], told)

    def _write(self, scale_set_key: str, outcomes: list[Outcome]) -> list[Seen]:
        """Write the outcomes; returns what the instances whose actions ended with them are now
        (those whose power state the action sets)."""
        now = self.ctx.clock.now()
        ids = [outcome.row.instance_id for outcome in outcomes]
        with self.ctx.db.transaction() as conn:
            self.ctx.leases.fence(conn, scale_set_lease(scale_set_key))
            current = {row.instance_id: row for row in database.read(conn, _CURRENT, {"key": scale_set_key, "ids": ids})}
            deleted: list[int] = []
            told: list[Seen] = []
            updates: dict[tuple[Any, ...], tuple[dict[str, Any], list[int]]] = {}  # the same values, for many instances
            spelled: dict[int, str] = {}  # each extensions list met, as text: a batch's machines share one
            for outcome in outcomes:
                row = outcome.row
                found = current.get(row.instance_id)
                if found is None:
                    continue
                if outcome.error is not None:
                    operations.record_error(conn, row.pending_op, outcome.error)
                values = _values(outcome, found)
                if values is None:
                    deleted.append(row.instance_id)
                elif values:
                    updates.setdefault(_same(values, spelled), (values, []))[1].append(row.instance_id)
                    if "power_state" in values:  # the action's own outcome, and the machine's power known
                        told.append(Seen(row.instance_id, row.action_seq, None, row.private_ip, row.machine_key,
                                         values["power_state"], values.get("extensions")))
            where = instances.c.scale_set_key == scale_set_key
            if deleted:
                conn.execute(instances.delete().where(where, instances.c.instance_id.in_(deleted)))
            for same, (values, changed) in updates.items():
                names = tuple(values)  # `same`: the names, then the values as the driver takes them
                database.write(conn, _update(names), {"key": scale_set_key, "ids": changed,
                                                      **{f"new_{n}": v for n, v in zip(names, same[len(names):])}})
            operations.settle_open(conn, now, {outcome.row.pending_op for outcome in outcomes})
        return told


@functools.cache
def _update(names: tuple[str, ...]) -> sa.Update:
    """The UPDATE of these columns of some of a scale set's instances: one statement for each set
    of columns outcomes write, kept (`database.write` runs it straight on the driver, compiled once)."""
    return instances.update().where(
        instances.c.scale_set_key == sa.bindparam("key"), instances.c.instance_id.in_(sa.bindparam("ids", expanding=True))
    ).values({name: sa.bindparam(f"new_{name}") for name in names})


def _same(values: dict[str, Any], spelled: dict[int, str]) -> tuple[Any, ...]:
    """What outcomes with the same values to write share: the names, then the values as the
    database driver takes them. Lists (the extensions) as their JSON text, worked out once per list
    (by id: the outcomes hold their lists meanwhile): spelling every outcome's whole values was 2%
    of bench/scale.py."""
    same: list[Any] = list(values)  # the names, in the order the values follow
    for value in values.values():
        if type(value) is list:
            text = spelled.get(id(value))
            # As the JSON column's own serializer writes it: the reconciler's looks compare that text.
            value = text if text is not None else spelled.setdefault(id(value), json.dumps(value))
        same.append(value)
    return tuple(same)


def _values(outcome: Outcome, current: sa.Row[Any]) -> dict[str, Any] | None:
    """What to write on the instance's row; None: delete it."""
    row, error, on_disk = outcome.row, outcome.error, outcome.on_disk
    laid = row.pending_action in ("create", "reimage") and outcome.model_version is not None and on_disk is not None
    if current.action_seq != row.action_seq:
        # Superseded: the newer intent stays for the next dispatch. What this one laid on the OS
        # disk is still a fact, and a newer start or stop will not change it.
        if not laid:
            return {}
        return {"image_urn": on_disk,
                "model_version": outcome.model_version if on_disk == row.pending_image else current.model_version}
    if row.pending_action == "delete" and error is None:
        return None
    values: dict[str, Any] = {
        "pending_action": None, "pending_image": None, "pending_op": None,
        "provisioning_state": "Failed" if error else "Succeeded",
        "last_error": error["message"] if error else None,
    }
    if row.pending_action in _POWER_AFTER:
        values["power_state"] = _POWER_AFTER[row.pending_action]
    if outcome.extensions is not None:
        values["extensions"] = outcome.extensions
    if row.pending_action not in ("create", "reimage") and current.image_urn is None and on_disk is not None:
        values["image_urn"] = on_disk
    if laid:
        # What the OS disk really holds: a reimage that failed before laying it down leaves the
        # instance on its old image.
        values["image_urn"] = on_disk
        values["model_version"] = outcome.model_version if on_disk == row.pending_image else row.model_version
    return values
