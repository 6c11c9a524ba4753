"""What only the qemu driver does: real VMs (TCG), fw_cfg provisioning, QMP, forwarded ports,
adoption by a new server, the boot limit, and the image artifacts it accepts."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from scaleset.drivers.base import DriverError, ExtensionSpec, ExtensionState, InvalidArtifact, PowerState
from scaleset.drivers.machine_dir import read_json
from scaleset.drivers.qemu import QemuDriver
from scaleset.drivers.vm_files import VmDir
from scaleset.drivers.vm_host import Sizing, accel_args, kvm_usable
from scaleset.drivers.vm_image import VmImage, install_vm_image
from scaleset.drivers.waiting import wait_for_extensions
from scaleset.health.probe_spec import ProbeSpec
from scaleset.health.probing import probe_once
from tests.drivers.kits import Kit, guest_request
from tests.vm_images import tiny_images

SECRET = "s3cret-from-protected-settings"


def vm_dir(kit: Kit, key: str) -> VmDir:
    assert isinstance(kit.driver, QemuDriver)
    return VmDir.for_key(kit.driver.root, key)


async def until(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def test_custom_data_extensions_and_hostname_reach_the_guest_and_secrets_stay_off_the_host(qkit: Kit) -> None:
    extensions = (
        ExtensionSpec("script", "Microsoft.Azure.Extensions", "CustomScript", "2.1",
                      protected_settings={"commandToExecute":
                                          f": {SECRET}; printf '%s|%s' \"$(hostname)\" \"$(cat /tmp/cd)\" > /data/0/marker"}),
        ExtensionSpec("failing", "Microsoft.Azure.Extensions", "CustomScript", "2.1",
                      settings={"commandToExecute": "echo about to fail; exit 3"}, provision_after=("script",)),
        ExtensionSpec("health", "Microsoft.ManagedServices", "ApplicationHealthLinux", "1.0", settings={"port": 80}),
    )  # fmt: skip
    spec = qkit.spec(custom_data=b"#!/bin/sh\necho -n custom-data-ran > /tmp/cd\n", extensions=extensions)
    await qkit.driver.create(spec)
    status = await wait_for_extensions(qkit.driver, spec.key, timeout=qkit.settle_seconds)
    states = {e.name: (e.state, e.message) for e in status.extensions}
    assert states["script"][0] is ExtensionState.SUCCEEDED
    assert states["failing"] == (ExtensionState.FAILED, "command exited with code 3: about to fail")
    assert states["health"][0] is ExtensionState.SUCCEEDED
    assert await qkit.read_disk(spec.key, 0) == f"{spec.computer_name}|custom-data-ran"
    # The protected command reached the guest through fw_cfg only: nothing the host keeps holds it
    # (the guest's own OS disk is the guest's business).
    vm = vm_dir(qkit, spec.key)
    for path in vm.path.rglob("*"):
        if path.is_file() and path != vm.os_disk:
            assert SECRET.encode() not in path.read_bytes(), path

    # A reboot of the same OS disk does not provision again; a reimage does.
    await qkit.write_disk(spec.key, 0, "before restart")
    await qkit.driver.restart(spec.key)
    assert await qkit.read_disk(spec.key, 0) == "before restart"
    await qkit.driver.reimage(qkit.respec(spec, "2.0.0"))
    await wait_for_extensions(qkit.driver, spec.key, timeout=qkit.settle_seconds)
    assert (await qkit.read_disk(spec.key, 0)).startswith(spec.computer_name)


async def test_a_killed_qemu_is_stopped_and_starts_again_on_the_same_disks(qkit: Kit) -> None:
    spec = qkit.spec()
    await qkit.driver.create(spec)
    await qkit.write_disk(spec.key, 0, "kept")
    os.kill(read_json(vm_dir(qkit, spec.key).state)["pid"], signal.SIGKILL)
    await until(lambda: _power_is(qkit, spec.key, PowerState.STOPPED), timeout=10)
    with pytest.raises(DriverError, match="not running"):
        await qkit.driver.endpoint(spec.key, 81)
    await qkit.driver.start(spec.key)
    assert await qkit.read_disk(spec.key, 0) == "kept"


async def test_a_guest_that_ignores_the_power_button_is_quit_after_the_stop_timeout(qkit: Kit) -> None:
    impatient = QemuDriver(qkit.driver.root, accel="tcg", sizing=Sizing("tiny"), stop_timeout=0.5)
    spec = qkit.spec()
    await impatient.create(spec)  # returns at launch: the guest has no ACPI handler for a while yet
    started = asyncio.get_running_loop().time()
    await impatient.stop(spec.key)
    assert (await impatient.status(spec.key)).power_state is PowerState.STOPPED
    assert asyncio.get_running_loop().time() - started < 5.0
    assert "scaleset-ready" not in vm_dir(qkit, spec.key).status_channel.read_text()


async def test_a_reused_pid_counts_as_stopped(qkit: Kit) -> None:
    spec = qkit.spec()
    await qkit.driver.create(spec)
    vm = vm_dir(qkit, spec.key)
    await qkit.driver.stop(spec.key)
    state = read_json(vm.state)
    # Our own PID is alive, but it is not the QEMU that was recorded (its start time differs).
    vm.state.write_text(json.dumps({**state, "pid": os.getpid()}))
    assert (await qkit.driver.status(spec.key)).power_state is PowerState.STOPPED


async def test_a_new_driver_adopts_running_vms_through_their_pidfile_and_qmp_socket(qkit: Kit) -> None:
    spec = qkit.spec()
    await qkit.driver.create(spec)
    address = await qkit.driver.endpoint(spec.key, 80)
    adopter = QemuDriver(qkit.driver.root, accel="tcg", sizing=Sizing("tiny"), stop_timeout=15)
    assert (await adopter.status(spec.key)).power_state is PowerState.RUNNING
    assert await adopter.endpoint(spec.key, 80) == address
    await adopter.stop(spec.key)
    assert (await qkit.driver.status(spec.key)).power_state is PowerState.STOPPED


async def test_a_tcp_probe_is_healthy_only_once_the_guest_itself_accepts(qkit: Kit) -> None:
    spec = qkit.spec()
    await qkit.driver.create(spec)
    tcp80, tcp81 = ProbeSpec("tcp", 80), ProbeSpec("tcp", 81)
    # Right after launch the guest is still booting, yet QEMU already listens on the forwarded port.
    host, port = await qkit.driver.endpoint(spec.key, 80)
    assert (await probe_once(host, tcp80, port=port)).ok, "slirp accepts on the guest's behalf"
    booting = await qkit.driver.probe(spec.key, tcp80)
    assert not booting.ok and "did not accept" in (booting.error or "")
    await guest_request(qkit.driver, spec.key, "GET", "/health")
    assert (await qkit.driver.probe(spec.key, tcp80)).ok
    closed = await qkit.driver.probe(spec.key, tcp81)  # forwarded on demand; nothing listens on 81
    assert not closed.ok and "did not accept" in (closed.error or "")
    http = await qkit.driver.probe(spec.key, ProbeSpec("http", 80, "/health", rich=True))
    assert http.ok and http.app_state == "Healthy"


async def test_at_most_max_booting_vms_boot_at_once(qkit: Kit) -> None:
    driver = QemuDriver(qkit.driver.root, accel="tcg", sizing=Sizing("tiny"), max_booting=1, stop_timeout=15)
    first, second = qkit.spec(), qkit.spec()
    first_ready = vm_dir(qkit, first.key).status_channel

    async def create_second_after_first_launched() -> bool:
        await asyncio.sleep(0.2)
        await driver.create(second)
        return "scaleset-ready" in first_ready.read_text()

    created, first_had_booted = await asyncio.gather(driver.create(first), create_second_after_first_launched())
    assert first_had_booted, "the second VM launched while the first still booted"
    await driver.close()


async def test_vms_get_the_size_of_their_sku(qkit: Kit) -> None:
    spec = dataclasses.replace(qkit.spec(), sku="Standard_B2s")
    driver = QemuDriver(qkit.driver.root, accel="tcg", sizing=Sizing("tiny", memory_mib=160))
    await driver.create(spec)
    state = read_json(vm_dir(qkit, spec.key).state)
    argv = Path(f"/proc/{state['pid']}/cmdline").read_bytes().split(b"\0")
    assert argv[argv.index(b"-m") + 1] == b"160M" and argv[argv.index(b"-smp") + 1] == b"1"
    assert (Sizing("azure").of("standard_b2s"), Sizing("tiny").of("Standard_DS1_v2")) == ((2, 4096), (1, 128))


async def test_stock_cloud_images_get_a_nocloud_seed(qkit: Kit) -> None:
    spec = qkit.spec(custom_data=b"#cloud-config\nruncmd: [touch /x]\n")
    await qkit.driver.create(spec)
    seed = vm_dir(qkit, spec.key).seed
    assert f"local-hostname: {spec.computer_name}" in (seed / "meta-data").read_text()
    assert (seed / "user-data").read_bytes() == spec.custom_data


@pytest.mark.skipif(not kvm_usable()[0], reason=f"KVM is not usable here: {kvm_usable()[1]}")
async def test_kvm_boots_the_tiny_image(qkit: Kit) -> None:
    driver = QemuDriver(qkit.driver.root, accel="kvm", sizing=Sizing("tiny"))
    spec = qkit.spec()
    await driver.create(spec)
    assert (await guest_request(driver, spec.key, "GET", "/health")).json()["version"] == "v1"


def test_auto_acceleration_is_tcg_unless_kvm_really_works() -> None:
    usable, _ = kvm_usable()
    assert accel_args("auto")[1] == ("kvm" if usable else "tcg,tb-size=32")
    assert accel_args("tcg")[1] == "tcg,tb-size=32"
    with pytest.raises(ValueError, match="auto, kvm, tcg"):
        accel_args("hvf")


# -- image artifacts

def qcow2(path: Path, *, backing: Path | None = None) -> Path:
    command = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        command += ["-F", "qcow2", "-b", str(backing)]
    subprocess.run([*command, str(path), "16M"], check=True)
    return path


@pytest.fixture
def built() -> Path:
    return tiny_images()


def test_a_directory_with_kernel_and_initrd_boots_directly(built: Path, tmp_path: Path) -> None:
    install_vm_image(built / "v1", tmp_path / "installed")
    image = VmImage.load(tmp_path / "installed")
    assert image.kernel is not None and image.initrd is not None
    assert image.cmdline == (built / "v1" / "cmdline").read_text().strip()
    assert not os.access(image.base, os.W_OK) or os.geteuid() == 0
    assert image.base.stat().st_mode & 0o222 == 0


def test_a_lone_qcow2_boots_by_its_own_bootloader(built: Path, tmp_path: Path) -> None:
    install_vm_image(qcow2(tmp_path / "disk.qcow2"), tmp_path / "installed")
    image = VmImage.load(tmp_path / "installed")
    assert (image.kernel, image.initrd) == (None, None)


@pytest.mark.parametrize("case, message", [
    ("raw", "not a qcow2 image"),
    ("backing", "has a backing file"),
    ("initrd-only", "an initrd without a kernel"),
    ("empty-dir", "no os.qcow2"),
    ("two-lines", "cmdline must be a single line"),
])  # fmt: skip
def test_unbootable_artifacts_are_refused_and_leave_nothing(built: Path, tmp_path: Path, case: str, message: str) -> None:
    upload = tmp_path / "upload"
    upload.mkdir()
    if case == "raw":
        (upload / "os.qcow2").write_bytes(b"\0" * 4096)
    elif case == "backing":
        qcow2(upload / "os.qcow2", backing=qcow2(tmp_path / "elsewhere.qcow2"))
    elif case == "initrd-only":
        qcow2(upload / "os.qcow2")
        (upload / "initrd").write_bytes(b"x")
    elif case == "two-lines":
        qcow2(upload / "os.qcow2")
        (upload / "kernel").write_bytes(b"x")
        (upload / "cmdline").write_text("console=ttyS0\ninit=/bin/sh\n")
    dest = tmp_path / "installed"
    with pytest.raises(InvalidArtifact, match=message):
        install_vm_image(upload, dest)
    assert list(dest.iterdir()) == []


async def _power_is(kit: Kit, key: str, power: PowerState) -> bool:
    return (await kit.driver.status(key)).power_state is power



