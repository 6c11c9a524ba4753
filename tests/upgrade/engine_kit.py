"""An in-process control plane on the sim driver and the virtual clock, for upgrade engine tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from scaleset.clock import VirtualClock
from scaleset.drivers.sim import SimDriver
from scaleset.model.image_reference import ImageReference
from scaleset.service.context import Settings
from scaleset.service.controlplane import ControlPlane
from scaleset.store.database import Database, sqlite_url

SUB = "00000000-0000-0000-0000-000000000001"
UBUNTU = ("Canonical", "UbuntuServer", "18.04-LTS")
APP_HEALTH = {"name": "HealthExtension", "properties": {
    "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "1.0",
    "settings": {"protocol": "http", "port": 8080, "requestPath": "/health", "intervalInSeconds": 5, "numberOfProbes": 1}}}


class Kit:
    def __init__(self, plane: ControlPlane, clock: VirtualClock, driver: SimDriver, tmp: Path) -> None:
        self.plane = plane
        self.clock = clock
        self.driver = driver
        self.tmp = tmp

    async def publish(self, version: str, **knobs: Any) -> None:
        document = {"bootSeconds": 30, "reimageSeconds": 60, "healthy": True, **knobs}
        path = self.tmp / f"image-{version}.json"
        path.write_text(json.dumps(document))
        await self.plane.images.publish("westus", ImageReference(*UBUNTU, version), os_type="Linux", upload=path)

    async def scale_set(self, name: str, capacity: int, *, automatic: bool = True, upgrade_policy: dict[str, Any] | None = None,
                        extra_properties: dict[str, Any] | None = None, tags: dict[str, str] | None = None,
                        health: bool = True) -> None:
        """A scale set on `latest`; with `health`, the Application Health extension watches its app."""
        policy = upgrade_policy or {"mode": "Manual"}
        policy.setdefault("automaticOSUpgradePolicy", {"enableAutomaticOSUpgrade": automatic})
        body = {
            "location": "westus", "sku": {"name": "Standard_DS1_v2", "capacity": capacity}, "tags": tags or {},
            "properties": {"upgradePolicy": policy, "virtualMachineProfile": {"storageProfile": {"imageReference": {
                "publisher": UBUNTU[0], "offer": UBUNTU[1], "sku": UBUNTU[2], "version": "latest"}}}, **(extra_properties or {})},
        }
        if health:
            body["properties"]["virtualMachineProfile"]["extensionProfile"] = {"extensions": [APP_HEALTH]}
        self.plane.scale_sets.put(SUB, "rg", name, body)
        await self.plane.reconciler.idle()

    async def booted_rolling(self, name: str, capacity: int, batch_percent: int) -> None:
        """A Rolling scale set with batches of `batch_percent`, its instances up and healthy."""
        await self.scale_set(name, capacity, upgrade_policy={"mode": "Rolling", "rollingUpgradePolicy": {
            "maxBatchInstancePercent": batch_percent}})
        await self.clock.sleep(60)

    def versions(self, name: str) -> list[str]:
        _, rows, _ = self.plane.instances.list(SUB, "rg", name)
        return [row.image_urn.rsplit(":", 1)[1] for row in rows]

    def latest(self, name: str) -> tuple[Any, dict[str, int]]:
        _, run, counts, _ = self.plane.upgrades.latest(SUB, "rg", name)
        return run, counts

    async def until_batch(self, name: str, count: int) -> None:
        """Let virtual time run until the scale set's latest run has started `count` batches."""
        while self.latest(name)[0].batch_count < count:
            await self.clock.sleep(1)

    async def until_done(self, name: str, *, limit: float = 24 * 3600) -> Any:
        """Let virtual time run until the scale set's latest run ends."""
        start = self.clock.monotonic()
        while True:
            try:
                run, _ = self.latest(name)
                if run.state in ("Completed", "Faulted", "Cancelled"):
                    return run
            except Exception:  # noqa: BLE001 - no run yet
                pass
            if self.clock.monotonic() - start > limit:
                raise AssertionError(f"no end within {limit} virtual seconds")
            await self.clock.sleep(1)


@asynccontextmanager
async def engine(tmp_path: Path, *, driver_class: type[SimDriver] = SimDriver, store: str | None = None,
                 **settings: Any) -> AsyncIterator[Kit]:
    """`store`: the database's URL (a migrated SQLite file in `tmp_path` when not given)."""
    clock = VirtualClock()
    driver = driver_class(clock=clock)
    db = Database(store or sqlite_url(tmp_path / "engine.db"))
    values = {"health_wait": 300.0, "upgrade_poll": 1.0, "health_tick": 1.0, "status_interval": 5.0, **settings}
    plane = ControlPlane(db=db, driver=driver, data_dir=tmp_path, clock=clock, settings=Settings(**values))
    await plane.start()
    plane.groups.put(SUB, "rg", "westus", {})
    try:
        yield Kit(plane, clock, driver, tmp_path)
    finally:
        await plane.stop()
        db.close()
