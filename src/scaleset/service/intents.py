"""Instance intents: what each instance is to become, written before any driver is called.

An intent is (pending_action, pending_image, pending_op) on the instance row, and a bump of its
action_seq so that an action already under way can tell it was superseded. The reconciler carries
intents out and clears them; after a crash it finds them still written and carries them out again
(driver calls are idempotent).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scaleset.images import catalog
from scaleset.model.addresses import private_ip
from scaleset.model.image_reference import ImageReference
from scaleset.model.scale_set import ScaleSetModel, computer_name
from scaleset.service.errors import invalid
from scaleset.store import database
from scaleset.store.tables import instances, scale_sets
from scaleset.upgrade import runs

ACTIONS = ("create", "reimage", "start", "stop", "restart", "deallocate", "delete")
# provisioning state shown while an action is pending
_PROVISIONING = {"create": "Creating", "delete": "Deleting"}
UPDATE_DOMAINS = 5


def live_instances(conn: sa.Connection, scale_set_key: str, *columns: sa.ColumnElement[Any]) -> list[sa.Row[Any]]:
    """Instances not on their way out, by instance id: their `columns`, or whole rows."""
    return conn.execute(
        sa.select(*(columns or (instances,)))
        .where(instances.c.scale_set_key == scale_set_key, runs.LIVE)
        .order_by(instances.c.instance_id)
    ).all()


# An intent, written straight on the database driver (`database.write`): a batch's, for each of
# a thousand scale sets at once.
_INTEND = instances.update().where(
    instances.c.scale_set_key == sa.bindparam("key"), instances.c.instance_id.in_(sa.bindparam("ids", expanding=True))
).values(pending_action=sa.bindparam("action"), pending_image=sa.bindparam("image"), pending_op=sa.bindparam("op"),
         action_seq=instances.c.action_seq + 1, provisioning_state=sa.bindparam("provisioning"))


def intend(conn: sa.Connection, rows: Iterable[sa.Row[Any]], action: str, op: str, *, image: str | None = None) -> None:
    """The same intent for every instance in `rows`: one statement per scale set (and per 500)."""
    by_set: dict[str, list[int]] = {}
    for row in rows:
        by_set.setdefault(row.scale_set_key, []).append(row.instance_id)
    for key, ids in by_set.items():
        intend_ids(conn, key, ids, action, op, image=image)


def intend_ids(conn: sa.Connection, scale_set_key: str, ids: list[int], action: str, op: str, *,
               image: str | None = None) -> None:
    """The same intent for these instances of one scale set (those of them that exist)."""
    assert action in ACTIONS, action
    if ids:
        database.write(conn, _INTEND, {"key": scale_set_key, "ids": ids, "action": action, "image": image, "op": op,
                                       "provisioning": _PROVISIONING.get(action, "Updating")})


def resize(conn: sa.Connection, scale_set: sa.Row[Any], model: ScaleSetModel, op: str, now: datetime, *,
           address_block: int) -> None:
    """Bring the number of live instances to the model's capacity.

    Scale-out adds the next instance ids; scale-in removes the highest ids first (Azure's default
    scale-in policy, zones and fault domains aside). Instances a maxSurge upgrade added for its
    batch are not counted: the run removes as many old ones once they are healthy.
    """
    surge = runs.surging(conn, scale_set.key)
    live = [row for row in live_instances(conn, scale_set.key) if row.instance_id not in surge]
    if len(live) > model.capacity:
        intend(conn, live[model.capacity:], "delete", op)
        return
    missing = model.capacity - len(live)
    if missing:
        add_instances(conn, scale_set, model, missing, resolve(conn, scale_set.location, model.image).urn, op, now,
                      address_block=address_block)


def add_instances(conn: sa.Connection, scale_set: sa.Row[Any], model: ScaleSetModel, count: int, image_urn: str, op: str,
                  now: datetime, *, address_block: int) -> list[int]:
    """New instances with the next ids and addresses, intended to be created on `image_urn`."""
    next_id = scale_set.next_instance_id
    next_ip = (conn.execute(sa.select(sa.func.max(instances.c.ip_index))).scalar() or 0) + 1
    if count:
        conn.execute(instances.insert(), [dict(
            scale_set_key=scale_set.key, instance_id=next_id + offset, vm_id=str(uuid.uuid4()),
            machine_key=f"{scale_set.name.lower()}-{scale_set.unique_id[:8]}-{next_id + offset}",
            ip_index=next_ip + offset, private_ip=private_ip(next_ip + offset, block=address_block),
            zone=model.zones[(next_id + offset) % len(model.zones)] if model.zones else None,
            update_domain=(next_id + offset) % UPDATE_DOMAINS,
            fault_domain=(next_id + offset) % max(1, model.fault_domain_count),
            model_version=scale_set.model_version, image_urn=None, provisioning_state="Creating",
            power_state="starting", extensions=[], last_error=None,
            pending_action="create", pending_image=image_urn, pending_op=op, action_seq=1, created_at=now)
            for offset in range(count)])
    conn.execute(scale_sets.update().where(scale_sets.c.key == scale_set.key).values(next_instance_id=next_id + count))
    return list(range(next_id, next_id + count))


def apply_model(conn: sa.Connection, scale_set: sa.Row[Any], model: ScaleSetModel, rows: Iterable[sa.Row[Any]],
                op: str) -> None:
    """Bring instances to the scale set's current model (manualupgrade, Automatic mode).

    The OS disk is made anew from the model's image. With version "latest" an instance keeps the
    exact version it runs: only an OS upgrade moves it to a newer one.
    """
    targets: dict[str, list[sa.Row[Any]]] = {}
    for row in rows:
        current = ImageReference.from_urn(row.image_urn) if row.image_urn else None
        if current is not None and model.image.is_latest and current.same_image(model.image):
            target = current
        else:
            target = resolve(conn, scale_set.location, model.image)
        targets.setdefault(target.urn, []).append(row)
    for urn, same in targets.items():
        intend(conn, same, "reimage", op, image=urn)


def resolve(conn: sa.Connection, location: str, ref: ImageReference) -> ImageReference:
    row = catalog.find(conn, location, ref)
    if row is None:
        raise invalid("properties.virtualMachineProfile.storageProfile.imageReference",
                      f"The platform image '{ref.urn}' is not available in location '{location}'.")
    return catalog.reference(row)


def instance_name(scale_set: sa.Row[Any], instance_id: int) -> str:
    return f"{scale_set.name}_{instance_id}"


def instance_computer_name(scale_set: sa.Row[Any], instance_id: int) -> str:
    return computer_name(ScaleSetModel.from_body(scale_set.name, scale_set.body).computer_name_prefix, instance_id)
