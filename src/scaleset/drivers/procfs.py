"""Processes as /proc shows them: identity that survives PID reuse, and sessions.

Standard library only: the supervisor imports this and must start fast.

A process is named by (pid, start time). A PID alone can be reused after its process dies; the
start time (field 22 of /proc/<pid>/stat, in clock ticks since boot) tells the new process from
the old one. A machine of the process driver is one session (its supervisor calls no setsid and
is started with start_new_session), so "every process the machine started" is "every member of
that session", whatever each one did with its process group.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    start_time: int

    @property
    def gone(self) -> bool:
        # A zombie has exited; its parent just has not reaped it (PID 1 here may never do).
        return self.state in ("Z", "X", "x")


def proc_info(pid: int) -> ProcInfo | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    fields = data[data.rindex(")") + 2 :].split()
    return ProcInfo(
        pid=pid,
        state=fields[0],
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        session=int(fields[3]),
        start_time=int(fields[19]),
    )


def is_alive(pid: int | None, start_time: int | None) -> bool:
    """True if the process recorded as (pid, start_time) still runs."""
    if not pid or start_time is None:
        return False
    info = proc_info(pid)
    return info is not None and info.start_time == start_time and not info.gone


def session_members(session: int, *, started_since: int = 0, exclude: frozenset[int] = frozenset()) -> list[ProcInfo]:
    """Live members of `session`, started no earlier than `started_since` (clock ticks).

    `started_since` guards against a reused session id: once a session is empty its number may
    be handed to a new, unrelated session, whose processes all started after ours.
    """
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        info = proc_info(int(name))
        if (
            info is not None
            and info.session == session
            and info.pid not in exclude
            and info.start_time >= started_since
            and not info.gone
        ):
            members.append(info)
    return members


def terminate_session(
    session: int,
    *,
    grace: float,
    started_since: int = 0,
    exclude: frozenset[int] = frozenset(),
    poll: float = 0.02,
) -> None:
    """SIGTERM every member of `session`, then SIGKILL whoever is left after `grace` seconds.

    Blocking; members that are our own children must be reaped by the caller (they count as gone
    once they are zombies).
    """
    deadline = time.monotonic() + grace
    for sig in (signal.SIGTERM, signal.SIGKILL):
        members = session_members(session, started_since=started_since, exclude=exclude)
        if not members:
            return
        for member in members:
            _signal(member, sig)
        limit = deadline if sig == signal.SIGTERM else time.monotonic() + 2.0
        while time.monotonic() < limit:
            time.sleep(poll)
            if not session_members(session, started_since=started_since, exclude=exclude):
                return


def _signal(member: ProcInfo, sig: int) -> None:
    # Re-check identity right before the kill: the member may have exited and its PID been reused.
    current = proc_info(member.pid)
    if current is None or current.start_time != member.start_time:
        return
    try:
        os.kill(member.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
