"""ISO 8601 durations as ARM writes them parse to seconds; anything else is refused."""

from __future__ import annotations

import pytest

from scaleset.model.durations import parse_duration, parse_seconds_or_duration

DAY = 86400


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("PT0S", 0, id="zero"),
        pytest.param("PT5M", 300, id="minutes"),
        pytest.param("P1DT2H", DAY + 2 * 3600, id="days-and-hours"),
        pytest.param("PT1.5S", 1.5, id="fractional-seconds"),
        pytest.param("P2M", 2 * 30 * DAY, id="months-are-30-days"),
        pytest.param("PT30M", 1800, id="grace-period-default"),
        pytest.param("P1W", 7 * DAY, id="weeks"),
        pytest.param("P1Y", 365 * DAY, id="years"),
        pytest.param("PT1H2M3S", 3723, id="all-time-units"),
        pytest.param("pt5m", 300, id="lower-case"),
        pytest.param(" PT5M ", 300, id="surrounding-space"),
    ],
)
def test_valid_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("P", id="designator-only"),
        pytest.param("PT", id="time-designator-only"),
        pytest.param("5M", id="no-P"),
        pytest.param("P1H", id="hours-without-T"),
        pytest.param("P1DT", id="T-without-time"),
        pytest.param("5 minutes", id="prose"),
        pytest.param("PT-5M", id="negative"),
        pytest.param("PT5", id="no-unit"),
        pytest.param("PT5M3H", id="units-out-of-order"),
    ],
)
def test_invalid_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)


@pytest.mark.parametrize("value", [None, 300, ["PT5M"]], ids=["none", "int", "list"])
def test_non_strings_are_refused_with_value_error(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "seconds"), [("300", 300), ("0.5", 0.5), ("PT5M", 300), ("P1D", DAY)])
def test_server_flags_take_plain_seconds_or_durations(text: str, seconds: float) -> None:
    assert parse_seconds_or_duration(text) == seconds


def test_server_flag_that_is_neither_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_seconds_or_duration("five minutes")
