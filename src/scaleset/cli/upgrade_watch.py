"""What a watcher of a rolling upgrade knows: the run's state, each instance, the batches so far.

Pure: it is fed snapshots (`rollingUpgrades/latest` and the instance list with instance views) and
says, one line each, what changed. The live view draws from it; a non-terminal prints its lines.

The API does not name the instances of each batch, and a batch can start and end between two
snapshots. So the batches come from the server's dry-run plan, taken just before the start (the
planner lays it out with the rules the run follows), and their progress from the run's counts:
batches go one at a time, in order, so the finished instances count off the plan from the front.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from scaleset.cli.output import lookup
from scaleset.cli.upgrade_health import health_reason, health_state, instance_view_of

TERMINAL_CODES = frozenset({"Completed", "Faulted", "Cancelled"})


@dataclass(frozen=True)
class InstanceState:
    instance_id: str
    version: str | None
    provisioning: str | None
    health: str | None
    reason: str | None

    @property
    def news(self) -> tuple[str | None, str | None, str | None]:
        """What a change is: the reason's wording alone changes with every probe, no news."""
        return (self.version, self.provisioning, self.health)

    def describe(self) -> str:
        parts = [f"version {self.version or '?'}", self.provisioning or "?"]
        if self.health:
            parts.append(f"health {self.health}" + (f" ({self.reason})" if self.reason else ""))
        return f"instance {self.instance_id}: " + ", ".join(parts)


@dataclass(frozen=True)
class BatchState:
    number: int  # from 1, as people count batches
    instance_ids: tuple[str, ...]
    finished: bool

    def describe(self) -> str:
        word = "done" if self.finished else "started"
        return f"batch {self.number} {word}: instances {', '.join(self.instance_ids)}"


def instance_states(instances: Iterable[Any]) -> dict[str, InstanceState]:
    states = {}
    for instance in instances:
        if not isinstance(instance, Mapping) or instance.get("instanceId") is None:
            continue
        view = instance_view_of(instance)
        instance_id = str(instance["instanceId"])
        states[instance_id] = InstanceState(
            instance_id=instance_id,
            version=_text(lookup(instance, "properties.storageProfile.imageReference.exactVersion")),
            provisioning=_text(lookup(instance, "properties.provisioningState")),
            health=health_state(view),
            reason=health_reason(view),
        )
    return states


def instance_order(instance_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order (2 before 10), anything else after them."""
    return (0, int(instance_id), "") if instance_id.isdigit() else (1, 0, instance_id)


class RunWatch:
    def __init__(self, plan: Sequence[Sequence[str]] = (), *, skipped: int = 0) -> None:
        """`plan`: the instance ids of each batch, in order, as the dry run laid them out;
        `skipped`: how many instances it leaves out (the run counts those as successful)."""
        self.plan = [tuple(batch) for batch in plan]
        self.skipped = skipped
        self.latest: Mapping[str, Any] = {}
        self.instances: dict[str, InstanceState] = {}
        self._said_run: str | None = None
        self._said_batches: dict[int, BatchState] = {}
        self._said_instances: dict[str, tuple[str | None, ...]] | None = None

    # -- the run, as the last snapshot showed it -------------------------------------------------

    @property
    def code(self) -> str | None:
        return _text(lookup(self.latest, "properties.runningStatus.code"))

    @property
    def paused(self) -> bool:
        return lookup(self.latest, "properties.runningStatus.paused") is True

    @property
    def ended(self) -> bool:
        return self.code in TERMINAL_CODES

    @property
    def error(self) -> Mapping[str, Any] | None:
        error = lookup(self.latest, "properties.error")
        return error if isinstance(error, Mapping) else None

    def count(self, name: str) -> int:
        value = lookup(self.latest, f"properties.progress.{name}InstanceCount")
        return value if isinstance(value, int) else 0

    @property
    def successful(self) -> int:
        return self.count("successful")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def in_progress(self) -> int:
        return self.count("inProgress")

    @property
    def pending(self) -> int:
        return self.count("pending")

    @property
    def done(self) -> int:
        return self.successful + self.failed

    @property
    def total(self) -> int:
        return self.done + self.in_progress + self.pending

    def summary(self) -> str:
        text = (
            f"{self.code or 'Unknown'}: {self.successful} of {self.total} succeeded, "
            f"{self.failed} failed, {self.in_progress} in progress, {self.pending} pending"
        )
        return text + (" (paused)" if self.paused else "")

    @property
    def batches(self) -> list[BatchState]:
        """The planned batches the run has reached: finished ones, then the one in flight."""
        reached: list[BatchState] = []
        done = self.done - self.skipped
        before = 0  # instances in the batches ahead of this one
        for number, ids in enumerate(self.plan, start=1):
            if before + len(ids) <= done:
                reached.append(BatchState(number, ids, finished=True))
            elif before <= done and self.in_progress and not self.ended:
                reached.append(BatchState(number, ids, finished=False))
                break
            else:
                break
            before += len(ids)
        return reached

    def batch_of(self, instance_id: str) -> int | None:
        for number, ids in enumerate(self.plan, start=1):
            if instance_id in ids:
                return number
        return None

    # -- feeding it ------------------------------------------------------------------------------

    def observe(self, latest: Mapping[str, Any] | None, instances: Iterable[Any]) -> list[str]:
        """Take one snapshot in; returns a line for each thing that changed since the last one.

        The first snapshot is the starting point: the run's state, not every instance's.
        """
        self.latest = latest or {}
        lines: list[str] = []
        summary = self.summary()
        if summary != self._said_run:
            lines.append(summary)
            self._said_run = summary

        for batch in self.batches:
            if self._said_batches.get(batch.number) != batch:
                lines.append(batch.describe())
                self._said_batches[batch.number] = batch

        current = instance_states(instances)
        for instance_id, state in current.items():
            known = self.instances.get(instance_id)
            if state.health is None and known is not None and known.health is not None:
                # Health is reported only while the set is monitored (for a Manual set: while a
                # run is under way); when it stops, the last verdict stands and is no news.
                current[instance_id] = replace(state, health=known.health, reason=known.reason)
        if self._said_instances is None:
            self._said_instances = {i: state.news for i, state in current.items()}
        for instance_id in sorted(current, key=instance_order):
            state = current[instance_id]
            if self._said_instances.get(instance_id) != state.news:
                lines.append(state.describe())
                self._said_instances[instance_id] = state.news
        self.instances = current
        return lines


def watch_for_plan(plan: Any) -> RunWatch:
    """A watch over the run a dry-run `plan` describes (an empty one when there is no plan)."""
    if not isinstance(plan, Mapping):
        return RunWatch()
    batches = [batch for batch in plan.get("batches") or [] if isinstance(batch, Mapping)]
    ordered = sorted(batches, key=lambda batch: batch.get("index", 0))
    return RunWatch(
        [tuple(str(i) for i in batch.get("instanceIds") or []) for batch in ordered],
        skipped=len(plan.get("skipped") or []),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
