"""The fault injector: carries a scenario's events out, on the machines and through the service
layer (the same methods the API handlers call), and heals what is left when the window closes.

Machine faults go on while the server is down (the machines do not care); user calls made while
it is down are skipped, as a client would get no answer. An expected refusal (409 "no run in
progress", a 400) is part of the story and goes in the trace; anything else a service method
raises is a violation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scaleset.drivers.base import PowerState
from scaleset.model.image_reference import ImageReference
from scaleset.service.errors import ArmError
from scaleset.simulation import invariants as inv
from scaleset.simulation.scenario import Event
from scaleset.simulation.world import label

if TYPE_CHECKING:
    from scaleset.simulation.seed_run import SeedRun

SUB_GROUP = "rg"
UBUNTU = ("Canonical", "UbuntuServer", "18.04-LTS")
LOCATION = "westus"


class Injector:
    def __init__(self, run: SeedRun) -> None:
        self.run = run
        self.flapped: set[str] = set()
        self.dead: set[str] = set()
        self.maintained: dict[tuple[str, int], bool] = {}  # (scale set, instance) -> still down
        self.versions = 0

    async def apply(self, event: Event) -> None:
        self.run.observer.note(f"event {event.describe()}")
        await getattr(self, f"_{event.kind}")(event)

    # -- machine faults

    def _machines(self, event: Event) -> list[str]:
        prefix = f"{self.run.fleet_name(event.scale_set)}-"
        keys = [k for k in self.run.driver.keys() if k.startswith(prefix)]
        return sorted(keys, key=lambda k: int(k.rsplit("-", 1)[1]))

    def _pick(self, event: Event) -> str | None:
        keys = self._machines(event)
        return keys[event.target % len(keys)] if keys else None

    async def _flap(self, event: Event) -> None:
        key = self._pick(event)
        if key is None:
            return
        self.run.driver.inject(key, healthy=False)
        self.flapped.add(key)
        self.run.later(event.seconds, lambda: self._end_flap(key))

    def _end_flap(self, key: str) -> None:
        if key in self.flapped:
            self.flapped.discard(key)
            self.run.driver.clear_health(key)
            self.run.observer.note(f"flap over {label(key)}")

    async def _fail(self, event: Event) -> None:
        key = self._pick(event)
        if key is not None:
            self.run.driver.inject(key, fail_next=event.option)

    async def _hang(self, event: Event) -> None:
        key = self._pick(event)
        if key is not None:
            self.run.driver.hang_next(key, event.option, event.seconds, acts=bool(event.number))

    async def _die(self, event: Event) -> None:
        key = self._pick(event)
        if key is None or self.run.driver.image_of(key) is None:
            return
        self.run.driver.inject(key, power_state=PowerState.STOPPED)
        self.dead.add(key)
        if event.seconds:
            self.run.later(event.seconds, lambda: self._revive(key))

    def _revive(self, key: str) -> None:
        if key in self.dead and self.run.driver.revive(key):
            self.dead.discard(key)
            self.run.observer.note(f"revived {label(key)}")

    async def _maintenance(self, event: Event) -> None:
        name = self.run.fleet_name(event.scale_set)
        ids = self.run.live_ids(name) if self.run.plane is not None else []  # the store is read through the server
        if not ids:
            return self.run.observer.note("skipped: server down or no instance")
        instance = ids[event.target % len(ids)]
        if self._call("maintenance begin", lambda p: p.instances.act(self.run.sub, SUB_GROUP, name, "poweroff", [str(instance)])):
            self.maintained[(name, instance)] = True
            self.run.later(event.seconds, lambda: self._end_maintenance(name, instance))

    def _end_maintenance(self, name: str, instance: int) -> None:
        if self.maintained.get((name, instance)) and self.run.plane is not None and instance in self.run.live_ids(name):
            if self._call("maintenance end", lambda p: p.instances.act(self.run.sub, SUB_GROUP, name, "start", [str(instance)])):
                self.maintained[(name, instance)] = False

    async def _crash(self, event: Event) -> None:
        if self.run.plane is None:
            return
        await self.run.crash()
        if event.seconds:
            self.run.later(event.seconds, self.run.schedule_restart)
        else:
            await self.run.restart()

    # -- user calls

    def _call(self, what: str, call: Any) -> bool:
        plane = self.run.plane
        if plane is None:
            self.run.observer.note(f"{what}: skipped, server down")
            return False
        try:
            call(plane)
        except ArmError as error:
            self.run.observer.note(f"{what}: {error.status} {error.code}")
            return False
        except Exception as error:  # noqa: BLE001 - a service method failing otherwise is a finding
            self.run.observer.obs.errors.append(inv.Violation("service-call", self.run.observer.now(),
                                                              f"{what} raised {type(error).__name__}: {error}"))
            return False
        self.run.observer.note(f"{what}: accepted")
        return True

    async def _publish(self, event: Event) -> None:
        if self.run.plane is None:
            return self.run.observer.note("publish: skipped, server down")
        self.versions += 1
        ref = ImageReference(*UBUNTU, f"1.0.{self.versions}")
        try:
            await self.run.plane.images.publish(LOCATION, ref, os_type="Linux", upload=self.run.bench.upload(event.option))
            self.run.observer.note(f"publish {ref.version} {event.option}: accepted")
        except ArmError as error:
            self.run.observer.note(f"publish: {error.status} {error.code}")
        await self.run.check_history()

    async def _start(self, event: Event) -> None:
        name = self.run.fleet_name(event.scale_set)
        self._call(f"start {name}", lambda p: p.upgrades.start(self.run.sub, SUB_GROUP, name, force=bool(event.number)))
        await self.run.check_history()

    async def _cancel(self, event: Event) -> None:
        name = self.run.fleet_name(event.scale_set)
        self._call(f"cancel {name}", lambda p: p.upgrades.cancel(self.run.sub, SUB_GROUP, name))

    async def _pause(self, event: Event) -> None:
        name = self.run.fleet_name(event.scale_set)
        self._call(f"pause {name}", lambda p: p.upgrades.pause(self.run.sub, SUB_GROUP, name))

    async def _resume(self, event: Event) -> None:
        name = self.run.fleet_name(event.scale_set)
        self._call(f"resume {name}", lambda p: p.upgrades.resume(self.run.sub, SUB_GROUP, name))

    async def _scale(self, event: Event) -> None:
        name = self.run.fleet_name(event.scale_set)
        if self.run.plane is None:
            return
        body = self.run.plane.scale_sets.get(self.run.sub, SUB_GROUP, name).body
        capacity = max(1, min(10, int(body["sku"]["capacity"]) + event.number))
        self._call(f"scale {name} to {capacity}", lambda p: p.scale_sets.patch(self.run.sub, SUB_GROUP, name,
                                                                               {"sku": {"capacity": capacity}}))

    async def _toggle_auto(self, event: Event) -> None:
        name = self.run.fleet_name(event.scale_set)
        if self.run.plane is None:
            return
        body = self.run.plane.scale_sets.get(self.run.sub, SUB_GROUP, name).body
        on = not body["properties"]["upgradePolicy"]["automaticOSUpgradePolicy"]["enableAutomaticOSUpgrade"]
        self._call(f"automatic upgrades {'on' if on else 'off'} {name}", lambda p: p.scale_sets.patch(
            self.run.sub, SUB_GROUP, name,
            {"properties": {"upgradePolicy": {"automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": on}}}}))

    async def _policy(self, event: Event) -> None:
        name = self.run.fleet_name(event.scale_set)
        self._call(f"maxBatchInstancePercent {event.number} {name}", lambda p: p.scale_sets.patch(
            self.run.sub, SUB_GROUP, name,
            {"properties": {"upgradePolicy": {"rollingUpgradePolicy": {"maxBatchInstancePercent": event.number}}}}))

    # -- the window closes

    async def heal(self, *, revive_dead: bool) -> None:
        """Faults stop: flaps end, maintenance ends, the dead come back (if the scenario says so),
        the server is up, and paused runs are resumed (a paused run waits for its user forever)."""
        for key in sorted(self.flapped):
            self._end_flap(key)
        if revive_dead:
            for key in sorted(self.dead):
                self._revive(key)
        if self.run.plane is None:
            await self.run.restart()
        for (name, instance), down in sorted(self.maintained.items()):
            if down:
                self._end_maintenance(name, instance)
        for index in range(len(self.run.scenario.fleets)):
            name = self.run.fleet_name(index)
            self._call(f"resume {name}", lambda p, name=name: p.upgrades.resume(self.run.sub, SUB_GROUP, name))
