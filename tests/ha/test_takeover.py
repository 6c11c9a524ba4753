"""Two replicas in one process on one store and one simulator, on the virtual clock: the owner of a
scale set dies in the middle of a batch and the other carries the same run on within two lease
periods; an owner cut off from the store (it stops renewing, but its tasks go on) has every write
and every driver call refused once the other took over. Either way each instance is reimaged
exactly once and the history holds one run."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from scaleset.clock import VirtualClock
from scaleset.service.context import Settings
from scaleset.service.controlplane import ControlPlane
from scaleset.store.database import Database, sqlite_url
from scaleset.store.leases import scale_set_lease
from scaleset.store.tables import leases
from scaleset.upgrade import runs
from tests.upgrade.engine_kit import SUB, Kit
from tests.upgrade.test_restart import CountingSim, begun, finished, machine_keys

PERIOD = 10.0
SETTINGS = {"health_wait": 300.0, "upgrade_poll": 1.0, "health_tick": 1.0, "status_interval": 5.0, "lease_period": PERIOD}


@asynccontextmanager
async def two_replicas(tmp_path: Path) -> AsyncIterator[tuple[Kit, Kit, Counter[Any]]]:
    clock, reimaged = VirtualClock(), Counter[Any]()
    driver = CountingSim(clock, root=None, reimaged=reimaged)  # type: ignore[arg-type]
    kits, databases = [], []
    for name in ("a", "b"):
        db = Database(sqlite_url(tmp_path / "store.db"))
        plane = ControlPlane(db=db, driver=driver, data_dir=tmp_path, clock=clock, settings=Settings(**SETTINGS),
                             replica_id=name)
        await plane.start()
        kits.append(Kit(plane, clock, driver, tmp_path))
        databases.append(db)
    try:
        yield kits[0], kits[1], reimaged
    finally:
        for kit in kits:
            await kit.plane.halt()
        for db in databases:
            db.close()


def owner(kit: Kit, name: str = "web") -> str | None:
    key = kit.plane.scale_sets.get(SUB, "rg", name).key
    with kit.plane.ctx.db.reading() as conn:
        return conn.execute(sa.select(leases.c.holder).where(leases.c.name == scale_set_lease(key))).scalar()


async def a_run_in_its_second_batch(a: Kit) -> Any:
    a.plane.groups.put(SUB, "rg", "westus", {})
    await a.publish("1.0.0")
    await a.scale_set("web", 10)
    await a.publish("1.0.1")
    while (run := a.latest("web")[0]).batch_count < 2 or run.phase != "batch":
        await a.clock.sleep(1)
    return run


def by_name(a: Kit, b: Kit, name: str) -> tuple[Kit, Kit]:
    """(the replica called `name`, the other)."""
    return (a, b) if a.plane.identity.id == name else (b, a)


async def test_the_run_moves_to_the_other_replica_when_its_owner_dies_mid_batch(tmp_path: Path) -> None:
    async with two_replicas(tmp_path) as (a, b, reimaged):
        stopped = await a_run_in_its_second_batch(a)
        dead, survivor = by_name(a, b, owner(a))
        await dead.plane.halt()  # a crash: nothing released, nothing written
        died = a.clock.monotonic()
        while owner(survivor) != survivor.plane.identity.id:
            await a.clock.sleep(0.5)
        assert a.clock.monotonic() - died <= 2 * PERIOD
        run = await survivor.until_done("web")
        assert (run.id, run.state, run.batch_count) == (stopped.id, "Completed", 5)
        assert survivor.versions("web") == ["1.0.1"] * 10
        assert finished(reimaged) == Counter({key: 1 for key in machine_keys(survivor)})
        with survivor.plane.ctx.db.reading() as conn:
            assert len(runs.history(conn, run.scale_set_key)) == 1


async def test_an_owner_cut_off_from_the_store_is_refused_once_taken_over(tmp_path: Path) -> None:
    async with two_replicas(tmp_path) as (a, b, reimaged):
        stopped = await a_run_in_its_second_batch(a)
        cut_off, survivor = by_name(a, b, owner(a))
        # It no longer heartbeats or renews (a partition, a long pause), but its runner, reconciler
        # and prober go on as if it still held the scale set.
        cut_off.plane._rounds.cancel()  # noqa: SLF001 - the one task a partition stops
        refused: list[str] = []
        cut_off.plane.ctx.leases.lost.append(refused.append)
        while owner(survivor) != survivor.plane.identity.id:
            await a.clock.sleep(0.5)
        run = await survivor.until_done("web")
        assert (run.id, run.state, run.batch_count) == (stopped.id, "Completed", 5)
        assert refused == [scale_set_lease(run.scale_set_key)]  # it found out on its first write
        assert not cut_off.plane.upgrades._tasks  # noqa: SLF001 - its runner gave the run up
        assert finished(reimaged) == Counter({key: 1 for key in machine_keys(survivor)})
        assert sum(begun(reimaged).values()) <= 10 + 2  # at most the batch in flight was begun again
        with survivor.plane.ctx.db.reading() as conn:
            assert len(runs.history(conn, run.scale_set_key)) == 1


async def test_a_deployment_ends_interrupted_only_once_its_replica_is_gone(tmp_path: Path) -> None:
    async with two_replicas(tmp_path) as (a, b, _):
        a.plane.groups.put(SUB, "rg", "westus", {})
        resource, _, _ = a.plane.deployments.begin(SUB, "rg", "dep", {"mode": "Incremental", "template": {}}, tags=None)
        state = lambda: b.plane.deployments.get(SUB, "rg", "dep")["properties"]["provisioningState"]  # noqa: E731
        await a.clock.sleep(3 * PERIOD)
        assert state() == "Accepted"  # its replica is alive: the other leaves it alone
        await a.plane.halt()
        await a.clock.sleep(3 * PERIOD)
        assert state() == "Failed"
        assert b.plane.deployments.get(SUB, "rg", "dep")["properties"]["error"]["code"] == "DeploymentInterrupted"


async def test_the_replica_that_takes_a_scale_set_over_watches_all_its_instances_at_once(tmp_path: Path) -> None:
    """Its verdicts gone with its last holder, a scale set taken over is read whole by the health
    watch as soon as its lease is taken, by whatever takes it (here the reconciler, finding the
    batch's intents), not at the watch's next periodic read: a run judged meanwhile would count
    the instances not yet watched as unhealthy."""
    async with two_replicas(tmp_path) as (a, b, _):
        await a_run_in_its_second_batch(a)
        dead, survivor = by_name(a, b, owner(a))
        key = survivor.plane.scale_sets.get(SUB, "rg", "web").key
        survivor.plane._rounds.cancel()  # noqa: SLF001 - the round takes leases too: leave it to the reconciler
        await dead.plane.halt()
        while not survivor.plane.ctx.leases.holds(scale_set_lease(key)):
            survivor.plane.reconciler.wake(key)  # it looks for intents to carry out
            await a.clock.sleep(0.5)
        await a.clock.sleep(0.1)  # a look of the watch, far sooner than its periodic read of the store
        assert sorted(survivor.plane.health.healthy(key)) == list(range(10))
