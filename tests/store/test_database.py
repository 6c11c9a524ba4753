"""The database: one transaction per change, faithful types on both dialects, SQLite tuned for a
busy single server, and the whole control plane working on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from scaleset.clock import VirtualClock
from scaleset.drivers.base import PowerState
from scaleset.drivers.sim import SimDriver
from scaleset.model.image_reference import ImageReference
from scaleset.service.controlplane import ControlPlane
from scaleset.service.errors import ArmError
from scaleset.store import database
from scaleset.store.database import Database, sqlite_url
from scaleset.store.secrets import SecretBox
from scaleset.store.tables import resource_groups, resources, subscriptions
from tests.images import sim_image

NOW = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc)


@pytest.fixture
def db(database: Database) -> Database:
    database.migrate()
    return database


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(sqlite_url(tmp_path / "scaleset.db"))
    database.migrate()
    yield database
    database.close()


def add_subscription(conn: sa.Connection, sub: str, *, at: datetime = NOW) -> None:
    conn.execute(subscriptions.insert().values(id=sub, display_name=sub, created_at=at))


def subscription_ids(db: Database) -> list[str]:
    with db.reading() as conn:
        return conn.execute(sa.select(subscriptions.c.id).order_by(subscriptions.c.id)).scalars().all()


# -- fetch: compiled reads straight on the driver ---------------------------------------------

_BY_IDS = sa.select(subscriptions.c.id).where(subscriptions.c.id.in_(sa.bindparam("ids", expanding=True)),
                                              subscriptions.c.display_name != sa.bindparam("not_named"))


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 8, 100, 500, 700])
def test_a_fetch_fills_an_in_list_of_any_length(db: Database, count: int) -> None:
    """A list bound to an expanding bind fills its IN (...), padded to a few compiled widths: the
    padding repeats a value, so it adds no row; binds after the list still line up; a list longer
    than one IN list holds is read in slices."""
    with db.transaction() as conn:
        for n in range(1400):
            add_subscription(conn, f"s{n:04d}")
    wanted = [f"s{n:04d}" for n in range(0, 2 * count, 2)]
    rows, = db.fetch((_BY_IDS, {"ids": wanted, "not_named": "s0000"}))
    assert sorted(row[0] for row in rows) == [s for s in wanted if s != "s0000"]


_RENAME = sa.update(subscriptions).where(subscriptions.c.id.in_(sa.bindparam("ids", expanding=True))).values(
    display_name=sa.bindparam("name"))


@pytest.mark.parametrize("count", [0, 1, 3, 700])
def test_a_write_on_the_driver_changes_what_its_in_list_names_in_the_transaction_it_is_given(db: Database, count: int) -> None:
    with db.transaction() as conn:
        for n in range(1400):
            add_subscription(conn, f"s{n:04d}")
    wanted = [f"s{n:04d}" for n in range(0, 2 * count, 2)]
    with db.transaction() as conn:
        assert database.write(conn, _RENAME, {"ids": wanted, "name": "renamed"}) == count
    with pytest.raises(RuntimeError), db.transaction() as conn:  # undone with the rest of its transaction
        database.write(conn, _RENAME, {"ids": [f"s{n:04d}" for n in range(1400)], "name": "undone"})
        raise RuntimeError
    with db.reading() as conn:
        named = conn.execute(sa.select(subscriptions.c.id).where(subscriptions.c.display_name == "renamed")).scalars().all()
        assert sorted(named) == wanted
        assert conn.execute(sa.select(sa.func.count()).where(subscriptions.c.display_name == "undone")).scalar() == 0


_NAMED = sa.select(subscriptions.c.id, subscriptions.c.created_at).where(
    subscriptions.c.id.in_(sa.bindparam("ids", expanding=True)), subscriptions.c.display_name == sa.bindparam("name"))


def test_a_read_on_the_driver_sees_its_transaction_s_own_writes_with_the_columns_types(db: Database) -> None:
    with db.transaction() as conn:
        for n in range(700):
            add_subscription(conn, f"s{n:04d}")
        database.write(conn, _RENAME, {"ids": ["s0001", "s0650"], "name": "renamed"})
        found = database.read(conn, _NAMED, {"ids": [f"s{n:04d}" for n in range(700)], "name": "renamed"})
    assert sorted(row.id for row in found) == ["s0001", "s0650"]
    assert {row.created_at for row in found} == {NOW}  # an aware datetime on both databases


# -- transactions -----------------------------------------------------------------------------

def test_a_transaction_commits_everything_written_in_it(db: Database) -> None:
    with db.transaction() as conn:
        add_subscription(conn, "s1")
        conn.execute(resource_groups.insert().values(subscription_id="s1", key="rg", name="RG", location="westus",
                                                     tags={}, state="Succeeded", created_at=NOW))
    assert subscription_ids(db) == ["s1"]
    with db.reading() as conn:
        assert conn.execute(sa.select(resource_groups.c.name)).scalars().all() == ["RG"]


def test_an_exception_in_a_transaction_rolls_back_everything_written_in_it(db: Database) -> None:
    with db.transaction() as conn:
        add_subscription(conn, "before")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with db.transaction() as conn:
            add_subscription(conn, "s1")
            conn.execute(resource_groups.insert().values(subscription_id="s1", key="rg", name="rg", location="westus",
                                                         tags={}, state="Succeeded", created_at=NOW))
            conn.execute(subscriptions.update().where(subscriptions.c.id == "before").values(display_name="changed"))
            conn.execute(subscriptions.delete().where(subscriptions.c.id == "before"))
            raise Boom
    assert subscription_ids(db) == ["before"]
    with db.reading() as conn:
        assert conn.execute(sa.select(subscriptions.c.display_name)).scalar_one() == "before"
        assert conn.execute(sa.select(sa.func.count()).select_from(resource_groups)).scalar_one() == 0


def test_a_failing_statement_rolls_back_the_statements_before_it(db: Database) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        with db.transaction() as conn:
            add_subscription(conn, "s1")
            add_subscription(conn, "s1")  # primary key clash
    assert subscription_ids(db) == []


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        with db.transaction() as conn:
            conn.execute(resource_groups.insert().values(subscription_id="nobody", key="rg", name="rg", location="westus",
                                                         tags={}, state="Succeeded", created_at=NOW))


# -- types ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "moment",
    [NOW, NOW.astimezone(timezone(timedelta(hours=2))), NOW.astimezone(timezone(timedelta(hours=-7, minutes=-30))),
     datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)],
    ids=["utc", "plus-2h", "minus-7h30", "last-century"],
)
def test_datetimes_come_back_as_the_same_instant_in_utc(db: Database, moment: datetime) -> None:
    with db.transaction() as conn:
        add_subscription(conn, "s", at=moment)
    with db.reading() as conn:
        back = conn.execute(sa.select(subscriptions.c.created_at)).scalar_one()
    assert back == moment
    assert back.utcoffset() == timedelta(0)
    assert back.tzinfo is not None


def test_a_naive_datetime_is_refused(db: Database) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        with db.transaction() as conn:
            add_subscription(conn, "s", at=datetime(2026, 1, 1))
    assert subscription_ids(db) == []


NESTED = {
    "location": "westus",
    "properties": {
        "probes": [{"name": "http", "properties": {"protocol": "Http", "port": 8080, "requestPath": "/health?x=1&y=é"}}],
        "empty": {}, "nothing": None, "flags": [True, False, None], "numbers": [0, -1, 2**40, 1.5, 1e-9],
        "deep": {"a": {"b": {"c": {"d": ["x", {"e": "snow ☃, clé"}]}}}},
        "text with spaces": "quote \" backslash \\ newline \n tab \t",
    },
}


def test_json_columns_round_trip_nested_bodies(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(resources.insert().values(key="k", subscription_id="s", group_key="g", type_key="t", body=NESTED, created_at=NOW))
    with db.reading() as conn:
        assert conn.execute(sa.select(resources.c.body)).scalar_one() == NESTED


def test_json_columns_take_updates_whole(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(resources.insert().values(key="k", subscription_id="s", group_key="g", type_key="t", body=NESTED, created_at=NOW))
    with db.transaction() as conn:
        conn.execute(resources.update().values(body={"replaced": [1, {"two": 2}]}))
    with db.reading() as conn:
        assert conn.execute(sa.select(resources.c.body)).scalar_one() == {"replaced": [1, {"two": 2}]}


# -- SQLite -----------------------------------------------------------------------------------

def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_foreign_keys(sqlite_db: Database) -> None:
    with sqlite_db.reading() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_two_concurrent_writers_on_sqlite_both_succeed(sqlite_db: Database) -> None:
    """The second writer waits for the first (busy timeout) instead of failing 'database is locked'."""
    first_holds = threading.Event()
    errors: list[BaseException] = []
    waited: list[float] = []

    def first() -> None:
        try:
            with sqlite_db.transaction() as conn:
                add_subscription(conn, "first")
                first_holds.set()
                time.sleep(0.5)  # hold the write lock while the second writer tries
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
            first_holds.set()

    def second() -> None:
        first_holds.wait(5)
        started = time.monotonic()
        try:
            with sqlite_db.transaction() as conn:
                add_subscription(conn, "second")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        waited.append(time.monotonic() - started)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert subscription_ids(sqlite_db) == ["first", "second"]
    assert waited[0] >= 0.3, "the second writer did not overlap the first"


def test_many_concurrent_writers_on_sqlite_all_succeed(sqlite_db: Database) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(15):
                with sqlite_db.transaction() as conn:
                    add_subscription(conn, f"w{worker:02d}-{n:02d}")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(subscription_ids(sqlite_db)) == 8 * 15


def test_a_reader_does_not_wait_for_an_open_write_on_sqlite(sqlite_db: Database) -> None:
    """WAL's point (database.py: "readers never wait on the writer"): a GET is not held up by a change."""
    with sqlite_db.transaction() as conn:
        add_subscription(conn, "committed")
    writing = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with sqlite_db.transaction() as conn:
            add_subscription(conn, "uncommitted")
            writing.set()
            release.wait(2)  # a reader that waits for us gets in after this

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(5)
        started = time.monotonic()
        with sqlite_db.reading() as conn:
            seen = conn.execute(sa.select(subscriptions.c.id)).scalars().all()
        elapsed = time.monotonic() - started
    finally:
        release.set()
        thread.join(10)
    assert elapsed < 0.5, f"the reader waited {elapsed:.2f}s for the writer to finish"
    assert seen == ["committed"]  # the snapshot before the open write


