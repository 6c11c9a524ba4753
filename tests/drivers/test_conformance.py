"""The driver contract, proved against every driver in KITS."""

from __future__ import annotations

import dataclasses

import pytest

from scaleset.drivers.base import DriverError, ExtensionSpec, ExtensionState, InstanceStatus, PowerState
from scaleset.drivers.waiting import wait_for_extensions
from scaleset.drivers.fencing import Fenced
from tests.drivers.kits import Kit, urn


async def power(kit: Kit, key: str) -> PowerState:
    return (await kit.driver.status(key)).power_state


async def test_create_starts_the_machine_on_its_image(kit: Kit) -> None:
    spec = kit.spec("1.0.0")
    before = kit.clock.monotonic()
    await kit.driver.create(spec)
    if kit.boot_seconds is not None:
        assert kit.clock.monotonic() - before == kit.boot_seconds
    status = await kit.driver.status(spec.key)
    assert status.power_state is PowerState.RUNNING
    assert status.image_urn == urn("1.0.0")
    if kit.app_version is not None:  # machines with a network: the app answers where the driver says
        assert await kit.app_version(spec.key) == "1.0.0"


async def test_create_twice_is_one_machine(kit: Kit) -> None:
    spec = kit.spec()
    await kit.driver.create(spec)
    await kit.write_disk(spec.key, 0, "kept")
    await kit.driver.create(spec)
    assert await power(kit, spec.key) is PowerState.RUNNING
    assert await kit.read_disk(spec.key, 0) == "kept"


async def test_create_on_a_stopped_machine_starts_it(kit: Kit) -> None:
    spec = kit.spec()
    await kit.driver.create(spec)
    await kit.driver.stop(spec.key)
    await kit.driver.create(spec)
    assert await power(kit, spec.key) is PowerState.RUNNING


async def test_stop_then_start_each_twice(kit: Kit) -> None:
    spec = kit.spec()
    await kit.driver.create(spec)
    for _ in range(2):
        await kit.driver.stop(spec.key)
        assert await power(kit, spec.key) is PowerState.STOPPED
    for _ in range(2):
        await kit.driver.start(spec.key)
        assert await power(kit, spec.key) is PowerState.RUNNING


async def test_deallocate_twice_then_start(kit: Kit) -> None:
    spec = kit.spec()
    await kit.driver.create(spec)
    for _ in range(2):
        await kit.driver.deallocate(spec.key)
        status = await kit.driver.status(spec.key)
        assert status.power_state is PowerState.DEALLOCATED
        assert status.image_urn == urn("1.0.0")
    await kit.driver.start(spec.key)
    assert await power(kit, spec.key) is PowerState.RUNNING


async def test_restart_twice_leaves_it_running(kit: Kit) -> None:
    spec = kit.spec()
    await kit.driver.create(spec)
    for _ in range(2):
        await kit.driver.restart(spec.key)
        assert await power(kit, spec.key) is PowerState.RUNNING


async def test_restart_of_a_stopped_machine_starts_it(kit: Kit) -> None:
    spec = kit.spec()
    await kit.driver.create(spec)
    await kit.driver.stop(spec.key)
    await kit.driver.restart(spec.key)
    assert await power(kit, spec.key) is PowerState.RUNNING


async def test_reimage_to_a_new_version_keeps_data_disks(kit: Kit) -> None:
    spec = kit.spec("1.0.0", luns=(0, 1))
    await kit.driver.create(spec)
    await kit.write_disk(spec.key, 0, "lun0 survives")
    await kit.write_disk(spec.key, 1, "lun1 survives")
    for _ in range(2):
        await kit.driver.reimage(kit.respec(spec, "2.0.0"))
        status = await kit.driver.status(spec.key)
        assert status.power_state is PowerState.RUNNING
        assert status.image_urn == urn("2.0.0")
        assert await kit.read_disk(spec.key, 0) == "lun0 survives"
        assert await kit.read_disk(spec.key, 1) == "lun1 survives"
        if kit.app_version is not None:
            assert await kit.app_version(spec.key) == "2.0.0"


async def test_reimage_of_a_stopped_machine_runs_it(kit: Kit) -> None:
    spec = kit.spec("1.0.0")
    await kit.driver.create(spec)
    await kit.driver.deallocate(spec.key)
    await kit.driver.reimage(kit.respec(spec, "2.0.0"))
    status = await kit.driver.status(spec.key)
    assert (status.power_state, status.image_urn) == (PowerState.RUNNING, urn("2.0.0"))


