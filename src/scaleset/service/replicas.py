"""Replicas: the server processes sharing one store, each heartbeating its row.

A replica counts as alive while its heartbeat is younger than a lease period. One on this host
whose process is gone (its pid no longer runs, or runs another program) is dead at once: its
leases are freed without waiting for them to expire, so a restarted server resumes right away.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from scaleset.clock import Clock
from scaleset.drivers import procfs
from scaleset.store.database import Database
from scaleset.store.tables import leases, replicas


@dataclass(frozen=True)
class Identity:
    id: str
    host: str
    pid: int
    pid_start: int | None

    @classmethod
    def of_this_process(cls, replica_id: str | None = None) -> Identity:
        info = procfs.proc_info(os.getpid())
        return cls(id=replica_id or uuid.uuid4().hex[:12], host=socket.gethostname(), pid=os.getpid(),
                   pid_start=info.start_time if info else None)


class Replicas:
    def __init__(self, db: Database, clock: Clock, me: Identity, *, period: float) -> None:
        self.db = db
        self.clock = clock
        self.me = me
        self.period = period

    def join(self) -> None:
        now = self.clock.now()
        with self.db.transaction() as conn:
            conn.execute(replicas.delete().where(replicas.c.id == self.me.id))
            conn.execute(replicas.insert().values(id=self.me.id, host=self.me.host, pid=self.me.pid,
                                                  pid_start=self.me.pid_start, url=None, started_at=now,
                                                  heartbeat_at=now, stopped_at=None))

    def serving_at(self, url: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(replicas.update().where(replicas.c.id == self.me.id).values(url=url))

    def heartbeat(self, conn: sa.Connection) -> set[str]:
        """Beat, bury the dead of this host, and return the replicas alive (us included)."""
        now = self.clock.now()
        conn.execute(replicas.update().where(replicas.c.id == self.me.id).values(heartbeat_at=now, stopped_at=None))
        alive = set()
        for row in conn.execute(sa.select(replicas.c.id, replicas.c.host, replicas.c.pid, replicas.c.pid_start,
                                          replicas.c.heartbeat_at).where(replicas.c.stopped_at.is_(None))).all():
            if row.host == self.me.host and row.id != self.me.id and not procfs.is_alive(row.pid, row.pid_start):
                _bury(conn, row.id, now)
            elif row.heartbeat_at >= now - timedelta(seconds=self.period):
                alive.add(row.id)
        return alive

    def leave(self) -> None:
        with self.db.transaction() as conn:
            _bury(conn, self.me.id, self.clock.now())


def _bury(conn: sa.Connection, replica_id: str, now: datetime) -> None:
    conn.execute(replicas.update().where(replicas.c.id == replica_id).values(stopped_at=now))
    conn.execute(leases.update().where(leases.c.holder == replica_id).values(holder=None, expires_at=now))


def describe(conn: sa.Connection, now: datetime, period: float) -> list[dict[str, Any]]:
    """Every replica that has not stopped, with its heartbeat and the leases it holds (`scaleset replicas`)."""
    held: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(sa.select(leases).where(leases.c.holder.is_not(None)).order_by(leases.c.name)).all():
        held.setdefault(row.holder, []).append({
            "name": row.name, "token": row.token, "expiresAt": row.expires_at.isoformat(), "expired": row.expires_at < now})
    found = []
    for row in conn.execute(sa.select(replicas).where(replicas.c.stopped_at.is_(None)).order_by(replicas.c.started_at)).all():
        age = (now - row.heartbeat_at).total_seconds()
        found.append({"id": row.id, "host": row.host, "pid": row.pid, "url": row.url,
                      "startedAt": row.started_at.isoformat(), "heartbeatAt": row.heartbeat_at.isoformat(),
                      "heartbeatAgeSeconds": round(age, 3), "alive": age <= period, "leases": held.get(row.id, [])})
    return found
