"""Compute drivers: the contract in `base`, and the drivers behind it.

Kept free of imports so that `python -m scaleset.drivers.supervisor` starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scaleset.clock import Clock
    from scaleset.drivers.base import Driver

DRIVER_NAMES = ("process", "sim")


def load_driver(name: str, *, data_dir: Path, clock: Clock) -> Driver:
    """The driver called `name`, keeping its state under `data_dir`."""
    if name == "process":
        from scaleset.drivers.process import ProcessDriver

        return ProcessDriver(data_dir / "machines")
    if name == "sim":
        from scaleset.drivers.sim import SimDriver

        return SimDriver(clock=clock, root=data_dir / "sim")
    raise ValueError(f"unknown driver {name!r}; choose one of: {', '.join(DRIVER_NAMES)}")
