"""The api-version query parameter: required everywhere, within the range this server speaks."""

from __future__ import annotations

import re
from datetime import date

from scaleset.service.errors import ArmError

OLDEST, NEWEST = "2018-10-01", "2026-09-01"
_FORMAT = re.compile(r"^(\d{4}-\d{2}-\d{2})(-preview|-beta|-alpha)?$", re.IGNORECASE)


def check(value: str | None) -> str:
    if value is None or value == "":
        raise ArmError(400, "MissingApiVersionParameter",
                       "The api-version query parameter (?api-version=) is required for all requests.", target="api-version")
    match = _FORMAT.match(value)
    if not match or not _is_date(match.group(1)) or not (OLDEST <= match.group(1) <= NEWEST):
        raise ArmError(400, "InvalidApiVersionParameter",
                       f"The api-version '{value}' is invalid. The supported versions are from '{OLDEST}' to '{NEWEST}'.",
                       target="api-version")
    return value


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def at_least(value: str, version: str) -> bool:
    return value[:10] >= version


def nearest(value: str) -> str:
    """The api-version this server speaks that is nearest to `value`: templates name the versions
    they were written for (2015-06-15, 2017-03-30...), and ARM still serves those."""
    day = value[:10]
    if day < OLDEST:
        return OLDEST
    if day > NEWEST:
        return NEWEST
    return value
