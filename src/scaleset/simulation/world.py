"""The simulated machines, observed.

`ObservedSim` is the sim driver with hooks around every machine-changing call: it records each
call in the trace, counts the upgrade's calls under way (the batch limit is checked as they
start), checks the data-disk markers after every reimage, and keeps each machine's health
timeline (since when it has been down), which the pre-check is judged against. It adds one fault
the sim driver lacks: a call that hangs, then times out (having acted or not).

`Observer` holds what the hooks learn; it outlives the driver, since a server crash hands the
machines to a new driver (see seed_run.py), as a real restart hands them to a new process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaleset.clock import VirtualClock
from scaleset.drivers.base import Driver, DriverError, InstanceSpec, PowerState
from scaleset.drivers.sim import SimDriver
from scaleset.simulation import invariants as inv


@dataclass(frozen=True)
class Attribution:
    """The upgrade run a machine call belongs to, as the store says when the call starts."""

    run: str
    scale_set: str
    live: int
    max_batch_percent: int


@dataclass
class Observer:
    clock: VirtualClock
    obs: inv.Observations = field(default_factory=inv.Observations)
    trace: list[str] = field(default_factory=list)
    down_since: dict[str, float] = field(default_factory=dict)
    upgrade_calls: dict[str, set[str]] = field(default_factory=dict)  # run -> machines under an upgrade call
    markers: dict[str, tuple[int, ...]] = field(default_factory=dict)  # machine -> luns marked
    deleted: set[str] = field(default_factory=set)  # machines a delete was asked for
    # Set by the seed runner: reads the store to tell which run (if any) a call on a machine serves.
    attribute: Callable[[str], Attribution | None] = lambda _key: None

    def now(self) -> float:
        return self.clock.monotonic()

    def note(self, line: str) -> None:
        self.trace.append(f"{self.now():.1f} {line}")


def label(key: str) -> str:
    """A machine's name without the random part (`web0-1a2b3c4d-3` -> `web0/3`)."""
    parts = key.split("-")
    return f"{parts[0]}/{parts[-1]}" if len(parts) >= 3 else key


class ObservedSim(SimDriver):
    def __init__(self, clock: VirtualClock, observer: Observer, *, root: Path) -> None:
        super().__init__(clock, root=root)
        self.observer = observer
        self._busy: set[str] = set()  # machines with a call under way: a revive must not overtake it
        self._hangs: dict[tuple[str, str], tuple[float, bool]] = {}

    # -- faults the sim driver does not have

    def hang_next(self, key: str, op: str, seconds: float, *, acts: bool) -> None:
        """The next `op` on `key` takes `seconds` more, then raises TimeoutError (after acting, if `acts`)."""
        self._hangs[(key, op)] = (seconds, acts)

    def clear_health(self, key: str) -> None:
        """End an injected health override: the machine answers as its image says again."""
        machine = self._machines.get(key)
        if machine is not None:
            machine.healthy = None
        self.track(key)

    def clear_faults(self) -> None:
        """Faults stop: no armed failure or hang is left for a later call."""
        self._hangs.clear()
        self._faults.clear()

    def revive(self, key: str) -> bool:
        """The host brings a dead machine back, if nothing else is being done to it."""
        machine = self._machines.get(key)
        if machine is None or machine.power is not PowerState.STOPPED or key in self._busy:
            return False
        self.inject(key, power_state=PowerState.RUNNING)
        return True

    # -- the observed contract

    async def create(self, spec: InstanceSpec, **kwargs: Any) -> None:
        await self._observed("create", spec.key, lambda: super(ObservedSim, self).create(spec, **kwargs))

    async def reimage(self, spec: InstanceSpec, **kwargs: Any) -> None:
        await self._observed("reimage", spec.key, lambda: super(ObservedSim, self).reimage(spec, **kwargs))

    reimage_many = Driver.reimage_many  # each reimage observed (and faulted) on its own

    async def start(self, key: str, **kwargs: Any) -> None:
        await self._observed("start", key, lambda: super(ObservedSim, self).start(key, **kwargs))

    async def stop(self, key: str, **kwargs: Any) -> None:
        await self._observed("stop", key, lambda: super(ObservedSim, self).stop(key, **kwargs))

    async def deallocate(self, key: str, **kwargs: Any) -> None:
        await self._observed("deallocate", key, lambda: super(ObservedSim, self).deallocate(key, **kwargs))

    async def delete(self, key: str, **kwargs: Any) -> None:
        self.observer.deleted.add(key)
        await self._observed("delete", key, lambda: super(ObservedSim, self).delete(key, **kwargs))

    def inject(self, key: str, **kwargs: Any) -> None:
        super().inject(key, **kwargs)
        self.track(key)

    # -- plumbing

    async def _observed(self, op: str, key: str, call: Callable[[], Awaitable[None]]) -> None:
        o = self.observer
        who = o.attribute(key) if op in ("create", "reimage") else None
        if who is not None:
            under_way = o.upgrade_calls.setdefault(who.run, set())
            under_way.add(key)
            o.obs.upgrade_calls.append(inv.UpgradeCall(t=o.now(), run=who.run, scale_set=who.scale_set, machine=label(key),
                                                       op=op, concurrent=len(under_way), live=who.live,
                                                       max_batch_percent=who.max_batch_percent))
        o.note(f"call {op} {label(key)}{' upgrade' if who else ''}")
        self._busy.add(key)
        # The call changes the machine's power before its first wait: look again right after.
        asyncio.get_running_loop().call_soon(self.track, key)
        outcome = "ok"
        try:
            hang = self._hangs.pop((key, op), None)
            if hang is not None and not hang[1]:
                await self._clock.sleep(hang[0])
                raise TimeoutError(f"simulated timeout: {op} {key!r}")
            await call()
            if hang is not None:
                await self._clock.sleep(hang[0])
                raise TimeoutError(f"simulated timeout after acting: {op} {key!r}")
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except (DriverError, TimeoutError) as error:
            outcome = f"error {type(error).__name__}"
            raise
        finally:
            self._busy.discard(key)
            if who is not None:
                o.upgrade_calls.get(who.run, set()).discard(key)
            o.note(f"done {op} {label(key)} {outcome}")
            self.track(key)
            if outcome == "ok" and op == "create":
                self.mark(key)
            elif op == "reimage" and key in self._machines:
                self.check_disks(key, "after reimage")

    def track(self, key: str) -> None:
        """Keep the machine's health timeline: since when it has been down, if it is."""
        since = self.observer.down_since
        if self.healthy(key):
            since.pop(key, None)
        elif key not in since:
            since[key] = self.observer.now()

    def mark(self, key: str) -> None:
        """Write a marker on each data disk of a new machine, to look for after every reimage."""
        machine = self._machines.get(key)
        if machine is None or key in self.observer.markers:
            return
        luns = tuple(machine.spec.data_disk_luns)
        for lun in luns:
            self.data_disk(key, lun)["marker"] = f"{key}:{lun}"
        self.observer.markers[key] = luns

    def check_disks(self, key: str, when: str) -> None:
        for lun in self.observer.markers.get(key, ()):
            try:
                found = self.data_disk(key, lun).get("marker") == f"{key}:{lun}"
            except DriverError:
                found = False
            self.observer.obs.disks.append(inv.DiskCheck(t=self.observer.now(), machine=label(key), lun=lun, found=found,
                                                         when=when))

    def image_of(self, key: str) -> str | None:
        machine = self._machines.get(key)
        return machine.urn if machine is not None else None

    def keys(self) -> list[str]:
        return list(self._machines)
