"""Fencing tokens at the driver: a machine refuses calls from a replica whose lease was taken over.

Every call that changes a machine carries the token of the lease its caller holds (0: a caller
outside the lease scheme, such as a test or a tool). The machine keeps the highest token it has
seen; a call carrying a lower one comes from a replica that lost its lease (paused, cut off) and
is refused, whatever that replica believes.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from scaleset.drivers.base import DriverError


class Fenced(DriverError):
    """The call carried an older fencing token than one this machine has already seen."""

    def __init__(self, key: str, token: int, seen: int) -> None:
        super().__init__(f"machine {key!r} refused a call with fencing token {token}: it has seen token {seen}, "
                         "so the caller's lease was taken over")


def check_in_file(path: Path, key: str, token: int) -> None:
    """Record `token` as the newest for the machine, or raise Fenced. The file is locked while it
    is read and written, since replicas on one host share the machines' directory."""
    if not token:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="ascii") as record:
        fcntl.flock(record, fcntl.LOCK_EX)
        record.seek(0)
        text = record.read().strip()
        seen = int(text) if text.isdigit() else 0
        if token < seen:
            raise Fenced(key, token, seen)
        if token > seen:
            record.seek(0)
            record.truncate()
            record.write(str(token))
            record.flush()


class FenceBook:
    """The same rule in memory, for the simulator."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def check(self, key: str, token: int) -> None:
        if not token:
            return
        seen = self._seen.get(key, 0)
        if token < seen:
            raise Fenced(key, token, seen)
        self._seen[key] = token
