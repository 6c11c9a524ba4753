"""Verdicts as ARM instance-view statuses and as our own JSON."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from scaleset.health.answers import ProbeAnswer
from scaleset.health.verdicts import HealthState, Verdict

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("state", "code", "level", "display"),
    [
        (HealthState.HEALTHY, "HealthState/healthy", "Info", "The VM is reporting healthy"),
        (HealthState.UNHEALTHY, "HealthState/unhealthy", "Error", "The VM is reporting unhealthy"),
        (HealthState.UNKNOWN, "HealthState/unknown", "Warning", "The VM health is unknown"),
        (HealthState.INITIALIZING, "HealthState/initializing", "Info", "The VM health is initializing"),
    ],
)
def test_instance_view_status_has_azure_codes_and_displays(
    state: HealthState, code: str, level: str, display: str
) -> None:
    verdict = Verdict(state, "because", since=T0, at=T0 + timedelta(seconds=5))
    assert verdict.as_instance_view_status() == {
        "code": code,
        "level": level,
        "displayStatus": display,
        "message": "because",
        "time": "2026-03-01T12:00:05+00:00",
    }
    assert state.code == code


def test_instance_view_status_without_a_time_leaves_time_out() -> None:
    status = Verdict(HealthState.UNKNOWN, "no probe answer yet").as_instance_view_status()
    assert "time" not in status


def test_health_state_values_are_lower_case_strings() -> None:
    assert [str(s) for s in HealthState] == ["healthy", "unhealthy", "unknown", "initializing"]


def test_a_verdict_keeps_at_most_five_answers_newest_last() -> None:
    answers = tuple(ProbeAnswer(at=T0 + timedelta(seconds=i), ok=True) for i in range(7))
    verdict = Verdict(HealthState.HEALTHY, "ok", answers=answers)
    assert verdict.answers == answers[-5:]
    assert verdict.healthy


def test_verdict_as_json_carries_the_evidence() -> None:
    answer = ProbeAnswer(at=T0, ok=False, latency_ms=0.5, error="connection refused")
    verdict = Verdict(HealthState.UNHEALTHY, "the last probe failed: connection refused", answers=(answer,), since=T0, at=T0)
    assert verdict.as_json() == {
        "state": "unhealthy",
        "reason": "the last probe failed: connection refused",
        "since": "2026-03-01T12:00:00+00:00",
        "time": "2026-03-01T12:00:00+00:00",
        "answers": [answer.as_json()],
    }
