"""What a machine's extension statuses say to the reconciler: their states as stored, which have
ended, which failed; worked out once per statuses tuple a driver hands out.

A driver that shares one tuple among its machines alike (the simulator does, for a million of
them) has it worked out once for all of them, and gives each outcome of a batch the same list to
store, which the outcome writer then spells once. A driver that hands out a new tuple each time
pays what it always did.
"""

from __future__ import annotations

from dataclasses import dataclass

from scaleset.drivers.base import ExtensionState, ExtensionStatus


@dataclass(frozen=True, slots=True)
class Said:
    states: list[dict[str, str]]  # as the instance's row stores them; shared: never to be changed
    ended: frozenset[str]  # the extensions no longer transitioning
    failed: tuple[ExtensionStatus, ...]


_KEPT = 256  # tuples remembered (by identity; each kept alive with its answer)
_said: dict[int, tuple[tuple[ExtensionStatus, ...], Said]] = {}


def said(extensions: tuple[ExtensionStatus, ...]) -> Said:
    found = _said.get(id(extensions))
    if found is not None and found[0] is extensions:
        return found[1]
    answer = Said([{"name": e.name, "state": str(e.state), "message": e.message} for e in extensions],
                  frozenset(e.name for e in extensions if e.state != ExtensionState.TRANSITIONING),
                  tuple(e for e in extensions if e.state == ExtensionState.FAILED))
    if len(_said) >= _KEPT:
        _said.clear()
    _said[id(extensions)] = (extensions, answer)
    return answer
