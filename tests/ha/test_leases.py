"""Leases on a real store (SQLite and PostgreSQL): one holder at a time, taken over only once
expired or released, a token that grows with every change of hands, and fencing that refuses the
writes of a holder that was taken over, even one that does not know it yet."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from scaleset.clock import VirtualClock
from scaleset.store.database import Database
from scaleset.store.leases import LeaseLost, Leases
from scaleset.store.tables import leases as leases_table

PERIOD = 10.0


def replicas(database: Database, clock: VirtualClock, *names: str) -> list[Leases]:
    database.migrate()
    return [Leases(database, clock, name, period=PERIOD) for name in names]


def renew(database: Database, lease: Leases) -> None:
    with database.transaction() as conn:
        lease.renew(conn)


def holder(database: Database, name: str) -> tuple[str | None, int]:
    with database.reading() as conn:
        row = conn.execute(sa.select(leases_table.c.holder, leases_table.c.token).where(leases_table.c.name == name)).one()
    return row.holder, row.token


def test_one_holder_at_a_time_and_the_token_grows_with_each_change_of_hands(database: Database) -> None:
    clock = VirtualClock()
    a, b = replicas(database, clock, "a", "b")
    assert a.acquire("work") == 1
    assert b.acquire("work") is None  # held and fresh
    assert a.acquire("work") == 1  # ours already: same token
    clock.advance(PERIOD * 0.9)
    renew(database, a)
    clock.advance(PERIOD * 0.9)  # 1.8 periods after the take, 0.9 after the renewal
    assert b.acquire("work") is None
    assert holder(database, "work") == ("a", 1)
    clock.advance(PERIOD * 0.2)  # a stopped renewing: expired
    assert b.acquire("work") == 2
    assert holder(database, "work") == ("b", 2)


def test_a_holder_that_was_taken_over_writes_nothing_and_learns_it_lost(database: Database) -> None:
    clock = VirtualClock()
    a, b = replicas(database, clock, "a", "b")
    lost: list[str] = []
    a.lost.append(lost.append)
    a.acquire("work")
    clock.advance(PERIOD + 1)  # a is paused: no renewal
    assert b.acquire("work") == 2
    # a wakes and, before any renewal, tries to write under the lease it believes it holds
    with pytest.raises(LeaseLost):
        with database.transaction() as conn:
            conn.execute(leases_table.update().where(leases_table.c.name == "work").values(cursor=99))
            a.fence(conn, "work")
    assert lost == ["work"] and not a.holds("work")
    with database.reading() as conn:
        assert conn.execute(sa.select(leases_table.c.cursor).where(leases_table.c.name == "work")).scalar_one() == 0
    with database.transaction() as conn:
        assert b.fence(conn, "work") == 2


def test_renewal_finds_out_a_lease_was_taken(database: Database) -> None:
    clock = VirtualClock()
    a, b = replicas(database, clock, "a", "b")
    a.acquire("work")
    clock.advance(PERIOD + 1)
    b.acquire("work")
    assert a.holds("work") is False  # locally expired: a starts no new work even before it renews
    renew(database, a)
    assert a.held_names() == [] and b.held_names() == ["work"]


def test_a_released_lease_is_free_at_once(database: Database) -> None:
    clock = VirtualClock()
    a, b = replicas(database, clock, "a", "b")
    a.acquire("work")
    a.release("work")
    assert b.acquire("work") == 2


def test_replicas_share_the_work_out(database: Database) -> None:
    clock = VirtualClock()
    a, b = replicas(database, clock, "a", "b")
    names = [f"scaleset:{i}" for i in range(6)]
    a.balance(names, alive_replicas=2)
    b.balance(names, alive_replicas=2)
    assert len(a.held_names()) == 3 and len(b.held_names()) == 3
    assert set(a.held_names()) | set(b.held_names()) == set(names)
    # b dies: once its leases expire and it no longer counts as alive, a takes them all
    for _ in range(3):
        clock.advance(PERIOD / 3)
        renew(database, a)
        a.balance(names, alive_replicas=1)
    clock.advance(1)
    renew(database, a)
    a.balance(names, alive_replicas=1)
    assert a.held_names() == sorted(names)
    # work that is gone is handed back
    a.balance(names[:2], alive_replicas=1)
    assert a.held_names() == sorted(names[:2])
