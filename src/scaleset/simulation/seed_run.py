"""One seed, start to end: the real control plane on SQLite, the observed sim driver and a virtual
clock, the scenario's events, server crashes and restarts, then the drain and the final checks.

A crash cancels every task of the control plane where it stands (no clean stop, no shutdown
writes) and hands the machines to a new driver through the sim driver's own snapshot, as a new
server process adopts running machines; an operation cut short by the crash finishes on the
machine meanwhile. The restarted server is a new ControlPlane on the same database file.

Replays are exact: the clock is virtual, the events come from the seed, and the ids the engine
draws (uuid4) are drawn from the seed too while the seed runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from scaleset.clock import VirtualClock
from scaleset.service.context import Settings
from scaleset.service.controlplane import ControlPlane
from scaleset.simulation import invariants as inv
from scaleset.simulation.faults import LOCATION, SUB_GROUP, UBUNTU, Injector
from scaleset.simulation.scenario import LONGEST_OPERATION, Scenario, generate
from scaleset.simulation.watch import StoreWatch
from scaleset.simulation.workbench import Workbench
from scaleset.simulation.world import Observer, ObservedSim, label
from scaleset.store.database import Database, sqlite_url
from scaleset.store.tables import instances

# Coarse engine timings keep a seed cheap (the engine's cost is per poll, whatever the clock); the
# rules do not depend on them. Leases are renewed every third of a period, a round of a write and a
# read: a longer period than the default 10 s saves a good part of a seed's cost.
ENGINE = {"upgrade_poll": 20.0, "health_tick": 20.0, "status_interval": 60.0, "probe_interval": 20.0,
          "dispatch_poll": 20.0, "lease_period": 120.0}
SAMPLE_EVERY = 30.0


@dataclass(frozen=True)
class SeedResult:
    seed: int
    violations: tuple[str, ...]
    digest: str
    virtual_seconds: float
    wall_seconds: float
    runs: int
    batches: int
    crashes: int
    trace: tuple[str, ...] = ()


def run_seed(seed: int, bench: Workbench, *, keep_trace: bool = False) -> SeedResult:
    return asyncio.run(run_seed_async(seed, bench, keep_trace=keep_trace))


async def run_seed_async(seed: int, bench: Workbench, *, keep_trace: bool = False) -> SeedResult:
    started = time.perf_counter()
    await bench.ready()
    run = SeedRun(generate(seed), bench)
    with seeded_uuids(seed):
        try:
            await run.main()
        except Exception as error:  # noqa: BLE001 - the simulation breaking is a finding too
            run.observer.obs.errors.append(inv.Violation("simulation", run.observer.now(), f"{type(error).__name__}: {error}"))
        finally:
            await run.teardown()
    violations = tuple(str(v) for v in inv.check_all(run.observer.obs))
    digest = hashlib.sha256("\n".join(run.observer.trace).encode()).hexdigest()
    return SeedResult(seed=seed, violations=violations, digest=digest, virtual_seconds=run.clock.monotonic(),
                      wall_seconds=time.perf_counter() - started, runs=len(run.watch.runs),
                      batches=len(run.observer.obs.decisions), crashes=run.crashes,
                      trace=tuple(run.observer.trace) if keep_trace else ())


@contextmanager
def seeded_uuids(seed: int) -> Iterator[None]:
    """uuid4 drawn from the seed: run, operation and machine ids come out the same on a replay."""
    rng = random.Random(f"uuid-{seed}")
    original = uuid.uuid4
    uuid.uuid4 = lambda: uuid.UUID(int=rng.getrandbits(128), version=4)  # type: ignore[assignment]
    try:
        yield
    finally:
        uuid.uuid4 = original  # type: ignore[assignment]


class SeedRun:
    def __init__(self, scenario: Scenario, bench: Workbench) -> None:
        self.scenario = scenario
        self.bench = bench
        self.sub = bench.subscription
        self.clock = VirtualClock()
        self.observer = Observer(self.clock)
        k = max(f.probes for f in scenario.fleets)
        # Down this long, a machine has been probed k times since (plus a health tick either side).
        lag = k * ENGINE["probe_interval"] + 2 * ENGINE["health_tick"] + 1
        self.watch = StoreWatch(self.observer, verdicts=self._verdicts, lag=lag)
        self.observer.attribute = self.watch.attribute
        self.url = sqlite_url(bench.fresh_database())
        self.driver = ObservedSim(self.clock, self.observer, root=bench.machines_dir())
        self.plane: ControlPlane | None = None
        self.db: Database | None = None
        self.injector = Injector(self)
        self.mine: set[asyncio.Task[Any]] = set()
        self.gone: dict[str, set[int]] = {}
        self.names: dict[str, str] = {}  # scale set key -> name
        self.crashes = 0
        values = {**scenario.settings, **ENGINE}
        self.settings = Settings(**values)

    # -- the story

    async def main(self) -> None:
        self.mine.add(asyncio.current_task())  # type: ignore[arg-type]
        await self.restart()
        for fleet in self.scenario.fleets:
            assert self.plane is not None
            row, _, _ = self.plane.scale_sets.put(self.sub, SUB_GROUP, fleet.name, _body(fleet))
            self.names[row.key] = fleet.name
        await self._until(lambda: not self._pending(), limit=600)
        await self.clock.sleep(2 * self.watch.lag)  # every instance has a verdict
        opened = self.clock.monotonic()
        self._spawn(self._sampler())
        for event in self.scenario.events:
            await self.clock.sleep(max(0.0, opened + event.at - self.clock.monotonic()))
            await self.injector.apply(event)
        await self.clock.sleep(max(0.0, opened + self.scenario.window - self.clock.monotonic()))
        self.driver.clear_faults()
        await self.injector.heal(revive_dead=self.scenario.revive_dead)
        self.observer.note("faults stop")
        await self._drain(self.clock.monotonic())
        await self._final()

    async def _drain(self, quiet: float) -> None:
        def deadline(run: Any) -> float:
            members = max(1, len(run.initial))
            per_batch = 2 * LONGEST_OPERATION + self.settings.health_wait + 30 + 3 * self.settings.upgrade_poll
            slack = 2 * self.settings.lease_period + 10 + 200 + self.settings.extension_timeout
            return max(quiet, run.started) + slack + (members + 2) * per_batch

        while True:
            self._sample()
            open_runs = [r for r in self.watch.runs.values() if r.ended is None]
            if not open_runs and not self._pending():
                break
            if open_runs and all(self.clock.monotonic() > deadline(r) for r in open_runs):
                break
            if not open_runs and self.clock.monotonic() > quiet + 3600:
                self.observer.obs.errors.append(inv.Violation("quiescence", self.clock.monotonic(),
                                                              "instance intents still pending an hour after the runs ended"))
                break
            await self.clock.sleep(SAMPLE_EVERY)
        for run in self.watch.runs.values():
            self.observer.obs.ends.append(inv.RunEnd(run=run.id, scale_set=self.watch._name(run.scale_set), state=run.state,
                                                     ended=run.ended, deadline=deadline(run)))

    async def _final(self) -> None:
        assert self.plane is not None and self.db is not None
        for key, name in self.names.items():
            self.watch.history(self.plane, self.sub, SUB_GROUP, key, name, keep=self.settings.history_keep,
                               window=self.settings.history_window)
        self.watch.batch_sizes()
        with self.db.reading() as conn:
            rows = conn.execute(sa.select(instances).order_by(instances.c.scale_set_key, instances.c.instance_id)).all()
        now = self.clock.monotonic()
        for row in rows:
            if row.pending_action == "delete":
                continue
            self.driver.check_disks(row.machine_key, "at the end")
            if row.pending_action is None:
                self.observer.obs.images.append(inv.ImageAgreement(t=now, machine=label(row.machine_key), stored=row.image_urn,
                                                                   actual=self.driver.image_of(row.machine_key)))
            self.observer.note(f"end {label(row.machine_key)} {row.image_urn} {row.provisioning_state} {row.power_state}")
        for run in self.watch.runs.values():
            self.observer.note(f"end run {self.watch._name(run.scale_set)} {run.state}")

    # -- server lifetimes

    async def restart(self) -> None:
        if self.plane is not None:
            return
        self.db = Database(self.url)
        self.watch.attach(self.db)
        self.plane = ControlPlane(db=self.db, driver=self.driver, data_dir=self.bench.root, clock=self.clock,
                                  settings=self.settings, secrets=self.bench.secrets)
        await self.plane.start()
        self.observer.note("server up")

    def schedule_restart(self) -> None:
        self._spawn(self.restart())

    async def crash(self) -> None:
        """Every task of the server stops where it stands; the store and the machines stay."""
        self.crashes += 1
        await self._abandon()
        self.driver.snapshot()
        self.driver = ObservedSim(self.clock, self.observer, root=self.driver_root)
        self.observer.note("server crashed")

    @property
    def driver_root(self) -> Path:
        return self.bench.machines_dir(clean=False)

    async def _abandon(self) -> None:
        keep = self.mine | {asyncio.current_task(), getattr(self.clock, "_watcher", None)}
        victims = [t for t in asyncio.all_tasks() if t not in keep and not t.done()]
        for task in victims:
            task.cancel()
        await asyncio.gather(*victims, return_exceptions=True)
        if self.db is not None:
            self.db.close()  # its connections, the one `fetch` holds included: a seed after another must not inherit them
        self.plane, self.db = None, None

    async def teardown(self) -> None:
        for task in self.mine - {asyncio.current_task()}:
            task.cancel()
        await self._abandon()

    # -- helpers

    def fleet_name(self, index: int) -> str:
        return self.scenario.fleets[index].name

    def live_ids(self, name: str) -> list[int]:
        assert self.db is not None
        key = next(k for k, n in self.names.items() if n == name)
        with self.db.reading() as conn:
            return [row.instance_id for row in conn.execute(sa.select(instances.c.instance_id, instances.c.pending_action)
                                                            .where(instances.c.scale_set_key == key)
                                                            .order_by(instances.c.instance_id)).all()
                    if row.pending_action != "delete"]

    def later(self, seconds: float, action: Callable[[], Any]) -> None:
        async def wait_then() -> None:
            await self.clock.sleep(seconds)
            action()
        self._spawn(wait_then())

    async def check_history(self) -> None:
        if self.plane is None:
            return
        self._sample()
        for key, name in self.names.items():
            self.watch.history(self.plane, self.sub, SUB_GROUP, key, name, keep=self.settings.history_keep,
                               window=self.settings.history_window)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.mine.add(task)
        task.add_done_callback(self.mine.discard)

    async def _sampler(self) -> None:
        while True:
            await self.clock.sleep(SAMPLE_EVERY)
            self._sample()

    def _sample(self) -> None:
        if self.plane is None:
            return
        try:
            self.watch.sample(self.plane, self.sub, SUB_GROUP, self.names, self.gone)
        except Exception as error:  # noqa: BLE001 - reading what the service shows failed: a finding
            self.observer.obs.errors.append(inv.Violation("service-read", self.clock.monotonic(), f"{type(error).__name__}: {error}"))

    def _pending(self) -> bool:
        if self.db is None:
            return True
        with self.db.reading() as conn:
            return conn.execute(sa.select(instances.c.instance_id).where(instances.c.pending_action.is_not(None)).limit(1)).first() is not None

    def _verdicts(self, key: str) -> dict[int, bool | None]:
        return self.plane.health.healthy(key) if self.plane is not None else {}

    async def _until(self, condition: Callable[[], bool], *, limit: float) -> None:
        start = self.clock.monotonic()
        while not condition() and self.clock.monotonic() - start < limit:
            await self.clock.sleep(5)


def _body(fleet: Any) -> dict[str, Any]:
    health = {"name": "HealthExtension", "properties": {
        "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "1.0",
        "settings": {"protocol": "http", "port": 8080, "requestPath": "/health", "intervalInSeconds": 5,
                     "numberOfProbes": fleet.probes}}}
    image = {"publisher": UBUNTU[0], "offer": UBUNTU[1], "sku": UBUNTU[2], "version": "latest"}
    body: dict[str, Any] = {
        "location": LOCATION, "sku": {"name": "Standard_DS1_v2", "capacity": fleet.capacity},
        "properties": {"upgradePolicy": _copy(fleet.upgrade_policy), "virtualMachineProfile": {
            "storageProfile": {"imageReference": image,
                               "dataDisks": [{"lun": lun, "diskSizeGB": 1, "createOption": "Empty"} for lun in fleet.data_luns]},
            "extensionProfile": {"extensions": [health]}}},
    }
    if fleet.zones:
        body["zones"] = list(fleet.zones)
    return body


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


__all__ = ["SeedResult", "SeedRun", "run_seed", "run_seed_async", "seeded_uuids"]
