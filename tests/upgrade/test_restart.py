"""A run survives the control plane: two plane lifetimes on one database and one persistent
simulator (its machines written to disk at stop and read back at start), on one virtual clock.

A paused run stays paused and resumes from the batch it stood at; a run stopped while its batch was
reimaging finishes that batch and the rest, and every instance ends up reimaged exactly once (only a
reimage the stop cut short is asked of the driver again)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from scaleset.clock import VirtualClock
from scaleset.drivers.base import Driver, InstanceSpec
from scaleset.drivers.sim import SimDriver
from scaleset.service.context import Settings
from scaleset.service.controlplane import ControlPlane
from scaleset.service.errors import ArmError
from scaleset.store.database import Database, sqlite_url
from scaleset.upgrade import runs
from tests.upgrade.engine_kit import SUB, Kit

SETTINGS = {"health_wait": 300.0, "upgrade_poll": 1.0, "health_tick": 1.0, "status_interval": 5.0}


class CountingSim(SimDriver):
    """The simulator, counting the reimages each machine went through to the end (and those begun:
    `reimaged["begun", key]`)."""

    def __init__(self, clock: VirtualClock, *, root: Path, reimaged: Counter[Any]) -> None:
        super().__init__(clock, root=root)
        self.reimaged = reimaged

    async def reimage(self, spec: InstanceSpec, *, fence: int = 0) -> None:
        self.reimaged["begun", spec.key] += 1
        await super().reimage(spec, fence=fence)
        status = await self.status(spec.key)
        if status.image_urn == spec.image.urn:  # not overtaken by a newer operation
            self.reimaged[spec.key] += 1

    reimage_many = Driver.reimage_many  # each reimage counted on its own


class LateToAnswer(CountingSim):
    """Machines named in `late` answer no probe until `until` (virtual seconds): after a restart, or
    a takeover by another replica, the server has no verdict of them for a while."""

    late: set[str] = set()
    until = 0.0

    async def probe(self, key: str, spec: Any, **kwargs: Any) -> Any:
        if key in self.late and (wait := self.until - self._clock.monotonic()) > 0:
            await self._clock.sleep(wait)
        return await super().probe(key, spec, **kwargs)

    def answer_now(self, key: str, spec: Any, clock: Any) -> Any:
        if key in self.late and self.until > clock.monotonic():
            return None  # not at once: the watch waits on `probe`
        return super().answer_now(key, spec, clock)


@asynccontextmanager
async def lifetime(tmp_path: Path, clock: VirtualClock, reimaged: Counter[Any],
                   driver_class: type[CountingSim] = CountingSim) -> AsyncIterator[Kit]:
    """One life of the control plane: it starts on whatever the database and the simulator hold."""
    driver = driver_class(clock, root=tmp_path / "sim", reimaged=reimaged)
    db = Database(sqlite_url(tmp_path / "engine.db"))
    plane = ControlPlane(db=db, driver=driver, data_dir=tmp_path, clock=clock, settings=Settings(**SETTINGS))
    await plane.start()
    try:
        yield Kit(plane, clock, driver, tmp_path)
    finally:
        await plane.stop()  # closes the driver: its machines are written to tmp_path/sim
        db.close()


async def until(kit: Kit, condition: Any, *, limit: float = 3600) -> None:
    start = kit.clock.monotonic()
    while not condition():
        if kit.clock.monotonic() - start > limit:
            raise AssertionError(f"not within {limit} virtual seconds")
        await kit.clock.sleep(1)


def latest(kit: Kit) -> Any:
    try:
        return kit.latest("web")[0]
    except ArmError:
        return None


def batches(kit: Kit) -> dict[int, list[int]]:
    with kit.plane.ctx.db.reading() as conn:
        found = runs.members(conn, latest(kit).id)
    grouped: dict[int, list[int]] = {}
    for instance_id, member in sorted(found.items()):
        if member.batch_index is not None:
            grouped.setdefault(member.batch_index, []).append(instance_id)
    return grouped


def finished(reimaged: Counter[Any]) -> Counter[str]:
    return Counter({key: n for key, n in reimaged.items() if isinstance(key, str)})


def begun(reimaged: Counter[Any]) -> Counter[str]:
    return Counter({key[1]: n for key, n in reimaged.items() if isinstance(key, tuple)})


def machine_keys(kit: Kit) -> list[str]:
    return [row.machine_key for row in kit.plane.instances.list(SUB, "rg", "web")[1]]


async def first_life(kit: Kit) -> None:
    kit.plane.groups.put(SUB, "rg", "westus", {})
    await kit.publish("1.0.0")
    await kit.scale_set("web", 10)
    await kit.publish("1.0.1", warmupSeconds=30)  # each batch spends 30 s waiting for health


async def test_a_paused_run_stays_paused_across_a_restart_and_resumes_from_the_same_batch(tmp_path: Path) -> None:
    clock, reimaged = VirtualClock(), Counter[Any]()
    async with lifetime(tmp_path, clock, reimaged) as kit:
        await first_life(kit)
        await until(kit, lambda: latest(kit) is not None and latest(kit).batch_count == 1)
        kit.plane.upgrades.pause(SUB, "rg", "web")
        await until(kit, lambda: latest(kit).phase == "next")  # the batch finished; the run holds
        before = latest(kit)
        assert before.paused and before.state == "RollingForward" and before.batch_count == 1
        first_batch = batches(kit)[0]
        assert sorted(finished(reimaged).values()) == [1, 1]

    async with lifetime(tmp_path, clock, reimaged) as kit:
        run = latest(kit)
        assert (run.id, run.state, run.paused, run.batch_count) == (before.id, "RollingForward", True, 1)
        await clock.sleep(3600)
        run = latest(kit)
        assert run.state == "RollingForward" and run.paused and run.batch_count == 1
        assert sorted(finished(reimaged).values()) == [1, 1]  # nothing moved while paused

        kit.plane.upgrades.resume(SUB, "rg", "web")
        run = await kit.until_done("web")
        assert run.state == "Completed", run.error
        assert run.id == before.id
        assert run.batch_count == 5  # the count went on: no batch was started again
        grouped = batches(kit)
        assert sorted(grouped) == [0, 1, 2, 3, 4]
        assert grouped[0] == first_batch
        assert sorted(i for ids in grouped.values() for i in ids) == list(range(10))
        assert kit.versions("web") == ["1.0.1"] * 10
        assert finished(reimaged) == Counter({key: 1 for key in machine_keys(kit)})
        assert begun(reimaged) == finished(reimaged)


@pytest.mark.parametrize("phase", ["batch", "health"])
async def test_a_run_stopped_mid_batch_resumes_and_reimages_every_instance_exactly_once(tmp_path: Path, phase: str) -> None:
    clock, reimaged = VirtualClock(), Counter[Any]()
    async with lifetime(tmp_path, clock, reimaged) as kit:
        await first_life(kit)
        await until(kit, lambda: latest(kit) is not None and latest(kit).batch_count == 2 and latest(kit).phase == phase)
        if phase == "batch":
            await clock.sleep(10)  # the batch's reimages are under way (a reimage takes 60 s)
            assert sorted(finished(reimaged).values()) == [1, 1]  # only the first batch is done
        else:
            assert sorted(finished(reimaged).values()) == [1, 1, 1, 1]  # reimaged, not yet judged healthy
        stopped = latest(kit)
        in_flight = list(stopped.batch)

    async with lifetime(tmp_path, clock, reimaged) as kit:
        run = latest(kit)
        assert (run.id, run.phase, list(run.batch), run.batch_count) == (stopped.id, phase, in_flight, 2)
        run = await kit.until_done("web")
        assert run.state == "Completed", run.error
        assert run.batch_count == 5
        grouped = batches(kit)
        assert grouped[1] == in_flight
        assert sorted(i for ids in grouped.values() for i in ids) == list(range(10))
        assert kit.versions("web") == ["1.0.1"] * 10
        assert finished(reimaged) == Counter({key: 1 for key in machine_keys(kit)})
        # Only an instance whose reimage the stop cut short was asked again; a finished one never.
        keys = {row.instance_id: row.machine_key for row in kit.plane.instances.list(SUB, "rg", "web")[1]}
        cut_short = {keys[i] for i in in_flight} if phase == "batch" else set()
        assert begun(reimaged) == Counter({key: 2 if key in cut_short else 1 for key in machine_keys(kit)})
        _, counts = kit.latest("web")
        assert counts == {"successfulInstanceCount": 10, "failedInstanceCount": 0, "inProgressInstanceCount": 0,
                          "pendingInstanceCount": 0}


async def test_a_run_taken_up_again_waits_for_verdicts_it_has_not_had_rather_than_stop_on_them(tmp_path: Path) -> None:
    """After a restart the instances of the earlier batches have no verdict until probed again: the
    batch in flight turning healthy first must not fault the run by counting them unhealthy."""
    clock, reimaged = VirtualClock(), Counter[Any]()
    async with lifetime(tmp_path, clock, reimaged) as kit:
        await first_life(kit)
        await until(kit, lambda: latest(kit) is not None and latest(kit).batch_count == 2 and latest(kit).phase == "health")
        stopped = latest(kit)
        upgraded = batches(kit)[0]
        keys = {row.instance_id: row.machine_key for row in kit.plane.instances.list(SUB, "rg", "web")[1]}

    LateToAnswer.late, LateToAnswer.until = {keys[i] for i in upgraded}, clock.monotonic() + 120  # > the 30 s warmup
    async with lifetime(tmp_path, clock, reimaged, LateToAnswer) as kit:
        await until(kit, lambda: latest(kit).batch_count == 3 or latest(kit).state != "RollingForward")
        run = latest(kit)
        assert run.state == "RollingForward", run.error
        assert clock.monotonic() >= LateToAnswer.until  # the next batch waited for the earlier batch's verdicts
        run = await kit.until_done("web")
        assert run.state == "Completed", run.error
        assert run.id == stopped.id and run.batch_count == 5
        assert kit.versions("web") == ["1.0.1"] * 10
