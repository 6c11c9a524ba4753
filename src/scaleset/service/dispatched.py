"""An instance's intent as the reconciler dispatches it: a few columns of its row, kept small,
for a fifth of a million may be in flight at once."""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import sqlalchemy as sa

from scaleset.store.tables import instances

# What carrying an intent out reads of its instance (its JSON columns are not needed: a batch's
# rows are kept while its actions run).
ACTION_COLUMNS = (instances.c.scale_set_key, instances.c.instance_id, instances.c.machine_key, instances.c.private_ip,
                  instances.c.pending_action, instances.c.pending_image, instances.c.pending_op, instances.c.action_seq,
                  instances.c.image_urn, instances.c.model_version)

# Those of a scale set's instances (`ids`) with an intent: what a dispatch reads.
INTENTS = sa.select(*ACTION_COLUMNS).where(
    instances.c.scale_set_key == sa.bindparam("key"), instances.c.instance_id.in_(sa.bindparam("ids", expanding=True)),
    instances.c.pending_action.is_not(None))


class Intent(NamedTuple):
    """An instance's intent as dispatched: the ACTION_COLUMNS of its row."""

    scale_set_key: str
    instance_id: int
    machine_key: str
    private_ip: str
    pending_action: str
    pending_image: str | None
    pending_op: str
    action_seq: int
    image_urn: str | None
    model_version: int


def intent(row: tuple[Any, ...], shared: dict[Any, Any]) -> Intent:
    """The row as the database driver gives it (`INTENTS`: its columns are plain strings and
    integers), with one copy of the strings a batch's rows have in common (scale set, action,
    image, operation) instead of one each: a fifth of a million instances may be in flight."""
    one = shared.setdefault
    key, instance_id, machine_key, private_ip, action, image, op, action_seq, image_urn, model_version = row
    return Intent(one(key, key), instance_id, sys.intern(machine_key), sys.intern(private_ip), one(action, action),
                  one(image, image), one(op, op), action_seq, one(image_urn, image_urn), model_version)
