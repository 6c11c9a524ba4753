"""Service principals and managed identities: registered by an administrator, each granted a set
of subscriptions. Only a hash of each secret is kept; the secret itself is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from scaleset.service.context import Context
from scaleset.service.errors import ArmError
from scaleset.service.subscriptions import Subscriptions
from scaleset.store.tables import principal_grants, principals

SERVICE_PRINCIPAL = "ServicePrincipal"
MANAGED_IDENTITY = "ManagedIdentity"


@dataclass(frozen=True)
class Principal:
    app_id: str
    object_id: str
    display_name: str
    kind: str
    subscriptions: frozenset[str]

    def view(self) -> dict[str, Any]:
        return {"appId": self.app_id, "objectId": self.object_id, "displayName": self.display_name,
                "kind": self.kind, "subscriptions": sorted(self.subscriptions)}


def new_secret() -> str:
    """256 random bits, URL-safe, never starting with '-': az (argparse) would read such a secret
    given as `-p SECRET` as an option of its own."""
    while (secret := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return secret


class Principals:
    def __init__(self, ctx: Context, subs: Subscriptions) -> None:
        self.ctx = ctx
        self.subs = subs

    def create(self, display_name: str, kind: str, subscriptions: list[str]) -> tuple[Principal, str]:
        """The new principal and its secret (the client secret, or a managed identity's header)."""
        secret = new_secret()
        app_id, object_id = str(uuid.uuid4()), str(uuid.uuid4())
        with self.ctx.db.transaction() as conn:
            for sub in subscriptions:
                self.subs.ensure(conn, sub)
            conn.execute(principals.insert().values(app_id=app_id, object_id=object_id, display_name=display_name,
                                                    kind=kind, secret_hash=_hash(secret), created_at=self.ctx.clock.now()))
            granted = sorted({sub.lower() for sub in subscriptions})
            if granted:
                conn.execute(principal_grants.insert(), [{"app_id": app_id, "subscription_id": sub} for sub in granted])
        return Principal(app_id, object_id, display_name, kind, frozenset(granted)), secret

    def get(self, app_id: str) -> Principal | None:
        with self.ctx.db.reading() as conn:
            row = conn.execute(sa.select(principals).where(principals.c.app_id == app_id.lower())).first()
            return _principal(conn, row) if row else None

    def list(self) -> list[Principal]:
        with self.ctx.db.reading() as conn:
            rows = conn.execute(sa.select(principals).order_by(principals.c.created_at)).all()
            return [_principal(conn, row) for row in rows]

    def delete(self, app_id: str) -> bool:
        with self.ctx.db.transaction() as conn:
            conn.execute(principal_grants.delete().where(principal_grants.c.app_id == app_id.lower()))
            return conn.execute(principals.delete().where(principals.c.app_id == app_id.lower())).rowcount > 0

    def with_secret(self, app_id: str, secret: str) -> Principal | None:
        """The service principal `app_id` if `secret` is its client secret."""
        with self.ctx.db.reading() as conn:
            row = conn.execute(sa.select(principals).where(principals.c.app_id == app_id.lower(),
                                                           principals.c.kind == SERVICE_PRINCIPAL)).first()
            if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
                return None
            return _principal(conn, row)

    def with_identity_header(self, header: str) -> Principal | None:
        """The managed identity whose IDENTITY_HEADER this is."""
        with self.ctx.db.reading() as conn:
            row = conn.execute(sa.select(principals).where(principals.c.secret_hash == _hash(header),
                                                           principals.c.kind == MANAGED_IDENTITY)).first()
            return _principal(conn, row) if row else None


def require_valid_kind(kind: str) -> str:
    for known in (SERVICE_PRINCIPAL, MANAGED_IDENTITY):
        if kind.lower() == known.lower():
            return known
    raise ArmError(400, "InvalidParameter", f"'{kind}' is not a kind of principal: use {SERVICE_PRINCIPAL} or {MANAGED_IDENTITY}.",
                   target="kind")


def _principal(conn: sa.Connection, row: sa.Row[Any]) -> Principal:
    subs = conn.execute(sa.select(principal_grants.c.subscription_id).where(principal_grants.c.app_id == row.app_id)).scalars()
    return Principal(row.app_id, row.object_id, row.display_name, row.kind, frozenset(subs))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
