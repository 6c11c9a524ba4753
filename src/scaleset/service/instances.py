"""Scale set instances: reads, and the actions a client starts on some or all of them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from scaleset.model.scale_set import ScaleSetModel
from scaleset.service import intents, operations
from scaleset.service.context import Context
from scaleset.service.errors import ArmError, invalid, not_allowed
from scaleset.service.scale_sets import PEEK, key_of
from scaleset.service.scale_sets import require as require_scale_set
from scaleset.store.tables import instances, scale_sets

# One page of a scale set's instances, in instance id order: the columns an instance's JSON is
# rendered from without its instance view (api/render.py `vm`). Fewer columns, less to read: the
# driver's making of Python values is most of a page's read.
PAGE = (sa.select(*(instances.c[name] for name in ("instance_id", "vm_id", "model_version", "image_urn", "private_ip",
                                                   "zone", "provisioning_state", "extensions", "created_at")))
        .where(instances.c.scale_set_key == sa.bindparam("key"), instances.c.instance_id >= sa.bindparam("start"))
        .order_by(instances.c.instance_id).limit(sa.bindparam("limit")))

# API action name (lower-cased) -> intent
ACTIONS = {
    "reimage": "reimage",
    "reimageall": "reimage",
    "manualupgrade": "apply-model",
    "start": "start",
    "poweroff": "stop",
    "restart": "restart",
    "deallocate": "deallocate",
    "delete": "delete",
}


class Instances:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list(self, sub: str, group: str, name: str, *, latest_model: bool | None = None,
             start: int = 0, limit: int | None = None) -> tuple[sa.Row[Any], list[sa.Row[Any]], bool]:
        """(scale set, one page of instances, whether more follow). A page begins at the instance
        id `start` (the last one's id + 1 begins the next), not after so many rows: no row is read
        to be skipped, and a page is not shifted by instances added or deleted between two pages."""
        with self.ctx.db.reading() as conn:
            scale_set = require_scale_set(conn, sub, group, name)
            query = sa.select(instances).where(instances.c.scale_set_key == scale_set.key)
            if latest_model is not None:
                applied = instances.c.model_version == scale_set.model_version
                query = query.where(applied if latest_model else sa.not_(applied))
            query = query.where(instances.c.instance_id >= start).order_by(instances.c.instance_id)
            if limit is not None:
                query = query.limit(limit + 1)
            rows = conn.execute(query).all()
        more = limit is not None and len(rows) > limit
        return scale_set, rows[:limit] if limit is not None else rows, more

    def peek_page(self, sub: str, group: str, name: str, *, start: int,
                  limit: int) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], bool] | None:
        """`list` without a filter, for the hot read: (scale set, one page of instances, whether more
        follow), rows as the driver returns them (`ctx.db.prepared(PEEK)` and `(PAGE)` type them),
        read in one transaction; None when `list` would raise (it says which 404)."""
        key = key_of(sub, group, name)
        found, rows = self.ctx.db.fetch((PEEK, {"key": key}), (PAGE, {"key": key, "start": start, "limit": limit + 1}))
        if not found:
            return None
        return found[0], rows[:limit], len(rows) > limit

    def get(self, sub: str, group: str, name: str, instance_id: str) -> tuple[sa.Row[Any], sa.Row[Any]]:
        with self.ctx.db.reading() as conn:
            scale_set = require_scale_set(conn, sub, group, name)
            return scale_set, _require_instance(conn, scale_set, instance_id)

    def act(self, sub: str, group: str, name: str, action: str, instance_ids: list[str] | None) -> str:
        """Start an action on the named instances (all when None). Returns the operation id."""
        intent = ACTIONS[action.lower()]
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as conn:
            scale_set = require_scale_set(conn, sub, group, name)
            if scale_set.provisioning_state == "Deleting":
                raise not_allowed(f"The scale set '{scale_set.name}' is being deleted.")
            rows = self._select(conn, scale_set, instance_ids)
            op = operations.begin(conn, subscription=scale_set.subscription_id, location=scale_set.location,
                                  resource_key=scale_set.key, kind=f"instances-{intent}", now=now)
            model = ScaleSetModel.from_body(scale_set.name, scale_set.body)
            if intent == "apply-model":
                intents.apply_model(conn, scale_set, model, rows, op)
            elif intent == "reimage":
                # Reimage gives a fresh OS disk of the model's image: "latest" resolves anew.
                image = intents.resolve(conn, scale_set.location, model.image)
                intents.intend(conn, rows, "reimage", op, image=image.urn)
            else:
                intents.intend(conn, rows, intent, op)
            if intent == "delete":
                _lower_capacity(conn, scale_set, len(rows))
            operations.settle_open(conn, now)
        self.ctx.wake(scale_set.key)
        return op

    def _select(self, conn: sa.Connection, scale_set: sa.Row[Any], instance_ids: list[str] | None) -> list[sa.Row[Any]]:
        live = intents.live_instances(conn, scale_set.key)
        if instance_ids is None or instance_ids == ["*"]:
            return live
        by_id = {str(row.instance_id): row for row in live}
        chosen = []
        for given in instance_ids:
            row = by_id.get(str(given).strip())
            if row is None:
                raise invalid("instanceIds", f"The instance id '{given}' does not name an instance of scale set '{scale_set.name}'.")
            if row not in chosen:
                chosen.append(row)
        return chosen


def _require_instance(conn: sa.Connection, scale_set: sa.Row[Any], instance_id: str) -> sa.Row[Any]:
    row = None
    if str(instance_id).isdigit():
        row = conn.execute(sa.select(instances).where(
            instances.c.scale_set_key == scale_set.key, instances.c.instance_id == int(instance_id))).first()
    if row is None:
        raise ArmError(404, "ResourceNotFound",
                       f"The Resource 'Microsoft.Compute/virtualMachineScaleSets/{scale_set.name}/virtualMachines/{instance_id}' was not found.")
    return row


def _lower_capacity(conn: sa.Connection, scale_set: sa.Row[Any], removed: int) -> None:
    """Deleting instances lowers sku.capacity, as in Azure, so the model keeps describing the set."""
    body = dict(scale_set.body)
    sku = dict(body.get("sku") or {})
    sku["capacity"] = max(0, int(sku.get("capacity") or 0) - removed)
    body["sku"] = sku
    conn.execute(scale_sets.update().where(scale_sets.c.key == scale_set.key).values(body=body))
