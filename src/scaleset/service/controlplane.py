"""The control plane assembled: the only door into the core for the API, the CLI and tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from scaleset.clock import Clock, RealClock, every
from scaleset.drivers.base import Driver
from scaleset.identity.directory import Directory
from scaleset.identity.principals import Principals
from scaleset.service.context import Context, Settings
from scaleset.service.deployments import Deployments
from scaleset.service.groups import Groups
from scaleset.service.health_monitor import HealthMonitor
from scaleset.service.images import Images
from scaleset.service.instances import Instances
from scaleset.store.leases import TRIGGER, Leases, scale_set_lease
from scaleset.service.network import NetworkResources
from scaleset.service.reconciler import Reconciler
from scaleset.service.replicas import Identity, Replicas, describe
from scaleset.service.scale_sets import ScaleSets
from scaleset.service.subscriptions import Subscriptions
from scaleset.service.upgrades import Upgrades
from scaleset.service.watched import Seen
from scaleset.store.database import Database
from scaleset.store.secrets import SecretBox
from scaleset.store.tables import scale_sets
from scaleset.upgrade import runs


class ControlPlane:
    def __init__(self, *, db: Database, driver: Driver, data_dir: Path, clock: Clock | None = None,
                 settings: Settings | None = None, secrets: SecretBox | None = None, replica_id: str | None = None) -> None:
        clock = clock or RealClock()
        settings = settings or Settings()
        self.identity = Identity.of_this_process(replica_id)
        self.replicas = Replicas(db, clock, self.identity, period=settings.lease_period)
        leases = Leases(db, clock, self.identity.id, period=settings.lease_period)
        self.ctx = Context(db=db, driver=driver, secrets=secrets or SecretBox.from_data_dir(data_dir),
                           clock=clock, data_dir=data_dir, leases=leases, settings=settings)
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
        self.health.changed.append(self.upgrades.runner.health_changed)
        self.ctx.acted = self._acted
        leases.gained.append(self._lease_gained)
        self.ctx.wake = self._intents_written
        self.scale_sets.updated.append(self.upgrades.on_updated)
        self._rounds: asyncio.Task[None] | None = None

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    def operation(self, op_id: str):  # type: ignore[no-untyped-def]
        from scaleset.service import operations

        with self.ctx.db.reading() as conn:
            return operations.get(conn, op_id)

    async def start(self) -> str:
        """Migrate the store, make the default subscription, join the replicas, take the leases
        that are free and resume the work under them."""
        self.ctx.db.migrate()
        default = self.subscriptions.ensure_default()
        self.directory = Directory.load_or_create(self.ctx.db, self.ctx.secrets, self.ctx.clock.now())
        self.replicas.join()
        self.reconciler.start()
        self.health.start()
        await self.lease_round()
        self.upgrades.trigger()  # publications the round saw before it took the trigger's lease
        self.reconciler.wake()
        period = self.ctx.settings.lease_period
        self._rounds = asyncio.create_task(every(self.ctx.clock, lambda: period / 3, self.lease_round, what="lease round"))
        return default

    async def lease_round(self) -> None:
        """Heartbeat, renew what we hold, take our share of what is free, and pick up work that
        arrived under our leases (runs started by another replica, publications, deployments whose
        replica died). One write and one read: it runs every third of a lease period."""
        with self.ctx.db.transaction() as conn:
            alive = self.replicas.heartbeat(conn)
            self.ctx.leases.renew(conn)
        self.health.share_verdicts(len(alive) > 1)
        self.reconciler.others_alive = len(alive) > 1
        trigger = self.ctx.leases.holds(TRIGGER)
        with self.ctx.db.reading() as conn:
            keys = conn.execute(sa.select(scale_sets.c.key).order_by(scale_sets.c.key)).scalars().all()
            active = runs.active(conn)
            queued = self.upgrades.queued(conn) if trigger else []
            orphaned = self.deployments.interrupted(conn, alive) if trigger else []
        held = set(self.ctx.leases.held_names())
        self.ctx.leases.balance([TRIGGER, *(scale_set_lease(key) for key in keys)], len(alive))
        if not set(self.ctx.leases.held_names()) <= held:
            # Intents of scale sets just taken over are ours to carry out now (each taken lease
            # has the health watch read its scale set: _lease_gained).
            self.reconciler.wake()
        self.upgrades.adopt(active)
        if queued:
            self.upgrades.trigger()
        self.deployments.fail(orphaned)

    def _intents_written(self, scale_set_key: str | None = None, ids: list[int] | None = None,
                         action: str | None = None) -> None:
        """The reconciler carries them out, and the machines they name change: the health watch
        looks, or is told (all `ids` given `action`, and nothing else written of them)."""
        self.reconciler.wake(scale_set_key)
        if scale_set_key is not None and ids is not None and action is not None:
            self.health.intended(scale_set_key, ids, action)
        else:
            self.health.nudge(scale_set_key, ids)

    def _lease_gained(self, name: str) -> None:
        """A scale set just became ours (new, or taken over, by whatever took its lease): the
        health watch reads it whole now, not at its next periodic read. Verdicts live in memory,
        so until it does, a run here would count the instances not yet watched as unhealthy."""
        if name.startswith(prefix := scale_set_lease("")):
            self.health.nudge(name.removeprefix(prefix))

    def _acted(self, scale_set_key: str, ids: list[int] | None = None, told: list[Seen] | None = None) -> None:
        """Instances' actions ended (`ids`; None: something changed by itself): the health watch
        reads them, or takes what their outcomes' writer says they are now (`told`); their run looks."""
        if told:
            self.health.told(scale_set_key, told)
        if ids is None or ids:
            self.health.nudge(scale_set_key, ids)
        self.upgrades.runner.nudge(scale_set_key)

    def describe_replicas(self) -> list[dict[str, object]]:
        with self.ctx.db.reading() as conn:
            return describe(conn, self.ctx.clock.now(), self.ctx.settings.lease_period)

    async def stop(self) -> None:
        await self.halt()
        await self.ctx.driver.close()
        # Handing the leases back lets another replica take the work over at once.
        self.ctx.leases.release_all()
        self.replicas.leave()

    async def halt(self) -> None:
        """Stop every task of this replica where it stands and write nothing more: what a crash
        leaves behind (its leases stay until they expire). The simulator and tests use it."""
        # Runs are stopped first and before anything yields, so none moves on while the rest stops.
        await self.upgrades.stop()
        if self._rounds is not None:
            self._rounds.cancel()
            await asyncio.gather(self._rounds, return_exceptions=True)
        await self.health.stop()
        await self.reconciler.stop()