# -- the control plane on this database -------------------------------------------------------

@pytest.fixture
async def plane(db: Database, tmp_path: Path) -> AsyncIterator[ControlPlane]:
    clock = VirtualClock()
    plane = ControlPlane(db=db, driver=SimDriver(clock=clock), data_dir=tmp_path / "data", clock=clock,
                         secrets=SecretBox(SecretBox.generate_key()))
    await plane.start()
    yield plane
    await plane.stop()


def assert_succeeded(plane: ControlPlane, op: str) -> None:
    operation = plane.operation(op)
    assert (operation.status, operation.error) == ("Succeeded", None)


def scale_set_body(capacity: int) -> dict[str, object]:
    return {
        "location": "westus",
        "sku": {"name": "Standard_D1_v2", "capacity": capacity},
        "properties": {"upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": {
            "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"}},
            "osProfile": {"computerNamePrefix": "web", "adminUsername": "azureuser", "adminPassword": "P@ssw0rd!"},
        }},
    }


async def test_the_control_plane_creates_scales_and_deletes_a_scale_set(plane: ControlPlane, tmp_path: Path) -> None:
    sub = plane.subscriptions.ensure_default()
    ref = ImageReference("Canonical", "UbuntuServer", "18.04-LTS", "1.0.0")
    _, created = await plane.images.publish("westus", ref, os_type="Linux", upload=sim_image(tmp_path / "sim.json"))
    assert created
    plane.groups.put(sub, "rg", "westus", {})

    row, created, op = plane.scale_sets.put(sub, "rg", "web", scale_set_body(5))
    assert created and row.provisioning_state == "Creating"
    await plane.reconciler.idle()
    assert_succeeded(plane, op)
    scale_set, rows, _ = plane.instances.list(sub, "rg", "web")
    assert scale_set.provisioning_state == "Succeeded"
    assert [r.instance_id for r in rows] == [0, 1, 2, 3, 4]
    assert {(r.provisioning_state, r.power_state, r.image_urn) for r in rows} == {("Succeeded", "running", ref.urn)}
    driver = plane.ctx.driver
    for r in rows:
        assert (await driver.status(r.machine_key)).power_state == PowerState.RUNNING
    # the secret is stored, encrypted, outside the body
    assert "P@ssw0rd!" not in repr(scale_set.body) and "P@ssw0rd!" not in (scale_set.secrets or "")
    assert plane.scale_sets.secrets_of(scale_set) == {"adminPassword": "P@ssw0rd!"}

    _, op = plane.scale_sets.patch(sub, "rg", "web", {"sku": {"capacity": 2}})
    await plane.reconciler.idle()
    assert_succeeded(plane, op)
    _, remaining, _ = plane.instances.list(sub, "rg", "web")
    assert [r.instance_id for r in remaining] == [0, 1]
    assert all(r.power_state == "running" for r in remaining)
    for gone in rows[2:]:
        assert (await driver.status(gone.machine_key)).power_state == PowerState.UNKNOWN

    op = plane.scale_sets.delete(sub, "rg", "web")
    assert op is not None
    await plane.reconciler.idle()
    assert_succeeded(plane, op)
    with pytest.raises(ArmError) as raised:
        plane.scale_sets.get(sub, "rg", "web")
    assert raised.value.code == "ResourceNotFound"
    for r in rows:
        assert (await driver.status(r.machine_key)).power_state == PowerState.UNKNOWN
