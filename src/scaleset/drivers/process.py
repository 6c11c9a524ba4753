"""The process driver: a machine is a supervised local process tree, the embedded default.

Each machine lives in `<root>/<key>/` (see `machine_dir`) and runs under its own supervisor
(`supervisor.py`), which outlives the server. The driver keeps nothing in memory that it cannot
read back from that directory and /proc, so a new driver on the same root adopts every machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import scaleset
from scaleset.drivers import procfs
from scaleset.drivers.base import (
    DriverError,
    ExtensionState,
    ExtensionStatus,
    InstanceSpec,
    InstanceStatus,
    PowerState,
)
from scaleset.drivers.boot_artifact import unpack_boot_artifact
from scaleset.drivers.guest_extensions import settle_interrupted
from scaleset.drivers.local_machines import LocalMachineDriver, is_running, remove_every_machine, wait_gone
from scaleset.drivers.machine_dir import MachineDir, read_json, write_json_atomic, write_private
from scaleset.drivers.spec_json import spec_to_document

_PACKAGE_PARENT = str(Path(scaleset.__file__).resolve().parent.parent)


class ProcessDriver(LocalMachineDriver):
    """Machines as local process trees under `root`.

    Timeouts, in seconds: `stop_timeout` from SIGTERM to SIGKILL of a machine's processes;
    `start_timeout` for a supervisor to start boot (custom data runs first, inside it);
    `custom_data_timeout`, `extension_timeout` and `download_timeout` (per file) bound what the
    supervisor runs for provisioning.
    """

    name = "process"

    def __init__(
        self,
        root: Path,
        *,
        stop_timeout: float = 10.0,
        start_timeout: float = 120.0,
        custom_data_timeout: float = 600.0,
        extension_timeout: float = 1800.0,
        download_timeout: float = 60.0,
    ) -> None:
        super().__init__(root, stop_timeout=stop_timeout, custom_data_timeout=custom_data_timeout,
                         extension_timeout=extension_timeout, download_timeout=download_timeout)
        self.start_timeout = start_timeout
        self._endpoints: dict[str, str] = {}

    async def install_image(self, upload: Path, dest: Path) -> None:
        await asyncio.to_thread(unpack_boot_artifact, upload, dest)

    async def delete(self, key: str, *, fence: int = 0) -> None:
        async with self._lock(key, fence):
            machine = self._machine(key)
            if not machine.path.exists():
                return
            await self._power_off(machine)
            await asyncio.to_thread(_remove_tree, machine.path)
            self._endpoints.pop(key, None)

    async def status(self, key: str) -> InstanceStatus:
        # Small files and /proc only: cheap enough to read on the event loop.
        return _read_status(self._machine(key))

    async def endpoint(self, key: str, port: int) -> tuple[str, int]:
        # Each machine has a loopback address of its own: its apps bind their ports there directly.
        if key not in self._endpoints:
            spec = read_json(self._machine(key).spec)
            if spec is None:
                raise DriverError(f"no machine {key!r}")
            self._endpoints[key] = spec["private_ip"]
        return self._endpoints[key], port

    # -- lifecycle

    async def _provision(self, machine: MachineDir, spec: InstanceSpec) -> None:
        if not (spec.image.path / "boot").is_file():
            raise DriverError(f"image {spec.image.urn} is not installed at {spec.image.path}")
        await self._power_off(machine)
        await asyncio.to_thread(_lay_down, machine, spec)
        self._endpoints[spec.key] = spec.private_ip
        protected = {e.name: e.protected_settings for e in spec.extensions if e.protected_settings}
        await self._launch(machine, mode="provision", protected=protected)

    async def _ensure_started(self, machine: MachineDir) -> None:
        power = _read_status(machine).power_state
        if power in (PowerState.RUNNING, PowerState.STARTING):
            return
        await self._power_off(machine)  # a supervisor may still be stopping
        machine.deallocated.unlink(missing_ok=True)
        await self._launch(machine, mode="boot", protected={})

    async def _launch(self, machine: MachineDir, *, mode: str, protected: dict[str, Any]) -> None:
        request = {
            "mode": mode,
            "protected": protected,
            "stop_timeout": self.stop_timeout,
            "custom_data_timeout": self.custom_data_timeout,
            "extension_timeout": self.extension_timeout,
            "download_timeout": self.download_timeout,
        }
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
        machine.logs.mkdir(exist_ok=True)
        log_path = machine.logs / "supervisor.log"
        with open(log_path, "ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "scaleset.drivers.supervisor", str(machine.path),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
                cwd=machine.path, env=env, start_new_session=True,
            )  # fmt: skip
        # Secrets travel on stdin only: the supervisor reads it to the end before anything else.
        try:
            answer, _ = await asyncio.wait_for(proc.communicate(json.dumps(request).encode()), self.start_timeout)
        except TimeoutError:
            raise DriverError(f"{machine.path.name}: boot did not start within {self.start_timeout:g}s") from None
        line = answer.decode("utf-8", "replace").strip()
        if line != "started":
            reason = line.removeprefix("failed: ") or _tail(log_path) or "the supervisor exited"
            raise DriverError(f"{machine.path.name}: boot did not start: {reason}")

    async def _power_off(self, machine: MachineDir) -> None:
        """Stop the supervisor and every process of the machine; a no-op when nothing runs."""
        supervisor = (read_json(machine.status) or {}).get("supervisor")
        if not supervisor:
            return
        pid, start_time = supervisor["pid"], supervisor["start_time"]
        if procfs.is_alive(pid, start_time):
            _kill(pid, signal.SIGTERM)
            if not await wait_gone(pid, start_time, self.stop_timeout + 5.0):
                _kill(pid, signal.SIGKILL)
        # Whatever the supervisor could not stop (or left behind when it was killed).
        await asyncio.to_thread(
            procfs.terminate_session, supervisor["session"], grace=self.stop_timeout, started_since=start_time
        )


def remove_all(root: Path, *, stop_timeout: float = 5.0) -> None:
    """Stop and delete every machine under `root` (machines outlive servers: demos and tests clean up)."""
    remove_every_machine(ProcessDriver(root, stop_timeout=stop_timeout))


def _lay_down(machine: MachineDir, spec: InstanceSpec) -> None:
    """Write a fresh OS disk and the spec, keeping data disks; blocking."""
    machine.path.mkdir(mode=0o700, parents=True, exist_ok=True)
    machine.provision_pending.touch()
    for lun in spec.data_disk_luns:
        machine.data_disk(lun).mkdir(parents=True, exist_ok=True)
    fresh = machine.path / "os.new"
    _remove_tree(fresh)
    shutil.copytree(spec.image.path, fresh, symlinks=True)
    _remove_tree(machine.os_disk)
    fresh.rename(machine.os_disk)
    # Extension downloads belong to the OS disk they were made for.
    _remove_tree(machine.path / "extensions")
    machine.custom_data.unlink(missing_ok=True)
    if spec.custom_data:
        write_private(machine.custom_data, spec.custom_data)
    machine.deallocated.unlink(missing_ok=True)
    write_json_atomic(machine.spec, spec_to_document(spec))


def _remove_tree(path: Path) -> None:
    """rmtree that also removes what a guest made read-only; a missing path is fine."""

    def make_writable_and_retry(func: Any, name: str, exc_info: Any) -> None:
        if isinstance(exc_info[1], FileNotFoundError):
            return
        for writable in (os.path.dirname(name), name):
            if not os.path.islink(writable):
                try:
                    os.chmod(writable, 0o700)
                except OSError:
                    pass
        func(name)

    if path.exists() or path.is_symlink():
        shutil.rmtree(path, onerror=make_writable_and_retry)


def _read_status(machine: MachineDir) -> InstanceStatus:
    spec = read_json(machine.spec)
    if spec is None:
        return InstanceStatus(PowerState.UNKNOWN)
    status = read_json(machine.status) or {}
    extensions = status.get("extensions") or []
    if is_running(status.get("supervisor")):
        power = PowerState(status.get("power", PowerState.STARTING))
    elif machine.provision_pending.exists():
        power = PowerState.STARTING
        extensions = [{"name": e["name"], "state": "transitioning"} for e in spec["extensions"]]
    else:
        extensions = settle_interrupted(extensions)
        if is_running(status.get("boot")):
            # Its supervisor was killed; the machine still runs, and stop still reaches it.
            power = PowerState.RUNNING
        elif machine.deallocated.exists():
            power = PowerState.DEALLOCATED
        else:
            power = PowerState.STOPPED
    return InstanceStatus(
        power,
        spec["image"]["urn"],
        tuple(ExtensionStatus(e["name"], ExtensionState(e["state"]), e.get("message", "")) for e in extensions),
    )


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_bytes()[-limit:].decode("utf-8", "replace").strip()
    except FileNotFoundError:
        return ""
