"""Health without a probe: what Azure falls back on when a scale set names no health signal.

An instance is healthy when it is running and every extension provisioned successfully. The
reason names the first thing that keeps it from being so. Order matters: a failed extension is
reported before one still transitioning, since waiting will not fix it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scaleset.drivers.base import ExtensionState, PowerState
from scaleset.health.verdicts import HealthState, Verdict

# Power states on the way to running: not unhealthy yet, just not there.
_ON_THE_WAY = {PowerState.STARTING}


def default_verdict(power_state: str, extensions: list[dict[str, Any]], *, now: datetime) -> Verdict:
    """Judge one instance by its power state and its extensions' provisioning states.

    `power_state` is a `PowerState` value ("running") or an instance-view code
    ("PowerState/running"); `extensions` are `{"name", "state", "message"}` with `state` one of
    succeeded / failed / transitioning, in any case.
    """
    power = _power_state(power_state)
    if power is None:
        return Verdict(HealthState.UNKNOWN, f"power state {power_state!r} is not one we know", at=now)
    if power is PowerState.UNKNOWN:
        return Verdict(HealthState.UNKNOWN, "power state is unknown: no machine answers for this instance", at=now)
    if power in _ON_THE_WAY:
        return Verdict(HealthState.INITIALIZING, f"power state is {power.value}", at=now)
    if power is not PowerState.RUNNING:
        return Verdict(HealthState.UNHEALTHY, f"power state is {power.value}", at=now)

    transitioning: list[str] = []
    odd: list[tuple[str, str]] = []
    for ext in extensions:
        name = str(ext.get("name", "?"))
        state = str(ext.get("state", "")).lower()
        if state == ExtensionState.FAILED:
            message = str(ext.get("message") or "").strip()
            return Verdict(
                HealthState.UNHEALTHY,
                f"extension '{name}' failed" + (f": {message}" if message else ""),
                at=now,
            )
        if state == ExtensionState.TRANSITIONING:
            transitioning.append(name)
        elif state != ExtensionState.SUCCEEDED:
            odd.append((name, state))
    if transitioning:
        names = ", ".join(f"'{name}'" for name in transitioning)
        noun = "extension" if len(transitioning) == 1 else "extensions"
        return Verdict(HealthState.INITIALIZING, f"{noun} {names} still provisioning", at=now)
    if odd:
        name, state = odd[0]
        return Verdict(HealthState.UNKNOWN, f"extension '{name}' reports " + (f"state {state!r}" if state else "no state"), at=now)
    if not extensions:
        return Verdict(HealthState.HEALTHY, "power state is running; the model has no extensions", at=now)
    which = f"extension '{extensions[0].get('name', '?')}'" if len(extensions) == 1 else f"all {len(extensions)} extensions"
    return Verdict(HealthState.HEALTHY, f"power state is running and {which} succeeded", at=now)


def _power_state(value: str) -> PowerState | None:
    text = str(value).strip().lower()
    if text.startswith("powerstate/"):
        text = text.removeprefix("powerstate/")
    try:
        return PowerState(text)
    except ValueError:
        return None
