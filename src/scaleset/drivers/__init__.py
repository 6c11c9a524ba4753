"""Compute drivers: the contract in `base`, and the drivers behind it.

Kept free of imports so that `python -m scaleset.drivers.supervisor` starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scaleset.clock import Clock
    from scaleset.drivers.base import Driver
    from scaleset.drivers.vm_host import VmOptions

DRIVER_NAMES = ("process", "qemu", "sim")


def load_driver(name: str, *, data_dir: Path, clock: Clock, vm: VmOptions | None = None) -> Driver:
    """The driver called `name`, keeping its state under `data_dir`; `vm` configures qemu's VMs."""
    if name == "qemu":
        from scaleset.drivers.qemu import QemuDriver
        from scaleset.drivers.vm_host import INSTALL_HINT, VmOptions, missing_tools

        if missing := missing_tools():
            raise ValueError(f"the qemu driver needs {', '.join(missing)}: {INSTALL_HINT}")
        vm = vm or VmOptions()
        return QemuDriver(data_dir / "vms", accel=vm.accel, sizing=vm.sizing, max_booting=vm.max_booting)
    if name == "process":
        from scaleset.drivers.process import ProcessDriver

        return ProcessDriver(data_dir / "machines")
    if name == "sim":
        from scaleset.drivers.sim import SimDriver

        return SimDriver(clock=clock, root=data_dir / "sim")
    raise ValueError(f"unknown driver {name!r}; choose one of: {', '.join(DRIVER_NAMES)}")
