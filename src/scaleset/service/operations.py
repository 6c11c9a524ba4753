"""Long-running operations: the record a client polls, and when it is finished.

An operation is finished when no instance still carries an intent under it; what finishing means
beyond that depends on its kind (a scale set delete drops the scale set once its last instance is
gone, a group delete drops the group once its last scale set is gone).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scaleset.store.tables import instances, operations, resource_groups, resources, scale_sets

IN_PROGRESS, SUCCEEDED, FAILED, CANCELED = "InProgress", "Succeeded", "Failed", "Canceled"


def begin(conn: sa.Connection, *, subscription: str, location: str, resource_key: str, kind: str, now: datetime) -> str:
    op_id = str(uuid.uuid4())
    conn.execute(
        operations.insert().values(
            id=op_id, subscription_id=subscription, location=location, resource_key=resource_key,
            kind=kind, status=IN_PROGRESS, error=None, started_at=now, ended_at=None,
        )
    )
    return op_id


def get(conn: sa.Connection, op_id: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(operations).where(operations.c.id == op_id)).first()


def record_error(conn: sa.Connection, op_id: str, error: dict[str, Any]) -> None:
    """Keep the first error an operation met; it fails when it finishes."""
    conn.execute(
        operations.update().where(operations.c.id == op_id, operations.c.error.is_(None)).values(error=error)
    )


def settle_open(conn: sa.Connection, now: datetime, ids: Iterable[str] | None = None) -> None:
    """Finish every open operation (of `ids`, or all) whose work is done. Those whose owner ends
    them are not even read: a thousand upgrade runs under way must not cost every outcome."""
    query = sa.select(operations).where(operations.c.status == IN_PROGRESS, operations.c.kind.not_in(OWNED_KINDS))
    if ids is not None:
        query = query.where(operations.c.id.in_(sorted(set(ids))))
    for op in conn.execute(query).all():
        settle(conn, op, now)


# An operation that ends with its upgrade run rather than with its intents (the runner ends it).
RUN_KIND = "os-upgrade"
DEPLOYMENT_KIND = "deployment"  # ends with its template deployment's run
# Operations whose owner ends them, not their intents.
OWNED_KINDS = (RUN_KIND, DEPLOYMENT_KIND)


def settle(conn: sa.Connection, op: sa.Row[Any], now: datetime) -> None:
    if op.kind in OWNED_KINDS:
        return
    pending = conn.execute(
        sa.select(sa.func.count()).select_from(instances).where(instances.c.pending_op == op.id)
    ).scalar_one()
    if pending:
        return
    if op.kind == "delete-scale-set" and not _finish_scale_set_delete(conn, op.resource_key):
        return
    if op.kind == "delete-group" and not _finish_group_delete(conn, op.subscription_id, op.resource_key):
        return
    status = FAILED if op.error else SUCCEEDED
    if op.kind in ("create-scale-set", "update-scale-set"):
        conn.execute(
            scale_sets.update()
            .where(scale_sets.c.key == op.resource_key, scale_sets.c.provisioning_state != "Deleting")
            .values(provisioning_state=status)
        )
    conn.execute(operations.update().where(operations.c.id == op.id).values(status=status, ended_at=now))


def _finish_scale_set_delete(conn: sa.Connection, key: str) -> bool:
    left = conn.execute(
        sa.select(sa.func.count()).select_from(instances).where(instances.c.scale_set_key == key)
    ).scalar_one()
    if left:
        return False
    conn.execute(scale_sets.delete().where(scale_sets.c.key == key))
    return True


def _finish_group_delete(conn: sa.Connection, subscription: str, group_key: str) -> bool:
    left = conn.execute(
        sa.select(sa.func.count())
        .select_from(scale_sets)
        .where(scale_sets.c.subscription_id == subscription, scale_sets.c.group_key == group_key)
    ).scalar_one()
    if left:
        return False
    conn.execute(resources.delete().where(resources.c.subscription_id == subscription, resources.c.group_key == group_key))
    conn.execute(
        resource_groups.delete().where(resource_groups.c.subscription_id == subscription, resource_groups.c.key == group_key)
    )
    return True
