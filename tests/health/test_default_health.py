"""Default health: running, and every extension provisioned successfully."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from scaleset.drivers.base import PowerState
from scaleset.health.default_health import default_verdict
from scaleset.health.verdicts import HealthState

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def ext(name: str, state: str, message: str = "") -> dict[str, str]:
    return {"name": name, "state": state, "message": message}


def test_running_with_every_extension_succeeded_is_healthy() -> None:
    verdict = default_verdict("running", [ext("a", "succeeded"), ext("b", "Succeeded")], now=NOW)
    assert verdict.state is HealthState.HEALTHY
    assert verdict.reason == "power state is running and all 2 extensions succeeded"
    assert verdict.at == NOW and verdict.answers == ()


def test_running_with_one_extension_names_it() -> None:
    verdict = default_verdict(PowerState.RUNNING, [ext("cse", "succeeded")], now=NOW)
    assert verdict.reason == "power state is running and extension 'cse' succeeded"


def test_running_without_extensions_is_healthy() -> None:
    verdict = default_verdict("PowerState/running", [], now=NOW)
    assert verdict.state is HealthState.HEALTHY
    assert verdict.reason == "power state is running; the model has no extensions"


@pytest.mark.parametrize("power", ["stopped", "stopping", "deallocated", "deallocating", "PowerState/stopped"])
def test_not_running_is_unhealthy_and_says_the_power_state(power: str) -> None:
    verdict = default_verdict(power, [ext("a", "succeeded")], now=NOW)
    assert verdict.state is HealthState.UNHEALTHY
    assert verdict.reason == f"power state is {power.removeprefix('PowerState/')}"


def test_starting_is_initializing() -> None:
    verdict = default_verdict("starting", [], now=NOW)
    assert (verdict.state, verdict.reason) == (HealthState.INITIALIZING, "power state is starting")


def test_no_machine_is_unknown() -> None:
    verdict = default_verdict("unknown", [], now=NOW)
    assert verdict.state is HealthState.UNKNOWN
    assert verdict.reason == "power state is unknown: no machine answers for this instance"


def test_an_unrecognised_power_state_is_unknown() -> None:
    verdict = default_verdict("hibernated", [], now=NOW)
    assert verdict.state is HealthState.UNKNOWN
    assert "hibernated" in verdict.reason


def test_a_failed_extension_is_unhealthy_and_named_with_its_message() -> None:
    verdict = default_verdict(
        "running",
        [ext("a", "transitioning"), ext("install", "failed", "exit code 3: apt-get failed"), ext("c", "succeeded")],
        now=NOW,
    )
    assert verdict.state is HealthState.UNHEALTHY
    assert verdict.reason == "extension 'install' failed: exit code 3: apt-get failed"


def test_a_failed_extension_without_a_message() -> None:
    verdict = default_verdict("running", [ext("x", "Failed")], now=NOW)
    assert verdict.reason == "extension 'x' failed"


def test_transitioning_extensions_are_initializing() -> None:
    verdict = default_verdict("running", [ext("a", "transitioning"), ext("b", "succeeded"), ext("c", "transitioning")], now=NOW)
    assert verdict.state is HealthState.INITIALIZING
    assert verdict.reason == "extensions 'a', 'c' still provisioning"


def test_power_state_outranks_extension_states() -> None:
    verdict = default_verdict("stopped", [ext("x", "failed", "boom")], now=NOW)
    assert verdict.reason == "power state is stopped"


def test_an_extension_with_a_strange_state_is_unknown() -> None:
    verdict = default_verdict("running", [ext("a", "succeeded"), {"name": "b"}], now=NOW)
    assert verdict.state is HealthState.UNKNOWN
    assert verdict.reason == "extension 'b' reports no state"
