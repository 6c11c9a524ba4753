"""The rolling OS upgrade planner: pure decisions from a snapshot. No IO, no clock.

The runner asks three questions, each answered here from what it passes in:

- `next_batch`: which instances go next, or why none may (the pre-check), or that all are done;
- `judge_batch`: is the batch in flight healthy yet, still within its wait, or out of time;
- `after_batch`: may the run go on, or does a policy limit stop it (and what is rolled back).

`plan` lays out every batch ahead of time for a dry run, with the same selection rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


class Progress(StrEnum):
    PENDING = "pending"  # still to be upgraded in this run
    IN_FLIGHT = "inProgress"
    UPGRADED = "successful"
    FAILED = "failed"  # reimaged but not healthy in time, or the reimage itself failed
    ROLLED_BACK = "rolledBack"
    ROLLBACK_FAILED = "rollbackFailed"
    SKIPPED = "skipped"  # already on the target, or not part of the run


@dataclass(slots=True)
class Member:
    """One instance as the planner sees it. Not frozen, yet never changed once made: a frozen one
    costs twice as much to make, and a run makes one per instance of its set each batch."""

    id: int
    healthy: bool
    progress: Progress = Progress.PENDING
    zone: str | None = None
    update_domain: int = 0


@dataclass(frozen=True)
class Policy:
    max_batch_percent: int = 20
    max_unhealthy_percent: int = 20
    max_unhealthy_upgraded_percent: int = 20
    pause_between_batches: float = 0.0  # seconds
    prioritize_unhealthy: bool = False
    cross_zone: bool = False  # zones are never upgraded together unless this is set
    walk_update_domains: bool = False  # a batch never spans two update domains
    rollback: bool = True  # an instance not healthy within the wait gets its previous image back
    health_wait: float = 300.0  # seconds a batch may take to turn healthy
    defer: bool = False  # osRollingUpgradeDeferral: each batch waits for its instances' approval
    max_surge: bool = False  # new instances first; the old ones go once the new are healthy


# -- outcomes ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Batch:
    ids: tuple[int, ...]


@dataclass(frozen=True)
class Done:
    """Nothing is left to upgrade."""


@dataclass(frozen=True)
class Stop:
    """The run stops here, Faulted, with an ARM error and the instances to roll back."""

    code: str
    message: str
    roll_back: tuple[int, ...] = ()


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class BatchHealthy:
    pass


@dataclass(frozen=True)
class BatchTimedOut:
    unhealthy: tuple[int, ...]


@dataclass(frozen=True)
class GoOn:
    pass


@dataclass(frozen=True)
class Unsure:
    """A limit would stop the run only by counting as unhealthy instances whose verdict is not in
    yet (a server that restarted, or took the run over, has not probed them): ask again once it is."""

    unknown: tuple[int, ...]


BEFORE = "MaxUnhealthyInstancePercentExceededBeforeRollingUpgrade"
DURING = "MaxUnhealthyInstancePercentExceededInRollingUpgrade"
UPGRADED_LIMIT = "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
FAILED_VMS = "RollingUpgradeInProgressWithFailedUpgradedVMs"


# -- the rules ---------------------------------------------------------------------------------

def batch_size(total: int, policy: Policy) -> int:
    """At most maxBatchInstancePercent of all instances, and at least one."""
    return max(1, math.floor(total * policy.max_batch_percent / 100))


def over(count: int, total: int, percent: int) -> bool:
    """More than `percent` % of `total`: the comparison every limit of the policy makes."""
    return total > 0 and count * 100 > total * percent


def next_batch(members: list[Member], policy: Policy, *, first: bool) -> Batch | Done | Stop:
    """The next batch, after the pre-check on the whole set."""
    pending = [m for m in members if m.progress == Progress.PENDING]
    if not pending:
        return Done()
    unhealthy = sum(1 for m in members if not m.healthy)
    if over(unhealthy, len(members), policy.max_unhealthy_percent):
        return Stop(BEFORE if first else DURING,
                    f"{unhealthy} of {len(members)} instances are unhealthy, more than maxUnhealthyInstancePercent "
                    f"({policy.max_unhealthy_percent}%): the next batch does not start.")
    return Batch(_choose(pending, batch_size(len(members), policy), policy))


def _choose(pending: list[Member], size: int, policy: Policy) -> tuple[int, ...]:
    ordered = sorted(pending, key=lambda m: _order(m, policy))
    head = ordered[0]
    chosen = []
    for member in ordered:
        if len(chosen) == size:
            break
        if not policy.cross_zone and member.zone != head.zone:
            continue
        if policy.walk_update_domains and member.update_domain != head.update_domain:
            continue
        chosen.append(member.id)
    return tuple(chosen)


def _order(member: Member, policy: Policy) -> tuple[object, ...]:
    return (
        member.healthy if policy.prioritize_unhealthy else False,  # False sorts first: unhealthy lead
        "" if policy.cross_zone else (member.zone or ""),
        member.update_domain if policy.walk_update_domains else 0,
        member.id,
    )


def judge_batch(members: list[Member], batch: tuple[int, ...], policy: Policy, *, elapsed: float,
                failed: frozenset[int] = frozenset()) -> Wait | BatchHealthy | BatchTimedOut:
    """A batch is done when every member is healthy, or when its wait runs out.

    `failed` names members whose reimage failed outright: waiting cannot make them healthy.
    """
    by_id = {m.id: m for m in members}
    # One gone from the set (deleted meanwhile) will not turn healthy either.
    unhealthy = tuple(i for i in batch if i in failed or i not in by_id or not by_id[i].healthy)
    if not unhealthy:
        return BatchHealthy()
    if elapsed >= policy.health_wait or all(i in failed for i in unhealthy):
        return BatchTimedOut(unhealthy)
    return Wait(policy.health_wait - elapsed)


def awaited(unknown: frozenset[int], waited: float, policy: Policy) -> frozenset[int]:
    """The instances whose verdicts a judgment still waits for (`waited`: seconds of the health
    wait spent): none once the wait is spent (a verdict still not in counts as unhealthy then)."""
    return unknown if waited < policy.health_wait else frozenset()


def after_batch(members: list[Member], batch: tuple[int, ...], policy: Policy, *,
                failed_reimages: frozenset[int] = frozenset(), unknown: frozenset[int] = frozenset()) -> GoOn | Stop | Unsure:
    """The checks after each batch: the upgraded instances, then the whole set.

    Instances taken down by anything else meanwhile count against the whole-set limit as well.
    `unknown` names members counted unhealthy because their verdict is not in yet: a stop that
    would not happen were they healthy is Unsure.
    """
    outcome = _limits(members, batch, policy, failed_reimages)
    if isinstance(outcome, GoOn) or not unknown:
        return outcome
    hopeful = [Member(m.id, True, m.progress, m.zone, m.update_domain) if m.id in unknown else m for m in members]
    if isinstance(_limits(hopeful, batch, policy, failed_reimages), GoOn):
        return Unsure(tuple(sorted(unknown)))
    return outcome


def _limits(members: list[Member], batch: tuple[int, ...], policy: Policy, failed_reimages: frozenset[int]) -> GoOn | Stop:
    upgraded = [m for m in members if m.progress in (Progress.UPGRADED, Progress.FAILED)]
    bad_upgraded = [m.id for m in upgraded if m.progress == Progress.FAILED or not m.healthy]
    batch_failures = tuple(i for i in batch if i in set(bad_upgraded))
    roll_back = batch_failures if policy.rollback else ()
    if failed_reimages & set(batch):
        return Stop(FAILED_VMS, f"{len(failed_reimages & set(batch))} instance(s) of the batch failed to upgrade.", roll_back)
    if over(len(bad_upgraded), len(upgraded), policy.max_unhealthy_upgraded_percent):
        return Stop(UPGRADED_LIMIT,
                    f"{len(bad_upgraded)} of {len(upgraded)} upgraded instances are unhealthy, more than "
                    f"maxUnhealthyUpgradedInstancePercent ({policy.max_unhealthy_upgraded_percent}%).", roll_back)
    unhealthy = sum(1 for m in members if not m.healthy)
    if over(unhealthy, len(members), policy.max_unhealthy_percent):
        return Stop(DURING,
                    f"{unhealthy} of {len(members)} instances are unhealthy, more than maxUnhealthyInstancePercent "
                    f"({policy.max_unhealthy_percent}%).", roll_back)
    return GoOn()


# -- the whole plan, for a dry run -------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    batches: tuple[tuple[int, ...], ...]
    skipped: dict[int, str] = field(default_factory=dict)  # id -> why
    expected_seconds: float = 0.0
    blocked: Stop | None = None  # the pre-check refuses the first batch


def plan(members: list[Member], policy: Policy, *, skipped: dict[int, str], seconds_per_batch: float) -> Plan:
    """Every batch in order, assuming each turns healthy; same rules as the real run."""
    current = list(members)
    batches: list[tuple[int, ...]] = []
    while True:
        decision = next_batch(current, policy, first=not batches)
        if isinstance(decision, Stop):
            return Plan(tuple(batches), dict(skipped), _duration(len(batches), seconds_per_batch, policy), decision)
        if isinstance(decision, Done):
            return Plan(tuple(batches), dict(skipped), _duration(len(batches), seconds_per_batch, policy))
        batches.append(decision.ids)
        chosen = set(decision.ids)
        current = [Member(m.id, True, Progress.UPGRADED, m.zone, m.update_domain) if m.id in chosen else m for m in current]


def _duration(batches: int, seconds_per_batch: float, policy: Policy) -> float:
    return batches * seconds_per_batch + max(0, batches - 1) * policy.pause_between_batches
