"""ISO 8601 durations, as ARM uses them (PT5M, PT0S, P1DT2H, P2M)."""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+(?:\.\d+)?)Y)?(?:(?P<months>\d+(?:\.\d+)?)M)?(?:(?P<weeks>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
# Calendar units have no fixed length; these are the usual approximations (a month is 30 days).
_SECONDS = {"years": 365 * 86400, "months": 30 * 86400, "weeks": 7 * 86400, "days": 86400,
            "hours": 3600, "minutes": 60, "seconds": 1}


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration. Raises ValueError on anything else."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"'{text}' is not an ISO 8601 duration such as PT5M")
    return sum(float(value) * _SECONDS[unit] for unit, value in match.groupdict().items() if value)


def parse_seconds_or_duration(text: str) -> float:
    """A server flag's value: plain seconds ('300') or an ISO 8601 duration ('PT5M')."""
    try:
        return float(text)
    except ValueError:
        return parse_duration(text)


def format_duration(seconds: float) -> str:
    """Seconds as an ISO 8601 duration: 330 -> PT5M30S."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs or whole == 0 else "")
    return text
