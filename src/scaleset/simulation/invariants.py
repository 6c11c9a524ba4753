"""The invariants, as pure functions of what was observed.

The observations are plain records written while a seed runs (by the driver hooks in world.py and
the store watch in watch.py); each check reads them and returns its violations. Keeping the checks
pure lets the tests feed them fabricated logs, so none of them can pass by never looking.

The limits are recomputed here, not imported from the planner: a planner that rounds wrongly must
not take its checker along with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TERMINAL = ("Completed", "Faulted", "Cancelled")


def batch_limit(total: int, percent: int) -> int:
    """maxBatchInstancePercent of `total`, rounded down, and at least one (as Azure documents)."""
    return max(1, total * percent // 100)


def exceeds(count: int, total: int, percent: int) -> bool:
    """More than `percent` % of `total` (the policy's limits are "more than", never "at least")."""
    return total > 0 and count * 100 > total * percent


@dataclass(frozen=True)
class Decision:
    """A batch decided: written to the store at this instant (batch = the run's batch count after it)."""

    t: float
    run: str
    scale_set: str
    batch: int
    live: int  # instances of the set the planner counts (not being deleted)
    unhealthy: int  # not healthy by the engine's own verdicts at that instant
    long_down: int  # down on the machines themselves for longer than the engine needs to notice
    max_batch_percent: int
    max_unhealthy_percent: int


@dataclass(frozen=True)
class UpgradeCall:
    """A create or reimage the upgrade asked of a machine, as it started."""

    t: float
    run: str
    scale_set: str
    machine: str
    op: str
    concurrent: int  # the run's calls under way at that instant, this one included
    live: int
    max_batch_percent: int


@dataclass(frozen=True)
class BatchSize:
    """A batch's members as the store holds them (members only ever leave, so this never overcounts)."""

    run: str
    batch: int  # batch index, 0-based
    size: int


@dataclass(frozen=True)
class DiskCheck:
    t: float
    machine: str
    lun: int
    found: bool
    when: str


@dataclass(frozen=True)
class ProgressSample:
    t: float
    run: str
    state: str
    counts: dict[str, int]  # as rollingUpgrades/latest shows them
    members: frozenset[int]  # the run's members in the store
    initial: frozenset[int]  # its members when it was created
    gone: frozenset[int]  # instances that have left the set (or were being deleted) so far


@dataclass(frozen=True)
class HistorySample:
    t: float
    scale_set: str
    keep: int
    window: float
    stored: int  # runs of the set in the store
    listed: tuple[tuple[str, float, bool], ...]  # osUpgradeHistory: (run, age in seconds, active), newest first
    expected: tuple[str, ...]  # the runs it should list, from every run ever seen


@dataclass(frozen=True)
class RunEnd:
    run: str
    scale_set: str
    state: str
    ended: float | None  # virtual time it was seen terminal, None if never
    deadline: float  # faults stopped + the bound


@dataclass(frozen=True)
class ImageAgreement:
    t: float
    machine: str
    stored: str | None  # the image the store says the idle instance runs
    actual: str | None  # the image on the machine


@dataclass(frozen=True)
class Violation:
    invariant: str
    t: float
    message: str

    def __str__(self) -> str:
        return f"{self.invariant} at t={self.t:.1f}: {self.message}"


@dataclass
class Observations:
    decisions: list[Decision] = field(default_factory=list)
    upgrade_calls: list[UpgradeCall] = field(default_factory=list)
    batches: list[BatchSize] = field(default_factory=list)
    disks: list[DiskCheck] = field(default_factory=list)
    progress: list[ProgressSample] = field(default_factory=list)
    history: list[HistorySample] = field(default_factory=list)
    ends: list[RunEnd] = field(default_factory=list)
    images: list[ImageAgreement] = field(default_factory=list)
    errors: list[Violation] = field(default_factory=list)  # the simulation itself could not go on


def check_batches(obs: Observations) -> list[Violation]:
    """Never more taken out at once by the upgrade than maxBatchInstancePercent of the set allows.

    Two views: each batch the store records is no larger than the limit when it was decided, and
    the creates/reimages the upgrade has under way on machines never outnumber that limit (with
    maxSurge the new machines are the batch, so the surge itself is held to the same limit).
    """
    found = []
    decided = {(d.run, d.batch - 1): d for d in obs.decisions}
    for batch in obs.batches:
        decision = decided.get((batch.run, batch.batch))
        if decision is None:
            found.append(Violation("batch-limit", 0.0, f"run {batch.run[:8]} batch {batch.batch} was never seen decided"))
        elif batch.size > batch_limit(decision.live, decision.max_batch_percent):
            found.append(Violation("batch-limit", decision.t, (
                f"run {batch.run[:8]} batch {batch.batch} has {batch.size} instances; "
                f"{decision.max_batch_percent}% of {decision.live} allows {batch_limit(decision.live, decision.max_batch_percent)}")))
    for call in obs.upgrade_calls:
        # The set may have shrunk since the batch was chosen: its size then is what counts.
        sizes = [d.live for d in obs.decisions if d.run == call.run and d.t <= call.t]
        total = max([call.live, *sizes[-1:]])
        allowed = batch_limit(total, call.max_batch_percent)
        if call.concurrent > allowed:
            found.append(Violation("batch-limit", call.t, (
                f"{call.concurrent} upgrade {call.op}s under way at once in run {call.run[:8]} ({call.machine} the last); "
                f"{call.max_batch_percent}% of {total} allows {allowed}")))
    return found


def check_prechecks(obs: Observations) -> list[Violation]:
    """No batch starts while more than maxUnhealthyInstancePercent of the set is unhealthy: by the
    engine's verdicts at that instant, and by the machines themselves (those down long enough that
    the engine must have noticed)."""
    found = []
    for d in obs.decisions:
        for count, seen in ((d.unhealthy, "by the engine's verdicts"), (d.long_down, "on the machines")):
            if exceeds(count, d.live, d.max_unhealthy_percent):
                found.append(Violation("pre-check", d.t, (
                    f"run {d.run[:8]} started batch {d.batch - 1} with {count} of {d.live} instances unhealthy {seen}, "
                    f"more than maxUnhealthyInstancePercent {d.max_unhealthy_percent}%")))
    return found


def check_disks(obs: Observations) -> list[Violation]:
    return [Violation("data-disk", c.t, f"{c.machine} lost the marker on data disk lun {c.lun} ({c.when})")
            for c in obs.disks if not c.found]


def check_termination(obs: Observations) -> list[Violation]:
    found = []
    for end in obs.ends:
        if end.state not in TERMINAL or end.ended is None:
            found.append(Violation("termination", end.deadline,
                                   f"run {end.run[:8]} of {end.scale_set} is still {end.state} at its deadline"))
        elif end.ended > end.deadline:
            found.append(Violation("termination", end.ended,
                                   f"run {end.run[:8]} ended {end.state} only at {end.ended:.0f}, after its deadline {end.deadline:.0f}"))
    return found


def check_progress(obs: Observations) -> list[Violation]:
    found = []
    for p in obs.progress:
        problems = []
        total = sum(p.counts.values())
        if total != len(p.members):
            problems.append(f"the counts sum to {total}, the run has {len(p.members)} members")
        joined = p.members - p.initial
        if joined:
            problems.append(f"instances {sorted(joined)} joined the run after it started")
        vanished = (p.initial - p.members) - p.gone
        if vanished:
            problems.append(f"members {sorted(vanished)} left the run though their instances are still there")
        if p.state in TERMINAL and p.counts.get("inProgressInstanceCount", 0):
            problems.append(f"it ended {p.state} with {p.counts['inProgressInstanceCount']} instances still in progress")
        if p.state == "Completed" and p.counts.get("pendingInstanceCount", 0):
            problems.append(f"it Completed with {p.counts['pendingInstanceCount']} instances never upgraded")
        found += [Violation("progress", p.t, f"run {p.run[:8]}: {problem}") for problem in problems]
    return found


def check_history(obs: Observations) -> list[Violation]:
    found = []
    for h in obs.history:
        if h.stored > max(1, h.keep):
            found.append(Violation("history", h.t, f"{h.scale_set} keeps {h.stored} runs in the store; history-keep is {h.keep}"))
        listed = tuple(run for run, _, _ in h.listed)
        if listed != h.expected:
            found.append(Violation("history", h.t, (
                f"{h.scale_set} lists {[r[:8] for r in listed]}; the newest {h.keep} within the window are "
                f"{[r[:8] for r in h.expected]}")))
        for run, age, active in h.listed:
            if not active and age > h.window:
                found.append(Violation("history", h.t, f"{h.scale_set} lists run {run[:8]}, {age:.0f} s old, past the window"))
    return found


def check_images(obs: Observations) -> list[Violation]:
    return [Violation("image-agreement", a.t, f"{a.machine}: the store says it runs {a.stored}, the machine has {a.actual}")
            for a in obs.images if a.stored != a.actual]


CHECKS = (check_batches, check_prechecks, check_disks, check_termination, check_progress, check_history, check_images)


def check_all(obs: Observations) -> list[Violation]:
    found = list(obs.errors)
    for check in CHECKS:
        found += check(obs)
    return found
