"""The qemu driver: a machine is a QEMU virtual machine, its OS disk a qcow2 overlay on the image.

Each VM lives in `<root>/<key>/` (see `VmDir`). QEMU runs daemonized, so VMs outlive the server;
everything needed to act on one again is in its directory (the spec, the pid with its start time,
the forwarded ports) and its QMP socket, so a new driver on the same root adopts every VM.

- Reimage = graceful stop, a new overlay on the target image's base, start: data disks (raw ext4
  images made on the host, labelled `data<lun>`) stay. Provisioning (custom data, extensions) runs
  again because the image runs `opt/scaleset/provision` once per OS disk (`guest_provision`).
- Stop = ACPI power button (`system_powerdown`), then `quit` after `stop_timeout`, then SIGKILL.
- Ports: each guest port anyone asks for (a health probe, the app) is forwarded from a host port
  on 127.0.0.1 chosen at random; `endpoint()` adds a forward to a running VM on first use.
- At most `max_booting` VMs boot at once: under TCG a boot is CPU-bound, and a large batch
  started together would make every VM in it miss its health deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from scaleset.drivers import procfs
from scaleset.drivers.base import (
    AcceptCheck,
    DriverError,
    ExtensionState,
    ExtensionStatus,
    InstanceSpec,
    InstanceStatus,
    PowerState,
)
from scaleset.drivers.guest_extensions import settle_interrupted
from scaleset.drivers.guest_provision import provision_script, read_reports
from scaleset.drivers.local_machines import LocalMachineDriver, is_running, remove_every_machine, wait_gone
from scaleset.drivers.machine_dir import read_json, write_json_atomic
from scaleset.drivers.qemu_command import FORWARD_FAILED, established, free_port, qemu_command
from scaleset.drivers.qmp import QmpError, human, qmp
from scaleset.drivers.spec_json import spec_to_document
from scaleset.drivers.vm_files import VmDir, make_data_disk, read_text, run_tool, secret_files, write_seed
from scaleset.drivers.vm_host import Sizing, accel_args
from scaleset.drivers.vm_image import VmImage, install_vm_image

class QemuDriver(LocalMachineDriver):
    """Machines as QEMU VMs under `root`.

    `stop_timeout`: seconds from the ACPI power button to a hard `quit`. `boot_timeout`: how long a
    boot holds its slot among `max_booting` when the image never says it is ready (images that do
    not speak our status channel, such as stock cloud images). `data_disk_mib`: the size of a new
    data disk (sparse).
    """

    name = "qemu"
    reached_at_private_ip = False  # but at a port slirp forwards on 127.0.0.1

    def __init__(
        self,
        root: Path,
        *,
        qemu: str = "qemu-system-x86_64",
        qemu_img: str = "qemu-img",
        accel: str = "auto",
        sizing: Sizing | None = None,
        max_booting: int | None = None,
        stop_timeout: float = 30.0,
        boot_timeout: float = 60.0,
        data_disk_mib: int = 256,
        extension_timeout: float = 1800.0,
        custom_data_timeout: float = 600.0,
        download_timeout: float = 60.0,
    ) -> None:
        super().__init__(root, stop_timeout=stop_timeout, custom_data_timeout=custom_data_timeout,
                         extension_timeout=extension_timeout, download_timeout=download_timeout)
        self.qemu = qemu
        self.qemu_img = qemu_img
        self.accel = accel_args(accel)
        self.sizing = sizing or Sizing()
        self.max_booting = max_booting or 2 * (os.cpu_count() or 1)
        self.boot_timeout = boot_timeout
        self.data_disk_mib = data_disk_mib
        self._booting = asyncio.Semaphore(self.max_booting)
        self._boot_watches: set[asyncio.Task[None]] = set()

    # -- the contract

    async def install_image(self, upload: Path, dest: Path) -> None:
        await asyncio.to_thread(install_vm_image, upload, dest, qemu_img=self.qemu_img)

    async def delete(self, key: str, *, fence: int = 0) -> None:
        async with self._lock(key, fence):
            vm = self._machine(key)
            if not vm.path.exists():
                return
            await self._power_off(vm, graceful=False)  # its disks go too: nothing to shut down cleanly for
            await asyncio.to_thread(shutil.rmtree, vm.path, True)
            vm.qmp_socket.unlink(missing_ok=True)

    async def status(self, key: str) -> InstanceStatus:
        # Small files and /proc only: cheap enough to read on the event loop.
        return _read_status(self._machine(key))

    async def endpoint(self, key: str, port: int) -> tuple[str, int]:
        vm = self._machine(key)
        state = read_json(vm.state) or {}
        forwarded = (state.get("ports") or {}).get(str(port))
        if forwarded:
            return "127.0.0.1", int(forwarded)
        if read_json(vm.spec) is None:
            raise DriverError(f"no machine {key!r}")
        if not is_running(state):
            raise DriverError(f"machine {key!r} is not running, so its port {port} is not forwarded")
        async with self._lock(key):
            return "127.0.0.1", await self._forward(vm, port)

    def tcp_accept_check(self, key: str, port: int) -> AcceptCheck:
        """Through slirp, connecting to a forwarded port succeeds as soon as QEMU listens, even
        while the guest boots; slirp lists a connection from that host port to the guest as
        ESTABLISHED only once the guest itself accepted it. Slirp connects to the guest after our
        connect returned, so look a few times before saying no."""
        vm = self._machine(key)

        async def accepted() -> bool:
            forwarded = ((read_json(vm.state) or {}).get("ports") or {}).get(str(port))
            for _ in range(10):
                try:
                    table = await human(vm.qmp_socket, "info usernet", timeout=2.0)
                except QmpError:
                    return False
                if forwarded and established(table, port, int(forwarded)):
                    return True
                await asyncio.sleep(0.05)
            return False

        return accepted

    async def close(self) -> None:
        for watch in list(self._boot_watches):
            watch.cancel()
        await super().close()

    def _machine(self, key: str) -> VmDir:
        return VmDir.for_key(self.root, key)

    # -- lifecycle

    async def _provision(self, vm: VmDir, spec: InstanceSpec) -> None:
        try:
            image = VmImage.load(spec.image.path)
        except Exception as error:  # noqa: BLE001 - any unreadable image is the same failure to the caller
            raise DriverError(f"image {spec.image.urn} is not installed at {spec.image.path}: {error}") from None
        await self._power_off(vm)
        script = await asyncio.to_thread(
            provision_script, spec.extensions, extension_timeout=self.extension_timeout,
            custom_data_timeout=self.custom_data_timeout, download_timeout=self.download_timeout,
        )  # fmt: skip
        await asyncio.to_thread(self._lay_down, vm, spec, image)
        secrets = {"provision": script}
        if spec.custom_data is not None:
            secrets["customdata"] = spec.custom_data
        await self._launch(vm, secrets=secrets)
        vm.provision_pending.unlink(missing_ok=True)

    def _lay_down(self, vm: VmDir, spec: InstanceSpec, image: VmImage) -> None:
        """A fresh overlay on the image's base, data disks made if missing, the seed and spec; blocking."""
        vm.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        vm.provision_pending.touch()
        vm.logs.mkdir(exist_ok=True)
        (vm.path / "data").mkdir(exist_ok=True)
        for lun in spec.data_disk_luns:
            if not vm.data_disk(lun).exists():
                make_data_disk(vm.data_disk(lun), lun, self.data_disk_mib)
        fresh = vm.path / "os.new.qcow2"
        fresh.unlink(missing_ok=True)
        run_tool([self.qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.base.resolve()), str(fresh)])
        fresh.replace(vm.os_disk)
        write_seed(vm.seed, spec)
        # A new OS disk starts a new conversation on the status channel.
        vm.status_channel.unlink(missing_ok=True)
        vm.deallocated.unlink(missing_ok=True)
        write_json_atomic(vm.spec, spec_to_document(spec))

    async def _ensure_started(self, vm: VmDir) -> None:
        if is_running(read_json(vm.state)):
            return
        vm.deallocated.unlink(missing_ok=True)
        await self._launch(vm, secrets={})

    async def _launch(self, vm: VmDir, *, secrets: dict[str, bytes]) -> None:
        """Start QEMU on the VM's disks; `secrets` are fw_cfg files that exist only until it has read them."""
        spec = read_json(vm.spec)
        image = VmImage.load(Path(spec["image"]["path"]))
        state = read_json(vm.state) or {}
        # The ports forwarded before (a restart keeps them where it can) and those the spec needs.
        wanted = {int(p): 0 for p in spec.get("ports") or ()} | {int(p): int(h) for p, h in (state.get("ports") or {}).items()}
        vcpus, memory = self.sizing.of(spec.get("sku") or "")
        vm.qmp_socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        vm.qmp_socket.unlink(missing_ok=True)
        vm.pidfile.unlink(missing_ok=True)
        ready_before = read_reports(read_text(vm.status_channel))[1]
        await self._booting.acquire()
        try:
            for attempt in range(5):
                ports = {guest: (host if attempt == 0 and host else free_port()) for guest, host in wanted.items()}
                with secret_files(vm.path, secrets) as files:
                    argv = qemu_command(self.qemu, self.accel, vm, spec, image, vcpus=vcpus, memory=memory, ports=ports, files=files)
                    done = await asyncio.to_thread(
                        subprocess.run, argv, cwd=vm.path, capture_output=True, text=True, timeout=60, check=False
                    )
                if done.returncode == 0:
                    break
                if FORWARD_FAILED not in done.stderr:
                    raise DriverError(f"{vm.path.name}: QEMU did not start: {done.stderr.strip() or done.returncode}")
            else:
                raise DriverError(f"{vm.path.name}: QEMU could not forward its ports: {done.stderr.strip()}")
            pid = int(vm.pidfile.read_text().strip())
            info = procfs.proc_info(pid)
            write_json_atomic(vm.state, {
                "pid": pid, "start_time": info.start_time if info else None,
                "ports": {str(g): h for g, h in ports.items()}, "vcpus": vcpus, "memory_mib": memory,
            })  # fmt: skip
        except BaseException:
            self._booting.release()
            raise
        watch = asyncio.create_task(self._release_when_booted(vm, ready_before))
        self._boot_watches.add(watch)
        watch.add_done_callback(self._boot_watches.discard)

    async def _release_when_booted(self, vm: VmDir, ready_before: int) -> None:
        """Hold a boot slot until the guest says it is ready, dies, or `boot_timeout` passes."""
        try:
            deadline = time.monotonic() + self.boot_timeout
            while time.monotonic() < deadline:
                if read_reports(read_text(vm.status_channel))[1] > ready_before or not is_running(read_json(vm.state)):
                    return
                await asyncio.sleep(0.1)
        finally:
            self._booting.release()

    async def _forward(self, vm: VmDir, port: int) -> int:
        """Forward a new host port to the running VM's guest `port`; the caller holds the VM's lock."""
        state = read_json(vm.state) or {}
        ports = dict(state.get("ports") or {})
        if str(port) in ports:
            return int(ports[str(port)])
        for _ in range(5):
            host = free_port()
            try:
                answer = await human(vm.qmp_socket, f"hostfwd_add n0 tcp:127.0.0.1:{host}-:{port}")
            except QmpError as error:
                raise DriverError(f"{vm.path.name}: cannot forward port {port}: {error}") from None
            if not answer.strip():  # silence is success; a message means the host port was taken
                ports[str(port)] = host
                write_json_atomic(vm.state, {**state, "ports": ports})
                return host
        raise DriverError(f"{vm.path.name}: cannot forward port {port}: {answer.strip()}")

    async def _power_off(self, vm: VmDir, *, graceful: bool = True) -> None:
        """Power button, then `quit`, then SIGKILL; a no-op when QEMU does not run."""
        state = read_json(vm.state) or {}
        if not is_running(state):
            return
        pid, start_time = state["pid"], state["start_time"]
        if graceful:
            # Pressed again every two seconds: a guest still booting has nothing listening for the
            # button yet, and ACPI does not keep the press for later.
            deadline = time.monotonic() + self.stop_timeout
            while time.monotonic() < deadline:
                with contextlib.suppress(QmpError):
                    await qmp(vm.qmp_socket, "system_powerdown")
                if await wait_gone(pid, start_time, min(2.0, max(0.0, deadline - time.monotonic()))):
                    return
        with contextlib.suppress(QmpError):
            await qmp(vm.qmp_socket, "quit", timeout=2.0)
        if not await wait_gone(pid, start_time, 5.0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            await wait_gone(pid, start_time, 5.0)


def remove_all(root: Path) -> None:
    """Stop and delete every VM under `root` (VMs outlive servers: demos and tests clean up)."""
    remove_every_machine(QemuDriver(root, accel="tcg"))


def forwarded_ports(root: Path) -> dict[str, dict[int, int]]:
    """Each VM's forwarded ports under `root`, by computer name: {guest port: host port on 127.0.0.1}.

    For operators and demos on the server's host: how to reach an app inside a VM.
    """
    found: dict[str, dict[int, int]] = {}
    for path in sorted(root.iterdir()) if root.is_dir() else ():
        vm = VmDir(path)
        spec, state = read_json(vm.spec), read_json(vm.state)
        if spec and state and is_running(state):
            found[spec["computer_name"]] = {int(g): int(h) for g, h in (state.get("ports") or {}).items()}
    return found


def _read_status(vm: VmDir) -> InstanceStatus:
    spec = read_json(vm.spec)
    if spec is None:
        return InstanceStatus(PowerState.UNKNOWN)
    reports = read_reports(read_text(vm.status_channel))[0]
    extensions = [
        {"name": e["name"], "state": reports[e["name"]].state.value, "message": reports[e["name"]].message}
        if e["name"] in reports else {"name": e["name"], "state": ExtensionState.TRANSITIONING.value}
        for e in spec["extensions"]
    ]
    if vm.provision_pending.exists():
        power = PowerState.STARTING
    elif is_running(read_json(vm.state)):
        power = PowerState.RUNNING
    else:
        # Nothing runs the extensions any more: whatever was under way failed.
        extensions = settle_interrupted(extensions)
        power = PowerState.DEALLOCATED if vm.deallocated.exists() else PowerState.STOPPED
    return InstanceStatus(
        power,
        spec["image"]["urn"],
        tuple(ExtensionStatus(e["name"], ExtensionState(e["state"]), e.get("message", "")) for e in extensions),
    )


