"""The control plane assembled: the only door into the core for the API, the CLI and tests."""

from __future__ import annotations

from pathlib import Path

from scaleset.clock import Clock, RealClock
from scaleset.drivers.base import Driver
from scaleset.identity.directory import Directory
from scaleset.identity.principals import Principals
from scaleset.service.context import Context, Settings
from scaleset.service.deployments import Deployments
from scaleset.service.groups import Groups
from scaleset.service.health_monitor import HealthMonitor
from scaleset.service.images import Images
from scaleset.service.instances import Instances
from scaleset.service.network import NetworkResources
from scaleset.service.reconciler import Reconciler
from scaleset.service.scale_sets import ScaleSets
from scaleset.service.subscriptions import Subscriptions
from scaleset.service.upgrades import Upgrades
from scaleset.store.database import Database
from scaleset.store.secrets import SecretBox


class ControlPlane:
    def __init__(self, *, db: Database, driver: Driver, data_dir: Path, clock: Clock | None = None,
                 settings: Settings | None = None, secrets: SecretBox | None = None) -> None:
        self.ctx = Context(db=db, driver=driver, secrets=secrets or SecretBox.from_data_dir(data_dir),
                           clock=clock or RealClock(), data_dir=data_dir, settings=settings or Settings())
        self.subscriptions = Subscriptions(self.ctx)
        self.groups = Groups(self.ctx, self.subscriptions)
        self.principals = Principals(self.ctx, self.subscriptions)
        self.directory: Directory | None = None  # loaded at start, once the schema is there
        self.network = NetworkResources(self.ctx)
        self.deployments = Deployments(self.ctx)
        self.images = Images(self.ctx)
        self.scale_sets = ScaleSets(self.ctx, self.subscriptions)
        self.instances = Instances(self.ctx)
        self.reconciler = Reconciler(self.ctx, self.images.artifacts)
        self.health = HealthMonitor(self.ctx)
        self.upgrades = Upgrades(self.ctx, self.health)
        self.images.published.append(self.upgrades.on_published)
        self.scale_sets.updated.append(self.upgrades.on_updated)

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    def operation(self, op_id: str):  # type: ignore[no-untyped-def]
        from scaleset.service import operations

        with self.ctx.db.reading() as conn:
            return operations.get(conn, op_id)

    async def start(self) -> str:
        """Migrate the store, make the default subscription, resume every pending intent."""
        self.ctx.db.migrate()
        default = self.subscriptions.ensure_default()
        self.directory = Directory.load_or_create(self.ctx.db, self.ctx.secrets, self.ctx.clock.now())
        self.deployments.fail_interrupted()
        self.reconciler.start()
        self.reconciler.wake()
        self.health.start()
        self.upgrades.resume_all()
        return default

    async def stop(self) -> None:
        await self.upgrades.stop()
        await self.health.stop()
        await self.reconciler.stop()
        await self.ctx.driver.close()
