"""The reconciler's observation: the power and extension states of idle instances kept fresh in
the store, from what the driver says of them.

A part of `Reconciler` (its base class), apart so each reads on its own: the reconciler carries
intents out; this looks at the machines between their actions. A driver that reports its
machines' changes (the simulator) is asked only about those; of a machine under an action, only
what it reports after the action's outcome took its states.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from scaleset.drivers.base import PowerState
from scaleset.service.context import Context
from scaleset.service.extension_states import said
from scaleset.store.leases import LeaseLost, scale_set_lease
from scaleset.store.tables import instances

# What observation reads of an instance: the extensions as the text stored (see `observe`).
_OBSERVED = sa.select(instances.c.scale_set_key, instances.c.machine_key, instances.c.power_state,
                      sa.cast(instances.c.extensions, sa.Text).label("extensions"), instances.c.pending_action)
_BY_MACHINE = _OBSERVED.where(instances.c.machine_key.in_(sa.bindparam("keys", expanding=True)))
_BY_SET = _OBSERVED.where(instances.c.scale_set_key.in_(sa.bindparam("keys", expanding=True)))


class Observing:
    ctx: Context
    _unwatch: Callable[[], None] | None
    # The machines the driver reported changed since the last look; None: every idle machine is
    # looked at (the first look, or a driver that does not report).
    _changed: set[str] | None
    # The machines of the intents in flight: what the driver reports of them meanwhile is the
    # action's doing, which its outcome records; unless reported after the outcome took their
    # states (`_ended`): those (`_late`) are looked at once the action is done.
    _flying: set[str]
    _ended: set[str]
    _late: set[str]
    _held: set[str]  # the leases held at the last look

    async def observe(self) -> None:
        """Refresh power and extension states of instances with no action under way.

        One read, the driver's answers, then one write of only what changed: with thousands of
        instances most of them change nothing between two looks. The extensions are read as the
        text stored and compared with the driver's as it would be stored, not decoded: most rows
        read are unchanged, or under an action and not looked at.
        """
        keys, taken_over = None, []
        if self._unwatch is not None:
            # Everything at the first look; then what the driver reported, and the instances of
            # scale sets taken over since (what changed before was their last holder's to look at).
            held = set(self.ctx.leases.held_names())
            if self._changed is not None:
                keys = sorted(self._changed)
                taken_over = sorted(name.removeprefix(scale_set_lease("")) for name in held - self._held
                                    if name.startswith(scale_set_lease("")))
            self._changed, self._held = set(), held
        if keys is None:
            with self.ctx.db.reading() as conn:
                rows = conn.execute(_OBSERVED.where(instances.c.pending_action.is_(None))).all()
        else:
            # Idle ones are picked here, not in SQL: there, the index on pending_action would be
            # chosen, and it has every idle instance of the store under NULL. Straight on the
            # driver: the instances of every batch are read here several times as they come back.
            reads = [(query, {"keys": values}) for query, values in ((_BY_MACHINE, keys), (_BY_SET, taken_over)) if values]
            rows = [row for found in self.ctx.db.rows(*reads) for row in found] if reads else []
        idle = [row for row in rows if row.pending_action is None]
        changes: dict[str, list[dict[str, Any]]] = {}
        for row in idle:
            if not self.ctx.leases.holds(scale_set_lease(row.scale_set_key)):
                continue  # another replica watches it
            status = await self.ctx.driver.status(row.machine_key)
            power = row.power_state if status.power_state == PowerState.UNKNOWN else str(status.power_state)
            extensions = said(status.extensions).states
            # As SQLAlchemy stores JSON; text stored otherwise (equal, but spaced differently) costs one write.
            if power != row.power_state or json.dumps(extensions) != row.extensions:
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

    def _machine_changed(self, machine_key: str) -> None:
        if self._changed is None:
            return  # the next look reads every machine
        if machine_key not in self._flying:
            self._changed.add(machine_key)
        elif machine_key in self._ended:
            self._late.add(machine_key)
