"""Subscriptions. The server makes one at first start; an administrator's first use of another
subscription id registers it, as creating a subscription would in Azure."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from scaleset.service.context import Context
from scaleset.service.errors import ArmError
from scaleset.store.tables import subscriptions


class Subscriptions:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def ensure_default(self) -> str:
        with self.ctx.db.transaction() as conn:
            first = conn.execute(sa.select(subscriptions.c.id).order_by(subscriptions.c.created_at)).first()
            if first:
                return first.id
            sub = str(uuid.uuid4())
            self._insert(conn, sub, "scaleset")
            return sub

    def list(self) -> list[sa.Row[Any]]:
        with self.ctx.db.reading() as conn:
            return conn.execute(sa.select(subscriptions).order_by(subscriptions.c.created_at)).all()

    def get(self, sub: str) -> sa.Row[Any]:
        with self.ctx.db.reading() as conn:
            row = conn.execute(sa.select(subscriptions).where(subscriptions.c.id == sub.lower())).first()
        if row is None:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        return row

    def ensure(self, conn: sa.Connection, sub: str) -> None:
        """Register a subscription id on first use (it must look like a GUID)."""
        try:
            uuid.UUID(sub)
        except ValueError:
            raise ArmError(400, "InvalidSubscriptionId", f"The provided subscription identifier '{sub}' is malformed or invalid.") from None
        if conn.execute(sa.select(subscriptions.c.id).where(subscriptions.c.id == sub.lower())).first() is None:
            self._insert(conn, sub.lower(), sub.lower())

    def _insert(self, conn: sa.Connection, sub: str, display_name: str) -> None:
        conn.execute(subscriptions.insert().values(id=sub, display_name=display_name, created_at=self.ctx.clock.now()))
