"""The process driver with real processes and sockets: serving, power, adoption, outliving."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scaleset.drivers import procfs
from scaleset.drivers.base import DriverError, ImageArtifact, PowerState
from scaleset.drivers.machine_dir import MachineDir, read_json
from scaleset.drivers.process import ProcessDriver
from tests.drivers.kits import Kit, app_refuses, get_app_state, next_private_ip, urn


async def wait_power(kit: Kit, key: str, power: PowerState, *, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while (current := (await kit.driver.status(key)).power_state) is not power:
        assert time.monotonic() < deadline, f"still {current}, wanted {power}"
        await asyncio.sleep(0.02)


async def test_a_machine_serves_http_on_its_private_ip_from_its_os_disk(pkit: Kit) -> None:
    spec = pkit.spec("1.0.0")
    await pkit.driver.create(spec)
    state = await get_app_state(spec.private_ip)
    assert state["version"] == "1.0.0"
    assert state["cwd"] == str(MachineDir.for_key(pkit.driver.root, spec.key).os_disk)
    assert state["env"] == {
        "SCALESET_INSTANCE_ID": spec.instance_id,
        "SCALESET_COMPUTER_NAME": spec.computer_name,
        "SCALESET_PRIVATE_IP": spec.private_ip,
        "SCALESET_IMAGE": urn("1.0.0"),
        "SCALESET_DATA_DISK_0": str(MachineDir.for_key(pkit.driver.root, spec.key).data_disk(0)),
    }


async def test_reimage_serves_the_new_version_from_a_fresh_os_disk(pkit: Kit) -> None:
    spec = pkit.spec("1.0.0")
    await pkit.driver.create(spec)
    await get_app_state(spec.private_ip)
    os_disk = MachineDir.for_key(pkit.driver.root, spec.key).os_disk
    (os_disk / "scribble").write_text("written under 1.0.0")
    await pkit.driver.reimage(pkit.respec(spec, "2.0.0"))
    assert (await get_app_state(spec.private_ip))["version"] == "2.0.0"
    assert not (os_disk / "scribble").exists()


async def test_stop_closes_the_port_and_start_opens_it(pkit: Kit) -> None:
    spec = pkit.spec()
    await pkit.driver.create(spec)
    first = await get_app_state(spec.private_ip)
    await pkit.driver.stop(spec.key)
    assert await app_refuses(spec.private_ip)
    assert procfs.proc_info(first["pid"]) is None or procfs.proc_info(first["pid"]).gone
    await pkit.driver.start(spec.key)
    assert (await get_app_state(spec.private_ip))["pid"] != first["pid"]


async def test_power_follows_boot_when_it_is_killed_from_outside(pkit: Kit) -> None:
    spec = pkit.spec()
    await pkit.driver.create(spec)
    os.kill((await get_app_state(spec.private_ip))["pid"], signal.SIGKILL)
    await wait_power(pkit, spec.key, PowerState.STOPPED)
    await pkit.driver.start(spec.key)
    assert (await pkit.driver.status(spec.key)).power_state is PowerState.RUNNING
    await get_app_state(spec.private_ip)


async def test_a_boot_that_cannot_run_fails_create(pkit: Kit, tmp_path: Path) -> None:
    upload = tmp_path / "broken"
    upload.mkdir()
    (upload / "boot").write_text("#!/nonexistent/interpreter\n")
    (upload / "boot").chmod(0o755)
    await pkit.driver.install_image(upload, tmp_path / "images" / "broken")
    pkit.images["broken"] = ImageArtifact("a:b:c:broken", tmp_path / "images" / "broken")
    spec = pkit.spec("broken")
    with pytest.raises(DriverError, match="cannot start boot"):
        await pkit.driver.create(spec)
    assert (await pkit.driver.status(spec.key)).power_state is PowerState.STOPPED


async def test_a_new_driver_on_the_same_root_adopts_the_machine(pkit: Kit) -> None:
    spec = pkit.spec()
    await pkit.driver.create(spec)
    adopter = ProcessDriver(pkit.driver.root, stop_timeout=2.0)
    status = await adopter.status(spec.key)
    assert (status.power_state, status.image_urn) == (PowerState.RUNNING, urn("1.0.0"))
    assert await adopter.endpoint(spec.key, 80) == (spec.private_ip, 80)
    await adopter.stop(spec.key)
    assert await app_refuses(spec.private_ip)
    await adopter.start(spec.key)
    await get_app_state(spec.private_ip)
    await adopter.delete(spec.key)
    assert (await pkit.driver.status(spec.key)).power_state is PowerState.UNKNOWN
    assert await app_refuses(spec.private_ip)


async def test_a_killed_supervisor_leaves_a_machine_stop_still_reaches(pkit: Kit) -> None:
    spec = pkit.spec()
    await pkit.driver.create(spec)
    app = await get_app_state(spec.private_ip)
    supervisor = read_json(MachineDir.for_key(pkit.driver.root, spec.key).status)["supervisor"]
    os.kill(supervisor["pid"], signal.SIGKILL)
    assert (await pkit.driver.status(spec.key)).power_state is PowerState.RUNNING  # boot still runs
    await pkit.driver.stop(spec.key)
    assert (await pkit.driver.status(spec.key)).power_state is PowerState.STOPPED
    assert procfs.proc_info(app["pid"]) is None or procfs.proc_info(app["pid"]).gone


async def test_a_recorded_pid_reused_by_another_process_is_not_the_machine(pkit: Kit) -> None:
    spec = pkit.spec()
    await pkit.driver.create(spec)
    await pkit.driver.stop(spec.key)
    # Point the record at a live process that is not the supervisor: our own PID, wrong start time.
    machine = MachineDir.for_key(pkit.driver.root, spec.key)
    status = read_json(machine.status)
    me = procfs.proc_info(os.getpid())
    status["supervisor"].update(pid=me.pid, start_time=me.start_time - 1)
    status["boot"].update(pid=me.pid, start_time=me.start_time - 1)
    status["power"] = "running"
    machine.status.write_text(json.dumps(status))
    assert (await pkit.driver.status(spec.key)).power_state is PowerState.STOPPED
    await pkit.driver.stop(spec.key)  # and nothing here gets a signal


_CREATOR = """
import asyncio, sys, time
from pathlib import Path
from scaleset.drivers.base import ImageArtifact, InstanceSpec
from scaleset.drivers.process import ProcessDriver

