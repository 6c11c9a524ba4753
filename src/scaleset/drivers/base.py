"""The compute-driver contract.

A driver turns instance specs into machines. Drivers are dumb and idempotent: every call may be
repeated after a crash with the same result, and no policy lives here (batching, health gating and
retries belong to `upgrade/` and `service/`). Each call is keyed by `InstanceSpec.key`, unique on
the server, and everything a driver needs to act again after a restart it keeps itself, so a new
server process adopts the machines an earlier one made.
"""

from __future__ import annotations

import abc
import asyncio
import math
from dataclasses import dataclass, field
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scaleset.clock import Clock
    from scaleset.health.answers import ProbeAnswer
    from scaleset.health.http_probe import Prober
    from scaleset.health.probe_spec import ProbeSpec

# Asked while a TCP connection just made to a machine is open: whether the machine itself took it.
AcceptCheck = Callable[[], Awaitable[bool]]


class DriverError(Exception):
    """A driver call failed; the message is shown to the user."""


class InvalidArtifact(DriverError):
    """An image artifact this driver cannot boot (refused at publish)."""


class PowerState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    DEALLOCATING = "deallocating"
    DEALLOCATED = "deallocated"
    UNKNOWN = "unknown"  # the driver has no machine under this key


class ExtensionState(StrEnum):
    TRANSITIONING = "transitioning"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class ImageArtifact:
    """An installed image version: what `install_image` left in `path`."""

    urn: str  # publisher:offer:sku:version
    path: Path


@dataclass(frozen=True)
class ExtensionSpec:
    name: str
    publisher: str
    type: str
    type_handler_version: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    protected_settings: dict[str, Any] = field(default_factory=dict)  # secret: never written to disk in clear
    provision_after: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)  # slots: a simulator keeps one for each of a million machines
class InstanceSpec:
    key: str  # unique on this server; names the machine in every call
    instance_id: str
    computer_name: str
    private_ip: str
    image: ImageArtifact
    custom_data: bytes | None = None  # decoded osProfile.customData
    sku: str = ""  # the scale set's SKU name: drivers that size machines read it
    ports: tuple[int, ...] = ()  # machine ports the host must reach: the health probe's, the load balancer's
    data_disk_luns: tuple[int, ...] = ()
    extensions: tuple[ExtensionSpec, ...] = ()  # in model order; drivers honour provision_after
    # The caller's number for this (re)image. A reimage carrying the generation the machine already
    # has was carried out already (before a crash, say): the driver then only makes sure it runs.
    generation: int = 0


@dataclass(frozen=True)
class ExtensionStatus:
    name: str
    state: ExtensionState
    message: str = ""


@dataclass(frozen=True)
class InstanceStatus:
    power_state: PowerState
    image_urn: str | None = None
    extensions: tuple[ExtensionStatus, ...] = ()


