"""An in-process control plane on the sim driver and the virtual clock, for the engine benchmarks
(bench/makespan_sim.py, bench/scale.py); a helper, not a benchmark.

It is the real ControlPlane with the settings `scaleset serve` runs with (SQLite store, reconciler,
health monitor, runner), in this process, so its CPU and memory are this process's.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaleset.clock import VirtualClock
from scaleset.collector import collect_less_often
from scaleset.drivers.base import InstanceSpec
from scaleset.drivers.sim import SimDriver
from scaleset.model.image_reference import ImageReference
from scaleset.service.context import Settings
from scaleset.service.controlplane import ControlPlane
from scaleset.store.database import Database, sqlite_url

SUB = "00000000-0000-0000-0000-000000000001"
IMAGE = ("Canonical", "UbuntuServer", "18.04-LTS")
FINISHED = ("Completed", "Faulted", "Cancelled")


def health_extension(interval: int) -> dict[str, Any]:
    return {"name": "HealthExtension", "properties": {
        "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "1.0",
        "settings": {"protocol": "http", "port": 8080, "requestPath": "/health", "intervalInSeconds": interval,
                     "numberOfProbes": 1}}}


class TimingSim(SimDriver):
    """The sim driver, noting when (wall clock) the first reimage was asked of it."""

    first_reimage: float | None = None

    async def reimage_many(self, specs: Sequence[InstanceSpec], *, fence: int = 0) -> list[BaseException | None]:
        if self.first_reimage is None:
            self.first_reimage = time.perf_counter()
        return await super().reimage_many(specs, fence=fence)


@dataclass
class SimPlane:
    plane: ControlPlane
    clock: VirtualClock
    driver: TimingSim
    folder: Path

    async def publish(self, version: str, **knobs: float) -> None:
        upload = self.folder / f"image-{version}.json"
        upload.write_text(json.dumps(knobs))
        await self.plane.images.publish("westus", ImageReference(*IMAGE, version), os_type="Linux", upload=upload)

    def scale_set(self, name: str, capacity: int, policy: dict[str, Any], *, probe_interval: int,
                  tags: dict[str, str] | None = None) -> None:
        """A scale set on `latest`, its Application Health extension probing every `probe_interval` s."""
        self.plane.scale_sets.put(SUB, "rg", name, {
            "location": "westus", "sku": {"name": "Standard_DS1_v2", "capacity": capacity}, "tags": tags or {},
            "properties": {"upgradePolicy": policy, "virtualMachineProfile": {
                "storageProfile": {"imageReference": dict(zip(("publisher", "offer", "sku"), IMAGE), version="latest")},
                "extensionProfile": {"extensions": [health_extension(probe_interval)]}}}})

    def latest_run(self, name: str) -> Any | None:
        """The scale set's latest run once it has ended; None before."""
        try:
            _, run, _, _ = self.plane.upgrades.latest(SUB, "rg", name)
        except Exception:  # noqa: BLE001 - the publish has not started its run yet
            return None
        return run if run.state in FINISHED else None


@asynccontextmanager
async def sim_plane(prefix: str) -> AsyncIterator[SimPlane]:
    collect_less_often()  # as `scaleset serve` does
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    clock = VirtualClock()
    driver = TimingSim(clock=clock)
    db = Database(sqlite_url(folder / "store.db"))
    plane = ControlPlane(db=db, driver=driver, data_dir=folder, clock=clock, settings=Settings())
    await plane.start()
    try:
        plane.groups.put(SUB, "rg", "westus", {})
        yield SimPlane(plane, clock, driver, folder)
    finally:
        await plane.stop()
        db.close()