root, image, urn, ip = sys.argv[1:]
spec = InstanceSpec("outlived", "0", "vm0", ip, ImageArtifact(urn, Path(image)))
asyncio.run(ProcessDriver(Path(root)).create(spec))
print("created", flush=True)
time.sleep(60)
"""


async def test_machines_outlive_a_server_killed_with_sigkill(pkit: Kit) -> None:
    ip = next_private_ip()
    pkit.keys.append("outlived")  # so the fixture deletes it whatever happens
    server = subprocess.Popen(
        [sys.executable, "-c", _CREATOR, str(pkit.driver.root), str(pkit.images["1.0.0"].path), urn("1.0.0"), ip],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert await asyncio.to_thread(server.stdout.readline) == "created\n"
    finally:
        server.kill()  # SIGKILL: no cleanup of any kind in the server
        server.wait()
        server.stdout.close()
    assert (await get_app_state(ip))["version"] == "1.0.0"
    adopter = ProcessDriver(pkit.driver.root, stop_timeout=2.0)
    assert (await adopter.status("outlived")).power_state is PowerState.RUNNING
    await adopter.delete("outlived")
    assert await app_refuses(ip)


def test_create_returns_on_uvloop_whose_children_inherit_every_descriptor(tmp_path: Path) -> None:
    """`scaleset serve` runs on uvloop, which does not close descriptors for the processes it
    spawns: the supervisor must drop them, or the driver waits for ever on its stdout pipe."""
    import uvloop

    from tests.drivers.kits import process_kit

    async def create_one() -> PowerState:
        kit = await process_kit(tmp_path)
        try:
            spec = kit.spec()
            await asyncio.wait_for(kit.driver.create(spec), 15)
            return (await kit.driver.status(spec.key)).power_state
        finally:
            await kit.cleanup()

    assert uvloop.run(create_one()) is PowerState.RUNNING
