"""A seed becomes a scenario: the fleets, their upgrade policies, the server's settings and a timed
schedule of faults and user calls. Everything random is drawn here, from one `random.Random(seed)`,
so the same seed is always the same scenario.

Fleets are small and waits short on purpose: the point is many different interleavings per
minute, not large sets (the engine's scale is measured elsewhere).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

# Image variants a scenario may publish. Each is a sim image document; the set is finite so every
# artifact can be installed once per worker, before any seed runs (see seed_run.Workbench).
VARIANTS: dict[str, dict[str, Any]] = {
    "good": {"bootSeconds": 10, "reimageSeconds": 20, "healthy": True},
    "slow": {"bootSeconds": 20, "reimageSeconds": 50, "healthy": True},
    "bad": {"bootSeconds": 10, "reimageSeconds": 20, "healthy": False},
    "failreimage": {"bootSeconds": 10, "reimageSeconds": 20, "healthy": True, "failReimage": True},
    "extfail": {"bootSeconds": 10, "reimageSeconds": 20, "healthy": True, "extensionsFail": True},
}
# The longest any machine operation takes in a variant: bounds how long a batch can be busy.
LONGEST_OPERATION = max(max(v["bootSeconds"], v["reimageSeconds"]) for v in VARIANTS.values())

FAULTS = ("flap", "fail", "hang", "die", "maintenance", "crash")
ACTIONS = ("publish", "start", "cancel", "pause", "resume", "scale", "toggle_auto", "policy")
DRIVER_OPS = ("create", "reimage", "start", "stop", "delete")


@dataclass(frozen=True)
class Event:
    at: float  # virtual seconds after the schedule opens
    kind: str  # one of FAULTS or ACTIONS
    scale_set: int = 0  # which fleet
    target: int = 0  # picks an instance among those live when the event happens (modulo)
    seconds: float = 0.0  # duration of a flap, hang, outage, maintenance, crash
    option: str = ""  # the driver op to fail or hang, the variant to publish, ...
    number: int = 0  # a scale delta, a batch percent, whether a hung call acted first

    def describe(self) -> str:
        extra = ",".join(str(x) for x in (self.option, self.number, self.seconds) if x not in ("", 0, 0.0))
        return f"{self.kind}[set{self.scale_set} #{self.target}{' ' + extra if extra else ''}]"


@dataclass(frozen=True)
class Fleet:
    name: str
    capacity: int
    zones: tuple[str, ...]
    data_luns: tuple[int, ...]
    upgrade_policy: dict[str, Any]  # the ARM upgradePolicy, automaticOSUpgradePolicy included
    probes: int  # numberOfProbes of its Application Health extension


@dataclass(frozen=True)
class Scenario:
    seed: int
    fleets: tuple[Fleet, ...]
    settings: dict[str, Any]  # Settings fields for the control plane
    window: float  # faults and calls happen within [0, window)
    events: tuple[Event, ...]
    revive_dead: bool  # at the end of the window, machines that died come back (else stay dead)
    probe_interval: float = 5.0
    tags: tuple[str, ...] = field(default=())

    @property
    def crashes(self) -> int:
        return sum(1 for e in self.events if e.kind == "crash")


def generate(seed: int) -> Scenario:
    rng = random.Random(seed)
    fleets = tuple(_fleet(rng, f"web{i}") for i in range(rng.choice((1, 1, 1, 2))))
    settings = {
        "health_wait": float(rng.choice((60, 90, 120, 180))),
        "history_keep": rng.randint(1, 5),
        # Short windows make retention prune by age within one scenario too.
        "history_window": float(rng.choice((400, 1200, 60 * 86400))),
        "extension_timeout": 120.0,
    }
    window = float(rng.choice((200, 400, 600)))
    events = _schedule(rng, fleets, window)
    return Scenario(seed=seed, fleets=fleets, settings=settings, window=window, events=events,
                    revive_dead=rng.random() < 0.7)


def _fleet(rng: random.Random, name: str) -> Fleet:
    rolling: dict[str, Any] = {
        "maxBatchInstancePercent": rng.choice((10, 20, 25, 34, 50, 100)),
        "maxUnhealthyInstancePercent": rng.choice((5, 20, 34, 50, 100)),
        "maxUnhealthyUpgradedInstancePercent": rng.choice((0, 20, 50, 100)),
        "pauseTimeBetweenBatches": rng.choice(("PT0S", "PT0S", "PT10S", "PT30S")),
        "prioritizeUnhealthyInstances": rng.random() < 0.3,
        "enableCrossZoneUpgrade": rng.random() < 0.5,
        "rollbackFailedInstancesOnPolicyBreach": rng.random() < 0.4,
        "maxSurge": rng.random() < 0.2,
    }
    automatic = {"enableAutomaticOSUpgrade": True, "useRollingUpgradePolicy": rng.random() < 0.7,
                 "disableAutomaticRollback": rng.random() < 0.3}
    policy = {"mode": rng.choice(("Manual", "Rolling")), "automaticOSUpgradePolicy": automatic,
              "rollingUpgradePolicy": rolling}
    zones = ("1", "2", "3") if rng.random() < 0.3 else ()
    return Fleet(name=name, capacity=rng.randint(2, 8), zones=zones, data_luns=(0,) if rng.random() < 0.7 else (0, 1),
                 upgrade_policy=policy, probes=rng.choice((1, 1, 2)))


def _schedule(rng: random.Random, fleets: tuple[Fleet, ...], window: float) -> tuple[Event, ...]:
    # Every scenario publishes early, so there is a run for the faults to hit.
    events = [Event(at=float(rng.randint(0, 30)), kind="publish", scale_set=0,
                    option=rng.choices(("good", "slow", "bad", "failreimage", "extfail"), (6, 2, 1, 1, 1))[0])]
    fault_weight = rng.choice((0.3, 0.5, 0.7))
    for _ in range(rng.randint(2, 9)):
        at = float(rng.randint(0, int(window) - 1))
        which = rng.randrange(len(fleets))
        if rng.random() < fault_weight:
            kind = rng.choices(FAULTS, (4, 3, 2, 2, 2, 1))[0]
        else:
            kind = rng.choices(ACTIONS, (2, 2, 2, 2, 2, 2, 1, 1))[0]
        events.append(_event(rng, kind, at, which))
    return tuple(sorted(events, key=lambda e: e.at))


def _event(rng: random.Random, kind: str, at: float, which: int) -> Event:
    target = rng.randrange(1000)
    if kind == "flap":
        return Event(at, kind, which, target, seconds=float(rng.choice((3, 10, 40, 120))))
    if kind == "fail":
        return Event(at, kind, which, target, option=rng.choice(DRIVER_OPS))
    if kind == "hang":
        return Event(at, kind, which, target, seconds=float(rng.choice((30, 90, 200))), option=rng.choice(DRIVER_OPS),
                     number=rng.randint(0, 1))
    if kind == "die":
        return Event(at, kind, which, target, seconds=float(rng.choice((0, 20, 120))))  # 0: until the end
    if kind == "maintenance":
        return Event(at, kind, which, target, seconds=float(rng.choice((15, 60, 180))))
    if kind == "crash":
        return Event(at, kind, which, target, seconds=float(rng.choice((0, 5, 30, 90))))
    if kind == "publish":
        return Event(at, kind, which, target, option=rng.choices(("good", "slow", "bad", "failreimage", "extfail"),
                                                                 (5, 2, 2, 1, 1))[0])
    if kind == "start":
        return Event(at, kind, which, target, number=int(rng.random() < 0.4))  # 1: forceReimage
    if kind == "scale":
        return Event(at, kind, which, target, number=rng.choice((-2, -1, 1, 2)))
    if kind == "policy":
        return Event(at, kind, which, target, number=rng.choice((10, 20, 34, 50, 100)))
    return Event(at, kind, which, target)  # cancel, pause, resume, toggle_auto