class Driver(abc.ABC):
    """What every compute driver does. All calls are idempotent."""

    name: str
    # Whether a machine is reached at its private IP (else at an address `endpoint` makes up, such
    # as a forwarded port): health reasons then name the private IP, or only the port.
    reached_at_private_ip: bool = True
    # How many operations the control plane runs on it at once (each local process or VM costs the
    # host memory and CPU while it starts); the part of a larger batch beyond it waits for a slot.
    parallel_operations: int = 32
    _slots: asyncio.Semaphore | None = None

    @abc.abstractmethod
    async def install_image(self, upload: Path, dest: Path) -> None:
        """Unpack and check an uploaded artifact into the empty directory `dest`.

        Raises InvalidArtifact with a message naming what is wrong.
        """

    # Every call that changes a machine takes `fence`: the caller's fencing token (drivers/fencing.py).

    @abc.abstractmethod
    async def create(self, spec: InstanceSpec, *, fence: int = 0) -> None:
        """Make the machine (OS disk from spec.image, empty data disks) and start it.

        Returns once it is started; custom data and extensions may still be running.
        """

    @abc.abstractmethod
    async def reimage(self, spec: InstanceSpec, *, fence: int = 0) -> None:
        """Replace the OS disk with a new one from spec.image, keep the data disks, start again.

        Custom data and extensions run again, as after create. Idempotent per generation: a
        reimage whose spec.generation (non-zero) the machine already has is not done twice.
        """

    async def create_many(self, specs: Sequence[InstanceSpec], *, fence: int = 0) -> list[BaseException | None]:
        """create() each of `specs` (machines of one scale set, from one image): what each raised, or
        None. They run side by side, at most `parallel_operations` at once; a driver that can act on
        a batch as one (the sim) overrides this and reimage_many."""
        return await self._side_by_side(self.create, specs, fence)

    async def reimage_many(self, specs: Sequence[InstanceSpec], *, fence: int = 0) -> list[BaseException | None]:
        """reimage() each of `specs`, as create_many does."""
        return await self._side_by_side(self.reimage, specs, fence)

    def slots(self) -> asyncio.Semaphore:
        """The bound on operations at once (`parallel_operations`), which every caller shares."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.parallel_operations)
        return self._slots

    async def _side_by_side(self, call: Callable[..., Awaitable[None]], specs: Sequence[InstanceSpec],
                            fence: int) -> list[BaseException | None]:
        async def one(spec: InstanceSpec) -> None:
            async with self.slots():
                await call(spec, fence=fence)

        return list(await asyncio.gather(*(one(spec) for spec in specs), return_exceptions=True))

    @abc.abstractmethod
    async def start(self, key: str, *, fence: int = 0) -> None: ...

    @abc.abstractmethod
    async def stop(self, key: str, *, fence: int = 0) -> None:
        """Power off; the machine keeps its disks and its place."""

    @abc.abstractmethod
    async def deallocate(self, key: str, *, fence: int = 0) -> None:
        """Power off and release compute; disks stay."""

    async def restart(self, key: str, *, fence: int = 0) -> None:
        await self.stop(key, fence=fence)
        await self.start(key, fence=fence)

    @abc.abstractmethod
    async def delete(self, key: str, *, fence: int = 0) -> None:
        """Remove the machine with its OS and data disks. Deleting what is gone succeeds."""

    @abc.abstractmethod
    async def status(self, key: str) -> InstanceStatus: ...

    @abc.abstractmethod
    async def endpoint(self, key: str, port: int) -> tuple[str, int]:
        """The host address and port where a connection to the machine's `port` lands.

        Raises DriverError when the machine has none (it does not exist, or does not run).
        """

    def tcp_accept_check(self, key: str, port: int) -> AcceptCheck | None:
        """How a TCP probe learns the machine accepted its connection, when a completed connect
        does not prove it (a port forwarder accepts on the machine's behalf). None: it does."""
        return None

    async def probe(self, key: str, spec: ProbeSpec, *, client: Prober | None = None,
                    clock: Clock | None = None) -> ProbeAnswer:
        """One health probe of the machine as `spec` says; never raises for what the machine does."""
        from scaleset.health.probing import probe_once, unreachable

        try:
            host, port = await self.endpoint(key, spec.port)
        except DriverError as error:
            return unreachable(str(error), clock)
        return await probe_once(host, spec, port=port, client=client, clock=clock,
                                accepted=self.tcp_accept_check(key, spec.port))

    def answer_now(self, key: str, spec: ProbeSpec, clock: Clock) -> ProbeAnswer | None:
        """The probe's answer when the driver knows it without asking the machine (the simulator's
        machines say how they would answer): the watch then takes it at once, with no probe to
        wait on. None (the default): the probe goes to the machine, through `probe`."""
        return None

    def watch(self, listener: Callable[[str], None]) -> Callable[[], None] | None:
        """Have `listener` called with a machine's key whenever its power, extension or health
        state changes, and get back how to stop. None from a driver that cannot tell (the
        default): the control plane then looks at its machines and probes them every interval.
        A driver that can (the simulator) spares it that work for machines that change nothing."""
        return None

    def quiet_until(self, key: str) -> float:
        """For a driver that reports changes (`watch`): until when (`clock.monotonic()`) the
        machine's health answer stays what it is unless a change is reported; inf when only a
        reported change can alter it. Others cannot say: their answers may change at any time."""
        return -math.inf

    async def close(self) -> None:
        """Release what the driver holds in this process; machines keep running."""
