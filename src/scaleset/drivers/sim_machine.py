"""A simulated machine (drivers/sim.py): a few slots in memory, and its form in a snapshot."""

from __future__ import annotations

from typing import Any

from scaleset.drivers.base import ExtensionState, ExtensionStatus, InstanceSpec, PowerState
from scaleset.drivers.sim_image import SimImage
from scaleset.drivers.spec_json import spec_from_document, spec_to_document

_INTERRUPTED = "interrupted: the machine stopped before the extension finished"


class Machine:
    """One simulated machine: slots, not a dict (a million fit in one process)."""

    __slots__ = ("spec", "image", "power", "urn", "extensions", "healthy", "disks", "op", "running_since")

    def __init__(self, spec: InstanceSpec, image: SimImage, power: PowerState) -> None:
        self.spec = spec
        self.image = image
        self.power = power
        self.urn = spec.image.urn
        self.extensions: tuple[ExtensionStatus, ...] = transitioning(spec)
        self.healthy: bool | None = None  # injected health; None follows the image
        self.disks: dict[int, dict[str, str]] | None = None  # made on first use
        self.op = 0  # bumped by every operation, so a slower one finds it was overtaken
        # clock.monotonic() when it last came up, its app warming up from then; one adopted from a
        # snapshot came up long ago.
        self.running_since = float("-inf")


def transitioning(spec: InstanceSpec) -> tuple[ExtensionStatus, ...]:
    return tuple(ExtensionStatus(e.name, ExtensionState.TRANSITIONING) for e in spec.extensions)


def settled(statuses: tuple[ExtensionStatus, ...]) -> tuple[ExtensionStatus, ...]:
    """The statuses once the machine stopped: an extension still running then has failed."""
    if not any(s.state is ExtensionState.TRANSITIONING for s in statuses):
        return statuses
    return tuple(
        ExtensionStatus(s.name, ExtensionState.FAILED, _INTERRUPTED) if s.state is ExtensionState.TRANSITIONING else s
        for s in statuses
    )


def machine_document(machine: Machine) -> dict[str, Any]:
    return {
        "spec": spec_to_document(machine.spec),
        "image": machine.image.to_document(),
        "power": machine.power.value,
        "urn": machine.urn,
        "extensions": [[s.name, s.state.value, s.message] for s in machine.extensions],
        "healthy": machine.healthy,
        "disks": {str(lun): disk for lun, disk in (machine.disks or {}).items()},
    }


def machine_from(document: dict[str, Any]) -> Machine:
    spec = spec_from_document(document["spec"])
    machine = Machine(spec, SimImage.from_document(document["image"]), PowerState(document["power"]))
    machine.urn = document["urn"]
    machine.extensions = tuple(ExtensionStatus(n, ExtensionState(s), m) for n, s, m in document["extensions"])
    machine.healthy = document["healthy"]
    machine.disks = {int(lun): disk for lun, disk in document["disks"].items()} or None
    return machine
