"""Waiting for a machine to settle: create and reimage return before extensions finish."""

from __future__ import annotations

from scaleset.clock import Clock, RealClock
from scaleset.drivers.base import Driver, ExtensionState, InstanceStatus, PowerState


async def wait_for_extensions(
    driver: Driver,
    key: str,
    *,
    timeout: float = 600.0,
    interval: float = 0.05,
    clock: Clock | None = None,
) -> InstanceStatus:
    """Poll `driver.status(key)` until the machine is past starting and no extension is transitioning.

    Returns that status (extensions then succeeded or failed). Raises TimeoutError after `timeout`
    seconds on `clock` (real time by default).
    """
    clock = clock or RealClock()
    deadline = clock.monotonic() + timeout
    while True:
        status = await driver.status(key)
        if status.power_state is not PowerState.STARTING and not any(
            e.state is ExtensionState.TRANSITIONING for e in status.extensions
        ):
            return status
        if clock.monotonic() >= deadline:
            raise TimeoutError(f"machine {key!r} still provisioning after {timeout:g}s: {status}")
        await clock.sleep(interval)
