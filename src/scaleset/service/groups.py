"""Resource groups."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from scaleset.service import operations
from scaleset.service.context import Context
from scaleset.service.errors import ArmError, group_not_found
from scaleset.service.subscriptions import Subscriptions
from scaleset.store.tables import resource_groups, scale_sets


class Groups:
    def __init__(self, ctx: Context, subscriptions: Subscriptions) -> None:
        self.ctx = ctx
        self.subscriptions = subscriptions

    def put(self, sub: str, name: str, location: str, tags: dict[str, str]) -> tuple[sa.Row[Any], bool]:
        with self.ctx.db.transaction() as conn:
            self.subscriptions.ensure(conn, sub)
            existing = _find(conn, sub, name)
            if existing is not None:
                if existing.state == "Deleting":
                    raise ArmError(409, "ResourceGroupBeingDeleted", f"The resource group '{name}' is in deprovisioning state and cannot perform this operation.")
                if existing.location.lower() != location.lower():
                    raise ArmError(409, "InvalidResourceGroupLocation", f"Invalid resource group location '{location}'. The Resource group already exists in location '{existing.location}'.", target="location")
                conn.execute(resource_groups.update().where(*_match(sub, name)).values(tags=tags))
            else:
                conn.execute(resource_groups.insert().values(
                    subscription_id=sub.lower(), key=name.lower(), name=name, location=location, tags=tags,
                    state="Succeeded", created_at=self.ctx.clock.now()))
            return _find(conn, sub, name), existing is None

    def get(self, sub: str, name: str) -> sa.Row[Any]:
        with self.ctx.db.reading() as conn:
            return require(conn, sub, name)

    def list(self, sub: str) -> list[sa.Row[Any]]:
        with self.ctx.db.reading() as conn:
            return conn.execute(
                sa.select(resource_groups).where(resource_groups.c.subscription_id == sub.lower()).order_by(resource_groups.c.key)
            ).all()

    def delete(self, sub: str, name: str) -> str | None:
        """Delete the group and everything in it; returns the operation, None when there was no group."""
        from scaleset.service.scale_sets import begin_delete  # the group delete cascades into scale sets

        with self.ctx.db.transaction() as conn:
            group = _find(conn, sub, name)
            if group is None:
                return None
            now = self.ctx.clock.now()
            conn.execute(resource_groups.update().where(*_match(sub, name)).values(state="Deleting"))
            op = operations.begin(conn, subscription=sub.lower(), location=group.location, resource_key=name.lower(), kind="delete-group", now=now)
            for scale_set in conn.execute(
                sa.select(scale_sets).where(scale_sets.c.subscription_id == sub.lower(), scale_sets.c.group_key == name.lower())
            ).all():
                if scale_set.provisioning_state != "Deleting":
                    begin_delete(conn, scale_set, now)
            operations.settle_open(conn, now)
        self.ctx.wake()
        return op


def _match(sub: str, name: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (resource_groups.c.subscription_id == sub.lower(), resource_groups.c.key == name.lower())


def _find(conn: sa.Connection, sub: str, name: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(resource_groups).where(*_match(sub, name))).first()


def require(conn: sa.Connection, sub: str, name: str) -> sa.Row[Any]:
    """The group, usable for new resources; 404 when absent or being deleted."""
    group = _find(conn, sub, name)
    if group is None or group.state == "Deleting":
        raise group_not_found(name)
    return group
