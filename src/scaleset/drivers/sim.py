"""The sim driver: simulated machines on a clock, for what-if planning, scale and fault tests.

A machine is a few slots in memory; thousands fit in one process. Time is the injected clock:
with a `VirtualClock`, a 30-second boot costs no real time. The image artifact (see `sim_image`)
sets boot and reimage times, health, and faults that hit every machine made from it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scaleset.clock import Clock, RealClock
from scaleset.drivers.base import (
    Driver,
    DriverError,
    ExtensionState,
    ExtensionStatus,
    ImageArtifact,
    InstanceSpec,
    InstanceStatus,
    PowerState,
)
from scaleset.drivers.fencing import FenceBook
from scaleset.drivers.machine_dir import read_json, write_json_atomic
from scaleset.drivers.sim_image import SimImage, install_sim_image
from scaleset.drivers.sim_machine import Machine, machine_document, machine_from, settled
from scaleset.health.answers import ProbeAnswer
from scaleset.health.probe_spec import ProbeSpec

OPERATIONS = frozenset({"create", "reimage", "start", "stop", "deallocate", "delete"})
class SimDriver(Driver):
    """Simulated machines.

    Sim-only extras:
    - `healthy(key)`: what the machine's app would answer a health probe: False unless running;
      then the injected health if any, else False while the app warms up (the image's
      `warmupSeconds` since it came up), then the image's `healthy`.
    - `inject(key, *, healthy=None, power_state=None, fail_next=None)`: faults. `healthy` overrides
      the app's health until the next reimage (a new OS disk). `power_state` sets the power state
      at once (e.g. STOPPED: the machine crashed) and overtakes any operation under way.
      `fail_next` names an operation in OPERATIONS whose next call on this key raises DriverError
      after its usual time (create and reimage leave the same state as the image's failCreate /
      failReimage; start leaves it stopped; stop, deallocate and delete change nothing); it may
      name a key that does not exist yet, to fail its create.
    - `data_disk(key, lun)`: the disk's contents, a small dict to read and write; kept by reimage,
      gone with delete.
    - With `root`, the machines are read from `root/machines.json` at construction and written
      there by `snapshot()` and `close()`, so a new server adopts them. Protected settings and
      injected faults are not kept.

    Operations on one key are not queued: a later call overtakes an earlier one still waiting on
    the clock, which then returns without acting (a stop during a start wins).

    It reports every change of a machine's states (`watch`) and knows until when its health answer
    holds (`quiet_until`: until its app has warmed up, then until something changes it), so a
    machine that changes nothing costs the control plane nothing between two changes.
    """

    name = "sim"
    # Simulated machines only wait on the clock: a batch of any size goes at once.
    parallel_operations = 1_000_000

    def __init__(self, clock: Clock | None = None, *, root: Path | None = None) -> None:
        self._clock = clock or RealClock()
        self._root = root
        self._machines: dict[str, Machine] = {}
        self._images: dict[Path, SimImage] = {}
        self._faults: dict[str, set[str]] = {}
        self._fences = FenceBook()  # in memory: replicas sharing a simulator share one process
        self._watchers: list[Callable[[str], None]] = []
        # Shared by every machine in the same state, rather than one copy each: a million
        # machines share a handful (keyed by extension names and outcome, or by answer).
        self._statuses: dict[tuple[Any, ...], tuple[ExtensionStatus, ...]] = {}
        self._answers: dict[tuple[Any, ...], ProbeAnswer] = {}
        if root is not None:
            self._load(root / "machines.json")

    async def install_image(self, upload: Path, dest: Path) -> None:
        self._images[dest] = await asyncio.to_thread(install_sim_image, upload, dest)

    async def create(self, spec: InstanceSpec, *, fence: int = 0) -> None:
        self._fences.check(spec.key, fence)
        machine = self._machines.get(spec.key)
        if machine is not None:
            await self._start(spec.key, machine)
            return
        image = self._image(spec.image)
        machine = self._machines[spec.key] = Machine(spec, image, PowerState.STARTING)
        self._changed(spec.key)
        if not await self._wait(spec.key, machine, image.boot_seconds):
            return
        if image.fail_create or self._take_fault(spec.key, "create"):
            del self._machines[spec.key]
            self._changed(spec.key)
            raise DriverError(f"simulated failure creating {spec.key!r} from {spec.image.urn}")
        self._run(machine)

    async def reimage(self, spec: InstanceSpec, *, fence: int = 0) -> None:
        (failure,) = await SimDriver.reimage_many(self, [spec], fence=fence)
        if failure is not None:
            raise failure

    async def reimage_many(self, specs: Sequence[InstanceSpec], *, fence: int = 0) -> list[BaseException | None]:
        """A batch as one: the machines wait on the clock together, not in a task each (a fifth of
        a million may be reimaged at once)."""
        failures: list[BaseException | None] = [None] * len(specs)
        waiting: list[tuple[float, int, Machine, SimImage, int]] = []  # (seconds, index, machine, image, op)
        done: list[tuple[int, str, Machine]] = []  # this generation's reimage was done already
        for index, spec in enumerate(specs):
            try:
                self._fences.check(spec.key, fence)
                machine = self._existing(spec.key)
                if spec.generation and machine.spec.generation == spec.generation:
                    done.append((index, spec.key, machine))
                    continue
                image = self._image(spec.image)
            except Exception as failure:  # noqa: BLE001 - that machine's, as its own reimage would raise
                failures[index] = failure
                continue
            machine.power = PowerState.STARTING
            machine.extensions = self._shared_statuses(spec, (ExtensionState.TRANSITIONING, ""))
            self._changed(spec.key)
            machine.op += 1
            waiting.append((image.reimage_seconds, index, machine, image, machine.op))
        if done:
            started = await asyncio.gather(*(self._start(key, machine) for _, key, machine in done), return_exceptions=True)
            for (index, _, _), failure in zip(done, started):
                failures[index] = failure
        waited = 0.0
        for seconds, index, machine, image, op in sorted(waiting, key=lambda w: w[:2]):
            if seconds > waited:
                await self._clock.sleep(seconds - waited)
                waited = seconds
            spec = specs[index]
            if self._machines.get(spec.key) is not machine or machine.op != op:
                continue  # another operation overtook this one meanwhile
            if image.fail_reimage or self._take_fault(spec.key, "reimage"):
                machine.power = PowerState.STOPPED
                machine.extensions = settled(machine.extensions)
                self._changed(spec.key)
                failures[index] = DriverError(f"simulated failure reimaging {spec.key!r} to {spec.image.urn}")
                continue
            machine.spec, machine.image, machine.urn, machine.healthy = spec, image, spec.image.urn, None
            self._run(machine)
        return failures

    async def start(self, key: str, *, fence: int = 0) -> None:
        self._fences.check(key, fence)
        await self._start(key, self._existing(key))

    async def stop(self, key: str, *, fence: int = 0) -> None:
        self._fences.check(key, fence)
        self._power_off(key, self._existing(key), PowerState.STOPPED)

    async def deallocate(self, key: str, *, fence: int = 0) -> None:
        self._fences.check(key, fence)
        self._power_off(key, self._existing(key), PowerState.DEALLOCATED, op="deallocate")

    async def delete(self, key: str, *, fence: int = 0) -> None:
        self._fences.check(key, fence)
        machine = self._machines.get(key)
        if machine is None:
            return
        if self._take_fault(key, "delete"):
            raise DriverError(f"simulated failure deleting {key!r}")
        machine.op += 1
        del self._machines[key]
        self._changed(key)

    async def status(self, key: str) -> InstanceStatus:
        machine = self._machines.get(key)
        if machine is None:
            return InstanceStatus(PowerState.UNKNOWN)
        return InstanceStatus(machine.power, machine.urn, machine.extensions)

    async def endpoint(self, key: str, port: int) -> tuple[str, int]:
        return self._existing(key).spec.private_ip, port

    async def probe(self, key: str, spec: ProbeSpec, *, client: Any = None, clock: Clock | None = None) -> ProbeAnswer:
        return self.answer_now(key, spec, clock or self._clock)

    def answer_now(self, key: str, spec: ProbeSpec, clock: Clock) -> ProbeAnswer:
        # The simulator has no network: its machines say how they would answer.
        ok, at = self.healthy(key), clock.now()
        found = self._answers.get((at, ok, spec.rich))
        if found is None:
            if self._answers and next(iter(self._answers))[0] != at:
                self._answers.clear()  # only answers of this instant are shared
            found = self._answers[(at, ok, spec.rich)] = ProbeAnswer(
                at=at, ok=ok, status_code=200 if ok else 503, latency_ms=0.0, error=None if ok else "HTTP 503",
                app_state=("Healthy" if ok else "Unhealthy") if spec.rich else None)
        return found

    def watch(self, listener: Callable[[str], None]) -> Callable[[], None]:
        self._watchers.append(listener)
        return lambda: self._watchers.remove(listener) if listener in self._watchers else None

    def quiet_until(self, key: str) -> float:
        machine = self._machines.get(key)
        if machine is None or machine.power is not PowerState.RUNNING or machine.healthy is not None:
            return math.inf
        warm = _warm_at(machine)
        return warm if machine.image.healthy and warm > self._clock.monotonic() else math.inf

    async def close(self) -> None:
        self.snapshot()

    # -- sim-only

    def healthy(self, key: str) -> bool:
        machine = self._machines.get(key)
        if machine is None or machine.power is not PowerState.RUNNING:
            return False
        if machine.healthy is not None:
            return machine.healthy
        return machine.image.healthy and self._clock.monotonic() >= _warm_at(machine)

    def inject(
        self,
        key: str,
        *,
        healthy: bool | None = None,
        power_state: PowerState | None = None,
        fail_next: str | None = None,
    ) -> None:
        if fail_next is not None:
            if fail_next not in OPERATIONS:
                raise ValueError(f"fail_next must be one of {', '.join(sorted(OPERATIONS))}")
            self._faults.setdefault(key, set()).add(fail_next)
        if healthy is not None:
            self._existing(key).healthy = healthy
        if power_state is not None:
            machine = self._existing(key)
            machine.op += 1
            machine.power = PowerState(power_state)
            if machine.power is not PowerState.RUNNING:
                machine.extensions = settled(machine.extensions)
        if healthy is not None or power_state is not None:
            self._changed(key)

    def data_disk(self, key: str, lun: int) -> dict[str, str]:
        machine = self._existing(key)
        if lun not in machine.spec.data_disk_luns and lun not in (machine.disks or {}):
            raise DriverError(f"machine {key!r} has no data disk at lun {lun}")
        if machine.disks is None:
            machine.disks = {}
        return machine.disks.setdefault(lun, {})

    def snapshot(self) -> None:
        """Write every machine to `root/machines.json` (nothing without a root)."""
        if self._root is None:
            return
        self._root.mkdir(parents=True, exist_ok=True)
        document = {key: machine_document(m) for key, m in self._machines.items()}
        write_json_atomic(self._root / "machines.json", document)

    # -- plumbing

    async def _start(self, key: str, machine: Machine) -> None:
        if machine.power in (PowerState.RUNNING, PowerState.STARTING):
            return
        machine.power = PowerState.STARTING
        self._changed(key)
        if not await self._wait(key, machine, machine.image.boot_seconds):
            return
        if self._take_fault(key, "start"):
            machine.power = PowerState.STOPPED
            self._changed(key)
            raise DriverError(f"simulated failure starting {key!r}")
        machine.power = PowerState.RUNNING
        machine.running_since = self._clock.monotonic()
        self._changed(key)

    def _power_off(self, key: str, machine: Machine, power: PowerState, *, op: str = "stop") -> None:
        if self._take_fault(key, op):
            raise DriverError(f"simulated failure: {op} {key!r}")
        machine.op += 1
        if not (power is PowerState.STOPPED and machine.power is PowerState.DEALLOCATED):
            machine.power = power
        machine.extensions = settled(machine.extensions)
        self._changed(key)

    async def _wait(self, key: str, machine: Machine, seconds: float) -> bool:
        """Spend `seconds` on the clock; False if another operation overtook this one meanwhile."""
        machine.op += 1
        token = machine.op
        if seconds > 0:
            await self._clock.sleep(seconds)
        return self._machines.get(key) is machine and machine.op == token

    def _run(self, machine: Machine) -> None:
        machine.power = PowerState.RUNNING
        machine.running_since = self._clock.monotonic()
        if machine.image.extensions_fail:
            outcome = ExtensionState.FAILED, "simulated extension failure (image extensionsFail)"
        else:
            outcome = ExtensionState.SUCCEEDED, "simulated"
        machine.extensions = self._shared_statuses(machine.spec, outcome)
        self._changed(machine.spec.key)

    def _shared_statuses(self, spec: InstanceSpec, outcome: tuple[ExtensionState, str]) -> tuple[ExtensionStatus, ...]:
        """Every extension of the spec in the same state: one tuple for all machines alike."""
        names = tuple(e.name for e in spec.extensions)
        return self._statuses.get((names, outcome)) or self._statuses.setdefault(
            (names, outcome), tuple(ExtensionStatus(name, *outcome) for name in names))

    def _changed(self, key: str) -> None:
        for listener in self._watchers:
            listener(key)

    def _take_fault(self, key: str, op: str) -> bool:
        faults = self._faults.get(key)
        if not faults or op not in faults:
            return False
        faults.discard(op)
        if not faults:
            del self._faults[key]
        return True

    def _image(self, artifact: ImageArtifact) -> SimImage:
        image = self._images.get(artifact.path)
        if image is None:
            document = read_json(artifact.path / "image.json")
            if document is None:
                raise DriverError(f"image {artifact.urn} is not installed at {artifact.path}")
            image = self._images[artifact.path] = SimImage.from_document(document)
        return image

    def _existing(self, key: str) -> Machine:
        machine = self._machines.get(key)
        if machine is None:
            raise DriverError(f"no machine {key!r}")
        return machine

    def _load(self, path: Path) -> None:
        for key, document in (read_json(path) or {}).items():
            machine = machine_from(document)
            self._machines[key] = machine
            self._images.setdefault(machine.spec.image.path, machine.image)
            # An operation under way when the snapshot was taken finished while no one watched.
            if machine.power is PowerState.STARTING:
                self._run(machine)
            elif machine.power in (PowerState.STOPPING, PowerState.DEALLOCATING):
                machine.power = PowerState.STOPPED if machine.power is PowerState.STOPPING else PowerState.DEALLOCATED


def _warm_at(machine: Machine) -> float:
    """When the machine's app has warmed up: one sum for both the answer and how long it holds. In
    floating point `now - since >= warmup` and `since + warmup <= now` can disagree, and an app then
    answered unhealthy while the driver vouched that nothing would change: no probe came again."""
    return machine.running_since + machine.image.warmup_seconds