async def test_delete_twice_leaves_nothing(kit: Kit) -> None:
    spec = kit.spec()
    await kit.driver.create(spec)
    await kit.write_disk(spec.key, 0, "gone with the machine")
    for _ in range(2):
        await kit.driver.delete(spec.key)
        assert await kit.driver.status(spec.key) == InstanceStatus(PowerState.UNKNOWN)
    await kit.driver.create(spec)
    assert await kit.read_disk(spec.key, 0) is None


async def test_unknown_key_is_unknown_and_deleting_it_succeeds(kit: Kit) -> None:
    status = await kit.driver.status("never/made")
    assert (status.power_state, status.image_urn, status.extensions) == (PowerState.UNKNOWN, None, ())
    await kit.driver.delete("never/made")


@pytest.mark.parametrize("call", ["start", "stop", "deallocate", "restart"])
async def test_power_calls_on_an_unknown_key_raise(kit: Kit, call: str) -> None:
    with pytest.raises(DriverError):
        await getattr(kit.driver, call)("never/made")


async def test_reimage_of_an_unknown_key_raises(kit: Kit) -> None:
    with pytest.raises(DriverError):
        await kit.driver.reimage(kit.spec())


async def test_extensions_are_reported_in_model_order(kit: Kit) -> None:
    extensions = (
        ExtensionSpec("health", "Microsoft.ManagedServices", "ApplicationHealthLinux", "1.0",
                      settings={"protocol": "http", "port": 8080, "requestPath": "/"}),
        ExtensionSpec("other", "Example.Publisher", "SomethingElse", "2.1"),
    )  # fmt: skip
    spec = kit.spec(extensions=extensions)
    await kit.driver.create(spec)
    status = await wait_for_extensions(kit.driver, spec.key, timeout=kit.settle_seconds, clock=kit.clock)
    assert [(e.name, e.state) for e in status.extensions] == [
        ("health", ExtensionState.SUCCEEDED),
        ("other", ExtensionState.SUCCEEDED),
    ]
    # A plain start keeps what provisioning reported.
    await kit.driver.restart(spec.key)
    assert [e.state for e in (await kit.driver.status(spec.key)).extensions] == [ExtensionState.SUCCEEDED] * 2


async def test_stop_leaves_a_deallocated_machine_deallocated(kit: Kit) -> None:
    spec = kit.spec()
    await kit.driver.create(spec)
    await kit.driver.deallocate(spec.key)
    await kit.driver.stop(spec.key)
    assert await power(kit, spec.key) is PowerState.DEALLOCATED


async def test_a_reimage_of_a_generation_already_done_is_not_done_again(kit: Kit) -> None:
    spec = kit.spec("1.0.0")
    await kit.driver.create(spec)
    await kit.driver.reimage(dataclasses.replace(kit.respec(spec, "2.0.0"), generation=7))
    # The same generation again (a caller resuming after a crash) changes nothing, whatever it asks for.
    await kit.driver.reimage(dataclasses.replace(kit.respec(spec, "1.0.0"), generation=7))
    status = await kit.driver.status(spec.key)
    assert (status.power_state, status.image_urn) == (PowerState.RUNNING, urn("2.0.0"))
    # A new generation is a new reimage.
    await kit.driver.reimage(dataclasses.replace(kit.respec(spec, "1.0.0"), generation=8))
    assert (await kit.driver.status(spec.key)).image_urn == urn("1.0.0")


async def test_a_call_with_an_older_fencing_token_is_refused_and_changes_nothing(kit: Kit) -> None:
    spec = kit.spec("1.0.0")
    await kit.driver.create(spec, fence=5)
    await kit.driver.reimage(kit.respec(spec, "2.0.0"), fence=6)  # the replica that took the lease over
    for stale in (kit.driver.stop(spec.key, fence=5), kit.driver.delete(spec.key, fence=5),
                  kit.driver.reimage(dataclasses.replace(spec, generation=99), fence=5)):
        with pytest.raises(Fenced, match="fencing token 5"):
            await stale
    status = await kit.driver.status(spec.key)
    assert status.image_urn == urn("2.0.0")
    assert await power(kit, spec.key) is PowerState.RUNNING
    await kit.driver.stop(spec.key, fence=6)  # the holder goes on
    assert await power(kit, spec.key) is PowerState.STOPPED
