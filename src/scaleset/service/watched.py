"""What the health watch keeps of each instance: a few fields of its row (`Seen`), and its
tracker and probe schedule (`Watched`). Kept for each of a million instances, so kept small."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from scaleset.health.probe_spec import ProbeSpec
from scaleset.health.tracker import HealthTracker
from scaleset.health.verdicts import HealthState, Verdict


class Seen(NamedTuple):
    """What the watch keeps of an instance between two reads of the store: a few fields, not the
    row (a row and its decoded JSON cost ~2.5 KB an instance)."""

    instance_id: int
    action_seq: int
    pending_action: str | None
    private_ip: str
    machine_key: str
    power_state: str
    extensions: list[dict[str, Any]] | None  # only for an instance judged by its states (no probe)


@dataclass(slots=True)
class Watched:
    """One instance under watch: its tracker, and what it was when the tracker was (re)set."""

    spec: ProbeSpec | None
    tracker: HealthTracker | None
    action_seq: int
    next_probe: datetime
    judged: Verdict | None = None  # without a tracker: the verdict its states give
    probing: bool = field(default=False)
    settled: bool = False  # answered healthy since it was (re)set
    row: Seen | None = None  # the instance as last read from the store
    upgrading: bool = False  # a run of its scale set was under way when last read
    # Not probed until its driver reports a change (it vouched the answer holds); next_probe then
    # keeps the time it would have been probed next, so probing resumes in step.
    quiet: bool = False

    # The verdict is the tracker's, made when asked for: kept for each of a million instances, it
    # and its reason cost ~200 bytes an instance.
    @property
    def state(self) -> HealthState | None:
        if self.tracker is not None:
            return self.tracker.state
        return self.judged.state if self.judged is not None else None

    def verdict(self, now: datetime) -> Verdict | None:
        return self.tracker.verdict(now) if self.tracker is not None else self.judged
