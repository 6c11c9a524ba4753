"""Leases: which replica does which background work, fenced by tokens.

Replicas share one store and any of them answers any API call, but the work behind the calls is
done by one replica at a time: a scale set's intents, health probing and upgrade run under the
lease `scaleset:<key>`, the automatic upgrade trigger under `trigger`. A lease is held for `period`
seconds from its last renewal and renewed every third of that; a lease not renewed in time is
free for any replica to take. Its token grows by one each time it changes hands.

Every write the work makes calls `fence()` in its own transaction: the write happens only if the
lease still names this replica with the token it was taken with (on PostgreSQL the check holds the
lease row FOR SHARE, so a takeover waits for the write or the write sees the takeover). Every
driver call carries the token too. A replica that lost its lease without knowing (paused, cut off
from the store) therefore changes nothing when it wakes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from scaleset.clock import Clock
from scaleset.store.database import Database
from scaleset.store.tables import leases

log = logging.getLogger(__name__)

TRIGGER = "trigger"
_NEVER = datetime(1970, 1, 1, tzinfo=timezone.utc)


def scale_set_lease(scale_set_key: str) -> str:
    return f"scaleset:{scale_set_key}"


class LeaseLost(Exception):
    """The lease of this work is no longer ours: another replica may be doing it now."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the lease {name!r} is held by another replica now")
        self.name = name


@dataclass
class _Held:
    token: int
    valid_until: float  # on the clock's monotonic time: after this we stop starting work


class Leases:
    def __init__(self, db: Database, clock: Clock, replica_id: str, *, period: float = 10.0) -> None:
        self.db = db
        self.clock = clock
        self.replica_id = replica_id
        self.period = period
        self._held: dict[str, _Held] = {}
        self.gained: list[Callable[[str], None]] = []  # callbacks(lease name)
        self.lost: list[Callable[[str], None]] = []

    # -- what the work asks ---------------------------------------------------------------------

    def token(self, name: str) -> int | None:
        """Our token for this lease while we hold it; None when another replica has it (or may)."""
        held = self._held.get(name)
        if held is None:
            return None
        if self.clock.monotonic() > held.valid_until:
            return None  # not renewed in time (the store was slow or away): act no more until it is
        return held.token

    def holds(self, name: str) -> bool:
        return self.token(name) is not None

    def fence(self, conn: sa.Connection, name: str) -> int:
        """Inside a write transaction: go on only if the lease is still ours. Returns the token."""
        held = self._held.get(name)
        row = conn.execute(sa.select(leases.c.holder, leases.c.token).where(leases.c.name == name)
                           .with_for_update(read=True)).first()
        if held is None or row is None or row.holder != self.replica_id or row.token != held.token:
            self._drop(name, "another replica took it")
            raise LeaseLost(name)
        return held.token

    def acquire(self, name: str) -> int | None:
        """Take the lease if it is free or expired, keep it if ours; the token, or None."""
        if self.holds(name):
            return self.token(name)
        started = self.clock.monotonic()
        now = self.clock.now()
        expires = now + timedelta(seconds=self.period)
        with self.db.transaction() as conn:
            taken = conn.execute(leases.update().where(
                leases.c.name == name,
                sa.or_(leases.c.holder.is_(None), leases.c.holder == self.replica_id, leases.c.expires_at < now))
                .values(holder=self.replica_id, token=leases.c.token + 1, acquired_at=now, expires_at=expires)).rowcount
            if not taken:
                if conn.execute(sa.select(leases.c.name).where(leases.c.name == name)).first() is not None:
                    return None  # another replica holds it
                conn.execute(leases.insert().values(name=name, holder=self.replica_id, token=1, acquired_at=now,
                                                    expires_at=expires, cursor=0))
            token = conn.execute(sa.select(leases.c.token).where(leases.c.name == name)).scalar_one()
        self._held[name] = _Held(token, started + self.period)
        log.info("replica %s took lease %s (token %d)", self.replica_id, name, token)
        for callback in self.gained:
            callback(name)
        return token

    # -- the holder's round ---------------------------------------------------------------------

    def renew(self, conn: sa.Connection) -> None:
        """Extend every lease we hold; let go of those another replica took meanwhile."""
        if not self._held:
            return
        started = self.clock.monotonic()
        expires = self.clock.now() + timedelta(seconds=self.period)
        conn.execute(leases.update().where(leases.c.holder == self.replica_id).values(expires_at=expires))
        ours = {row.name: row.token for row in conn.execute(
            sa.select(leases.c.name, leases.c.token).where(leases.c.holder == self.replica_id)).all()}
        for name, held in list(self._held.items()):
            if ours.get(name) == held.token:
                held.valid_until = started + self.period
            else:
                self._drop(name, "another replica took it")

    def balance(self, wanted: Iterable[str], alive_replicas: int) -> None:
        """Take free leases of `wanted` up to our share of them; forget leases of work that is gone."""
        wanted = list(wanted)
        wanted_set = set(wanted)
        for name in [n for n in self._held if n not in wanted_set]:
            self.release(name)
        share = math.ceil(len(wanted) / max(1, alive_replicas))
        if len(self._held) >= share or all(name in self._held for name in wanted):
            return  # nothing more to take: no need to look
        now = self.clock.now()
        with self.db.reading() as conn:
            taken = {row.name for row in conn.execute(sa.select(leases.c.name).where(
                leases.c.holder.is_not(None), leases.c.expires_at >= now)).all()}
        for name in wanted:
            if len(self._held) >= share:
                break
            if name not in taken and name not in self._held:
                self.acquire(name)

    def release(self, name: str) -> None:
        """Hand the lease back (the work is gone, or we stop): another replica may take it at once."""
        if name not in self._held:
            return
        with self.db.transaction() as conn:
            conn.execute(leases.update().where(leases.c.name == name, leases.c.holder == self.replica_id)
                         .values(holder=None, expires_at=_NEVER))
        self._drop(name, "released")

    def release_all(self) -> None:
        for name in list(self._held):
            try:
                self.release(name)
            except Exception:  # noqa: BLE001 - stopping: the lease then simply expires
                log.warning("could not release lease %s; it will expire", name)

    def held_names(self) -> list[str]:
        return sorted(self._held)

    def _drop(self, name: str, why: str) -> None:
        """Forget a lease. Taken by another replica: the work under it stops here (`lost`). Given
        back (its work is gone, or we stop): what runs under it ends by itself."""
        if self._held.pop(name, None) is None:
            return
        if why == "released":
            log.info("replica %s released lease %s", self.replica_id, name)
            return
        log.warning("replica %s no longer holds lease %s: %s", self.replica_id, name, why)
        for callback in self.lost:
            callback(name)


def cursor_of(name: str) -> sa.ScalarSelect[int]:
    """The lease's cursor, as a subquery (0 when the lease row is not there yet)."""
    return sa.select(sa.func.coalesce(sa.func.max(leases.c.cursor), 0)).where(leases.c.name == name).scalar_subquery()


def write_cursor(conn: sa.Connection, name: str, cursor: int) -> None:
    conn.execute(leases.update().where(leases.c.name == name).values(cursor=cursor))
