"""The sim driver: time on the clock, health, faults, images, scale, snapshots."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from scaleset.clock import VirtualClock
from scaleset.drivers.base import (
    DriverError,
    ExtensionSpec,
    ExtensionState,
    ImageArtifact,
    InstanceSpec,
    InvalidArtifact,
    PowerState,
)
from scaleset.drivers.sim import SimDriver


class Sim:
    """A SimDriver on a virtual clock, with images made from knobs."""

    def __init__(self, tmp_path: Path, *, root: Path | None = None) -> None:
        self.tmp_path = tmp_path
        self.clock = VirtualClock()
        self.driver = SimDriver(self.clock, root=root)
        self.count = 0

    async def image(self, version: str, **knobs: Any) -> ImageArtifact:
        upload = self.tmp_path / "uploads" / f"{version}.json"
        upload.parent.mkdir(parents=True, exist_ok=True)
        upload.write_text(json.dumps({"bootSeconds": 30, "reimageSeconds": 60, **knobs}))
        dest = self.tmp_path / "images" / version
        await self.driver.install_image(upload, dest)
        return ImageArtifact(f"pub:offer:sku:{version}", dest)

    def spec(self, image: ImageArtifact, **fields: Any) -> InstanceSpec:
        self.count += 1
        n = self.count
        return InstanceSpec(**{"key": f"vm{n}", "instance_id": str(n), "computer_name": f"vm{n}",
                               "private_ip": f"10.0.{n // 250}.{n % 250 + 4}", "image": image, **fields})  # fmt: skip

    async def timed(self, call: Any) -> float:
        """Virtual seconds `call` took."""
        before = self.clock.monotonic()
        await call
        return self.clock.monotonic() - before


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    yield Sim(tmp_path)


async def test_create_takes_boot_seconds_of_virtual_time_and_no_real_time(sim: Sim) -> None:
    spec = sim.spec(await sim.image("1"))
    real = time.monotonic()
    assert await sim.timed(sim.driver.create(spec)) == 30
    assert time.monotonic() - real < 1
    assert (await sim.driver.status(spec.key)).power_state is PowerState.RUNNING


async def test_the_app_answers_unhealthy_while_it_warms_up_after_each_boot_and_reimage(sim: Sim) -> None:
    v1, v2 = await sim.image("1", warmupSeconds=30), await sim.image("2", warmupSeconds=30)
    spec = sim.spec(v1)
    await sim.driver.create(spec)
    assert not sim.driver.healthy(spec.key)
    await sim.clock.sleep(29.5)
    assert not sim.driver.healthy(spec.key)
    await sim.clock.sleep(0.5)
    assert sim.driver.healthy(spec.key)
    await sim.driver.reimage(dataclasses.replace(spec, image=v2, generation=2))
    assert not sim.driver.healthy(spec.key)  # the new OS disk's app starts cold
    await sim.clock.sleep(30)
    assert sim.driver.healthy(spec.key)


async def test_status_during_create_is_starting_with_extensions_transitioning(sim: Sim) -> None:
    spec = sim.spec(await sim.image("1"), extensions=(ExtensionSpec("e", "P", "T"),))
    task = asyncio.create_task(sim.driver.create(spec))
    await asyncio.sleep(0)
    status = await sim.driver.status(spec.key)
    assert status.power_state is PowerState.STARTING
    assert status.extensions[0].state is ExtensionState.TRANSITIONING
    await task
    assert (await sim.driver.status(spec.key)).extensions[0].state is ExtensionState.SUCCEEDED


async def test_reimage_takes_reimage_seconds_and_start_takes_boot_seconds(sim: Sim) -> None:
    v1, v2 = await sim.image("1"), await sim.image("2", reimageSeconds=90, bootSeconds=5)
    spec = sim.spec(v1)
    await sim.driver.create(spec)
    assert await sim.timed(sim.driver.reimage(sim.spec(v2, key=spec.key))) == 90
    await sim.driver.stop(spec.key)
    assert await sim.timed(sim.driver.start(spec.key)) == 5  # the new OS disk's boot time
    assert await sim.timed(sim.driver.start(spec.key)) == 0  # already running


async def test_a_thousand_machines_boot_in_parallel_on_the_clock(sim: Sim) -> None:
    image = await sim.image("1")
    specs = [sim.spec(image) for _ in range(2000)]
    real = time.monotonic()
    assert await sim.timed(asyncio.gather(*(sim.driver.create(s) for s in specs))) == 30
    statuses = await asyncio.gather(*(sim.driver.status(s.key) for s in specs))
    assert {s.power_state for s in statuses} == {PowerState.RUNNING}
    assert time.monotonic() - real < 5


async def test_a_batch_is_reimaged_in_one_call_each_machine_failing_or_not_on_its_own(sim: Sim) -> None:
    v1, v2 = await sim.image("1"), await sim.image("2", reimageSeconds=90)
    specs = [sim.spec(v1) for _ in range(5)]
    for spec in specs:
        await sim.driver.create(spec)
    sim.driver.inject(specs[1].key, fail_next="reimage")
    targets = [dataclasses.replace(spec, image=v2) for spec in specs[:4]]
    targets.append(sim.spec(v2, key="gone"))  # no such machine
    took = sim.clock.monotonic()
    failures = await sim.driver.reimage_many(targets)
    assert sim.clock.monotonic() - took == 90  # together, not one after another
    assert [type(f).__name__ if f else None for f in failures] == [None, "DriverError", None, None, "DriverError"]
    assert "no machine 'gone'" in str(failures[4])
    urns = [(await sim.driver.status(spec.key)).image_urn for spec in specs]
    assert urns == [v2.urn, v1.urn, v2.urn, v2.urn, v1.urn]  # the failed one keeps its old image
    assert (await sim.driver.status(specs[1].key)).power_state is PowerState.STOPPED


async def test_health_follows_the_image_and_injection_until_reimage(sim: Sim) -> None:
    sick, well = await sim.image("sick", healthy=False), await sim.image("well")
    spec = sim.spec(sick)
    await sim.driver.create(spec)
    assert sim.driver.healthy(spec.key) is False
    sim.driver.inject(spec.key, healthy=True)
    assert sim.driver.healthy(spec.key) is True
    await sim.driver.reimage(sim.spec(well, key=spec.key))
    sim.driver.inject(spec.key, healthy=False)
    assert sim.driver.healthy(spec.key) is False
    await sim.driver.reimage(sim.spec(well, key=spec.key))
    assert sim.driver.healthy(spec.key) is True  # a new OS disk forgets the injected fault


async def test_a_stopped_or_unknown_machine_is_not_healthy(sim: Sim) -> None:
    spec = sim.spec(await sim.image("1"))
    await sim.driver.create(spec)
    await sim.driver.stop(spec.key)
    assert sim.driver.healthy(spec.key) is False
    assert sim.driver.healthy("nope") is False


async def test_injected_power_state_simulates_a_crash(sim: Sim) -> None:
    spec = sim.spec(await sim.image("1"))
    await sim.driver.create(spec)
    sim.driver.inject(spec.key, power_state=PowerState.STOPPED)
    assert (await sim.driver.status(spec.key)).power_state is PowerState.STOPPED
    assert sim.driver.healthy(spec.key) is False


async def test_fail_next_fails_one_call_only(sim: Sim) -> None:
    spec = sim.spec(await sim.image("1"))
    await sim.driver.create(spec)
    await sim.driver.stop(spec.key)
    sim.driver.inject(spec.key, fail_next="start")
    with pytest.raises(DriverError, match="simulated"):
        await sim.driver.start(spec.key)
    assert (await sim.driver.status(spec.key)).power_state is PowerState.STOPPED
    await sim.driver.start(spec.key)
    assert (await sim.driver.status(spec.key)).power_state is PowerState.RUNNING


async def test_fail_next_create_applies_to_a_key_not_made_yet(sim: Sim) -> None:
    spec = sim.spec(await sim.image("1"))
    sim.driver.inject(spec.key, fail_next="create")
    with pytest.raises(DriverError):
        await sim.driver.create(spec)
    assert (await sim.driver.status(spec.key)).power_state is PowerState.UNKNOWN
    await sim.driver.create(spec)
    assert (await sim.driver.status(spec.key)).power_state is PowerState.RUNNING


async def test_fail_next_rejects_unknown_operations(sim: Sim) -> None:
    with pytest.raises(ValueError, match="fail_next"):
        sim.driver.inject("vm1", fail_next="explode")


async def test_an_image_that_fails_create_leaves_nothing_after_its_boot_time(sim: Sim) -> None:
    spec = sim.spec(await sim.image("bad", failCreate=True))
    before = sim.clock.monotonic()
    with pytest.raises(DriverError, match="creating"):
        await sim.driver.create(spec)
    assert sim.clock.monotonic() - before == 30
    assert (await sim.driver.status(spec.key)).power_state is PowerState.UNKNOWN


async def test_an_image_that_fails_reimage_leaves_the_machine_stopped_on_its_old_image(sim: Sim) -> None:
    good, bad = await sim.image("1"), await sim.image("2", failReimage=True)
    spec = sim.spec(good)
    await sim.driver.create(spec)
    with pytest.raises(DriverError, match="reimaging"):
        await sim.driver.reimage(sim.spec(bad, key=spec.key))
    status = await sim.driver.status(spec.key)
    assert (status.power_state, status.image_urn) == (PowerState.STOPPED, good.urn)


async def test_an_image_whose_extensions_fail_reports_them_failed(sim: Sim) -> None:
    extensions = (ExtensionSpec("a", "P", "T"), ExtensionSpec("b", "P", "T"))
    spec = sim.spec(await sim.image("1", extensionsFail=True), extensions=extensions)
    await sim.driver.create(spec)
    assert [e.state for e in (await sim.driver.status(spec.key)).extensions] == [ExtensionState.FAILED] * 2


async def test_a_stop_during_start_wins(sim: Sim) -> None:
    spec = sim.spec(await sim.image("1"))
    await sim.driver.create(spec)
    await sim.driver.stop(spec.key)
    starting = asyncio.create_task(sim.driver.start(spec.key))
    await asyncio.sleep(0)
    await sim.driver.stop(spec.key)
    await starting
    assert (await sim.driver.status(spec.key)).power_state is PowerState.STOPPED


async def test_data_disks_are_per_lun(sim: Sim) -> None:
    spec = sim.spec(await sim.image("1"), data_disk_luns=(0,))
    await sim.driver.create(spec)
    sim.driver.data_disk(spec.key, 0)["file"] = "x"
    assert sim.driver.data_disk(spec.key, 0) == {"file": "x"}
    with pytest.raises(DriverError, match="lun 3"):
        sim.driver.data_disk(spec.key, 3)


async def test_a_new_driver_on_the_same_root_adopts_the_machines(tmp_path: Path) -> None:
    first = Sim(tmp_path, root=tmp_path / "state")
    extension = ExtensionSpec("e", "P", "T", settings={"a": 1}, protected_settings={"pw": "s3cret"})
    spec = first.spec(await first.image("1"), data_disk_luns=(0,), custom_data=b"hi", extensions=(extension,))
    await first.driver.create(spec)
    first.driver.data_disk(spec.key, 0)["file"] = "kept"
    first.driver.inject(spec.key, healthy=False)
    await first.driver.close()
    assert "s3cret" not in (tmp_path / "state" / "machines.json").read_text()

    second = SimDriver(VirtualClock(), root=tmp_path / "state")
    status = await second.status(spec.key)
    assert (status.power_state, status.image_urn) == (PowerState.RUNNING, spec.image.urn)
    assert [e.state for e in status.extensions] == [ExtensionState.SUCCEEDED]
    assert await second.endpoint(spec.key, 80) == (spec.private_ip, 80)
    assert second.data_disk(spec.key, 0) == {"file": "kept"}
    assert second.healthy(spec.key) is False
    await second.stop(spec.key)
    assert (await second.status(spec.key)).power_state is PowerState.STOPPED


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("not json", "JSON document"),
        ("[1, 2]", "JSON object"),
        ('{"bootSeconds": -1}', "at least 0"),
        ('{"bootSeconds": "30"}', "number"),
        ('{"bootSeconds": true}', "number"),
        ('{"healthy": "yes"}', "true or false"),
        ('{"bootSecond": 3}', "unknown sim image keys bootSecond"),
    ],
)
async def test_bad_sim_images_are_refused(sim: Sim, content: str, complaint: str) -> None:
    upload = sim.tmp_path / "bad.json"
    upload.write_text(content)
    with pytest.raises(InvalidArtifact, match=complaint):
        await sim.driver.install_image(upload, sim.tmp_path / "dest")


async def test_a_directory_is_not_a_sim_image(sim: Sim) -> None:
    with pytest.raises(InvalidArtifact, match="json file"):
        await sim.driver.install_image(sim.tmp_path, sim.tmp_path / "dest")


async def test_an_installed_sim_image_is_normalized_json(sim: Sim) -> None:
    upload = sim.tmp_path / "img.json"
    upload.write_text('{"bootSeconds": 2}')
    await sim.driver.install_image(upload, sim.tmp_path / "dest")
    document = json.loads((sim.tmp_path / "dest" / "image.json").read_text())
    assert document == {"bootSeconds": 2.0, "reimageSeconds": 60.0, "warmupSeconds": 0.0, "healthy": True,
                        "failCreate": False, "failReimage": False, "extensionsFail": False}  # fmt: skip


async def test_it_reports_each_change_of_a_machine_to_its_watchers_until_they_stop(sim: Sim) -> None:
    reported: list[str] = []
    unwatch = sim.driver.watch(reported.append)
    spec = sim.spec(await sim.image("1"))
    await sim.driver.create(spec)
    assert reported == [spec.key, spec.key]  # starting, then running
    sim.driver.inject(spec.key, healthy=False)
    await sim.driver.stop(spec.key)
    assert reported == [spec.key] * 4
    unwatch()
    await sim.driver.start(spec.key)
    assert len(reported) == 4


async def test_an_app_warm_at_that_very_instant_is_healthy_or_vouched_for_only_until_then(sim: Sim) -> None:
    # In floating point `now - since >= warmup` and `since + warmup <= now` can disagree (here
    # 0.9666... - 0.6666... is 0.2999...): the app answered unhealthy while the driver vouched that
    # nothing would change, and the health watch never probed it again.
    spec = sim.spec(await sim.image("1", bootSeconds=2 / 3, warmupSeconds=0.3))
    await sim.driver.create(spec)
    await sim.clock.sleep(0.3)
    answer, holds = sim.driver.healthy(spec.key), sim.driver.quiet_until(spec.key)
    await sim.clock.sleep(1)
    assert sim.clock.monotonic() >= holds or sim.driver.healthy(spec.key) == answer


async def test_a_health_answer_holds_until_the_warm_up_ends_then_until_a_change(sim: Sim) -> None:
    spec = sim.spec(await sim.image("1", warmupSeconds=30))
    await sim.driver.create(spec)
    up = sim.clock.monotonic()
    assert sim.driver.quiet_until(spec.key) == up + 30  # unhealthy until warm, then healthy
    await sim.clock.sleep(30)
    assert sim.driver.quiet_until(spec.key) == math.inf  # healthy until something changes it
    sim.driver.inject(spec.key, healthy=False)
    assert sim.driver.quiet_until(spec.key) == math.inf
    assert sim.driver.quiet_until("no-such-machine") == math.inf
