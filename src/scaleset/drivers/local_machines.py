"""The lifecycle both drivers of real local machines share (process trees and QEMU VMs).

A machine is a directory (`MachineDir`) holding its spec and disks; calls on one key are
serialised by a lock; a `provision-pending` marker lives from the start of a create or reimage
until the machine runs on its new OS disk, so a call interrupted by a crash is provisioned again
rather than booted half-made. Subclasses say how to lay a machine down and boot it
(`_provision`), boot what is laid down (`_ensure_started`) and power it off (`_power_off`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from scaleset.drivers import fencing, procfs
from scaleset.drivers.base import Driver, DriverError, InstanceSpec
from scaleset.drivers.machine_dir import MachineDir, read_json


class LocalMachineDriver(Driver):
    """Timeouts, in seconds: `stop_timeout` for a machine to stop by itself before it is made to;
    `custom_data_timeout`, `extension_timeout` and `download_timeout` (per file) bound provisioning."""

    def __init__(self, root: Path, *, stop_timeout: float, custom_data_timeout: float = 600.0,
                 extension_timeout: float = 1800.0, download_timeout: float = 60.0) -> None:
        self.root = root
        self.stop_timeout = stop_timeout
        self.custom_data_timeout = custom_data_timeout
        self.extension_timeout = extension_timeout
        self.download_timeout = download_timeout
        self._locks: dict[str, asyncio.Lock] = {}

    async def create(self, spec: InstanceSpec, *, fence: int = 0) -> None:
        async with self._lock(spec.key, fence):
            machine = self._machine(spec.key)
            if machine.spec.exists() and not machine.provision_pending.exists():
                await self._ensure_started(machine)
            else:
                await self._provision(machine, spec)

    async def reimage(self, spec: InstanceSpec, *, fence: int = 0) -> None:
        async with self._lock(spec.key, fence):
            machine = self._existing(spec.key)
            laid = read_json(machine.spec) or {}
            if spec.generation and laid.get("generation") == spec.generation and not machine.provision_pending.exists():
                await self._ensure_started(machine)  # this generation's reimage was done already
                return
            await self._provision(machine, spec)

    async def start(self, key: str, *, fence: int = 0) -> None:
        async with self._lock(key, fence):
            machine = self._existing(key)
            if machine.provision_pending.exists():
                raise DriverError(f"machine {key!r} was never fully provisioned; create or reimage it again")
            await self._ensure_started(machine)

    async def stop(self, key: str, *, fence: int = 0) -> None:
        async with self._lock(key, fence):
            await self._power_off(self._existing(key))

    async def deallocate(self, key: str, *, fence: int = 0) -> None:
        async with self._lock(key, fence):
            machine = self._existing(key)
            await self._power_off(machine)
            machine.deallocated.touch()

    async def close(self) -> None:
        self._locks.clear()

    @abc.abstractmethod
    async def _provision(self, machine: MachineDir, spec: InstanceSpec) -> None:
        """Power off, lay down a fresh OS disk for `spec` (data disks kept) and boot it."""

    @abc.abstractmethod
    async def _ensure_started(self, machine: MachineDir) -> None:
        """Boot the machine as laid down, unless it runs."""

    @abc.abstractmethod
    async def _power_off(self, machine: MachineDir) -> None:
        """Stop everything the machine runs; a no-op when nothing does."""

    def _machine(self, key: str) -> MachineDir:
        return MachineDir.for_key(self.root, key)

    def _existing(self, key: str) -> MachineDir:
        machine = self._machine(key)
        if not machine.spec.exists():
            raise DriverError(f"no machine {key!r}")
        return machine

    @contextlib.asynccontextmanager
    async def _lock(self, key: str, fence: int = 0) -> AsyncIterator[None]:
        """Calls on one machine one at a time; a call carrying a fencing token is let in only if no
        newer token reached this machine (checked once the lock is ours, so in call order)."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            # Kept outside the machines' directory, and kept after a delete: a stale call must not
            # bring a deleted machine back.
            fencing.check_in_file(self.root.parent / "fences" / self.root.name / self._machine(key).path.name, key, fence)
            yield


def remove_every_machine(driver: LocalMachineDriver) -> None:
    """Stop and delete every machine under the driver's root (machines outlive servers: demos and
    tests clean up); blocking."""
    if not driver.root.is_dir():
        return

    async def delete_all() -> None:
        for path in driver.root.iterdir():
            if path.is_dir():
                await driver.delete(unquote(path.name))  # directories are quoted keys

    asyncio.run(delete_all())


def is_running(record: dict[str, Any] | None) -> bool:
    """Whether the process a record names ({"pid", "start_time"}) still runs; a zombie or a reused
    PID counts as gone."""
    return bool(record) and procfs.is_alive(record.get("pid"), record.get("start_time"))


async def wait_gone(pid: int, start_time: int | None, timeout: float) -> bool:
    """Wait up to `timeout` seconds for a process to end; whether it did."""
    deadline = time.monotonic() + timeout
    while procfs.is_alive(pid, start_time):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True
