"""A health verdict: the state, a sentence saying why, and the evidence it rests on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from scaleset.health.answers import ProbeAnswer

MAX_ANSWERS = 5  # evidence kept with a verdict, newest last


class HealthState(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"
    INITIALIZING = "initializing"

    @property
    def code(self) -> str:
        """The instance-view code Azure uses: `HealthState/healthy`."""
        return f"HealthState/{self.value}"


def gate(state: HealthState | None) -> bool | None:
    """What a health state says to whoever gates on it (a run): None until it is settled (none
    yet, unknown, initializing), then whether it is healthy."""
    return _GATE.get(state)  # type: ignore[arg-type]


_GATE = {HealthState.HEALTHY: True, HealthState.UNHEALTHY: False}  # a lookup: asked a few times an instance a batch


# Azure's displayStatus for each `vmHealth` code.
_DISPLAY = {
    HealthState.HEALTHY: "The VM is reporting healthy",
    HealthState.UNHEALTHY: "The VM is reporting unhealthy",
    HealthState.UNKNOWN: "The VM health is unknown",
    HealthState.INITIALIZING: "The VM health is initializing",
}
# Levels are ours to choose (Azure's own are not documented): a reader scanning an instance view
# should see at a glance which instance needs attention, and an unknown health needs a look.
_LEVEL = {
    HealthState.HEALTHY: "Info",
    HealthState.INITIALIZING: "Info",
    HealthState.UNKNOWN: "Warning",
    HealthState.UNHEALTHY: "Error",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    state: HealthState
    reason: str  # a sentence for people: "last 2 probes failed: connection refused"
    answers: tuple[ProbeAnswer, ...] = ()  # at most MAX_ANSWERS, newest last
    since: datetime | None = None  # when the state last changed, if known
    at: datetime | None = None  # the moment this verdict speaks for

    def __post_init__(self) -> None:
        if len(self.answers) > MAX_ANSWERS:
            object.__setattr__(self, "answers", tuple(self.answers[-MAX_ANSWERS:]))

    @property
    def healthy(self) -> bool:
        return self.state is HealthState.HEALTHY

    def as_instance_view_status(self) -> dict[str, Any]:
        """The ARM `InstanceViewStatus` for `instanceView.vmHealth.status`."""
        status: dict[str, Any] = {
            "code": self.state.code,
            "level": _LEVEL[self.state],
            "displayStatus": _DISPLAY[self.state],
            "message": self.reason,
        }
        when = self.at or self.since
        if when is not None:
            status["time"] = when.isoformat()
        return status

    def as_json(self) -> dict[str, Any]:
        """The full verdict for our own API and dashboard, evidence included."""
        return {
            "state": self.state.value,
            "reason": self.reason,
            "since": self.since.isoformat() if self.since else None,
            "time": self.at.isoformat() if self.at else None,
            "answers": [answer.as_json() for answer in self.answers],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        """A verdict stored by the replica that probes the instance, read back by any other."""
        def when(text: str | None) -> datetime | None:
            return datetime.fromisoformat(text) if text else None

        return cls(state=HealthState(data["state"]), reason=data["reason"], since=when(data.get("since")),
                   at=when(data.get("time")), answers=tuple(ProbeAnswer.from_json(a) for a in data.get("answers") or ()))
