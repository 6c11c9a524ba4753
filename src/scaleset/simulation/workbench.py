"""What every seed of a worker process shares, made once: a template store, image artifacts and
their uploads, the secrets key.

A seed starts from a copy of the template database (migrated, with the default subscription, the
directory, the resource group and the base image 1.0.0 already in it) rather than from nothing:
making it costs more than a typical seed. Every image variant a scenario may publish is installed
in the shared artifact store up front, so publishing in a seed never leaves the event loop for a
thread (time would move on the virtual clock while it ran, and the replay would differ).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from scaleset.clock import VirtualClock
from scaleset.drivers.sim import SimDriver
from scaleset.model.image_reference import ImageReference
from scaleset.service.controlplane import ControlPlane
from scaleset.simulation.scenario import VARIANTS
from scaleset.store.database import Database, sqlite_url
from scaleset.store.secrets import SecretBox

BASE_VARIANT = "good"


class Workbench:
    def __init__(self, root: Path | None = None) -> None:
        # tmpfs when there is one: a seed writes its database a few hundred times.
        shm = Path("/dev/shm")
        self.root = root or Path(tempfile.mkdtemp(prefix="scaleset-sim-", dir=shm if shm.is_dir() else None))
        self.root.mkdir(parents=True, exist_ok=True)
        self.secrets = SecretBox.from_data_dir(self.root)
        self.subscription = ""
        self._ready = False

    @property
    def template(self) -> Path:
        return self.root / "template.sqlite"

    def upload(self, variant: str) -> Path:
        return self.root / "uploads" / f"{variant}.json"

    def fresh_database(self) -> Path:
        path = self.root / "seed.sqlite"
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        shutil.copyfile(self.template, path)
        return path

    def machines_dir(self, *, clean: bool = True) -> Path:
        path = self.root / "machines"
        if clean:
            shutil.rmtree(path, ignore_errors=True)
        return path

    async def ready(self) -> None:
        if self._ready:
            return
        (self.root / "uploads").mkdir(exist_ok=True)
        for name, document in VARIANTS.items():
            self.upload(name).write_text(json.dumps(document, sort_keys=True))
        self.template.unlink(missing_ok=True)
        clock = VirtualClock()
        driver = SimDriver(clock)
        db = Database(sqlite_url(self.template))
        plane = ControlPlane(db=db, driver=driver, data_dir=self.root, clock=clock, secrets=self.secrets)
        self.subscription = await plane.start()
        plane.groups.put(self.subscription, "rg", "westus", {})
        for name in VARIANTS:
            upload = self.upload(name)
            await plane.images.artifacts.install(upload, driver, plane.images.artifacts.digest(upload))
        await plane.images.publish("westus", ImageReference("Canonical", "UbuntuServer", "18.04-LTS", "1.0.0"),
                                   os_type="Linux", upload=self.upload(BASE_VARIANT))
        await plane.lease_round()  # the base image's publication is handled before the template is taken
        await plane.stop()
        db.close()
        self._ready = True

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
