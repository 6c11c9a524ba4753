"""Makespan on the sim driver: how close a rolling OS upgrade comes to the fastest its policy allows.

    .venv/bin/python bench/makespan_sim.py [--quick] [--instances N] [--variants default,surge,...]

Goal (issue 7): completed time / lower bound <= 1.01 for N = 1,000 instances, where the lower bound
is ceil(N / batch) x (reimage + time-to-healthy) + the pauses between batches. Every variant runs
the real ControlPlane (SQLite store, reconciler, health monitor probing each instance, runner) on
the sim driver and the virtual clock, in this process: a 60 s reimage costs no real time, so the
ratio measures the engine's own delays (how late it notices a reimage has finished or an instance
has turned healthy, and how late it starts the next batch), and the wall and CPU time what the
engine costs to run it.

Variants (all: automatic OS upgrades, platform-started by publishing the next image version; sim
image reimageSeconds 60, bootSeconds 60, warmupSeconds 30: the app answers unhealthy for 30 s after
each boot or reimage (`--warmup`); the Application Health extension probes every 5 s):
- default: the documented default policy (batches of 20%, no pause);
- surge: maxSurge, each batch made of new instances (a create, bootSeconds, stands in for the
  reimage) that replace the old ones once healthy;
- pause: pauseTimeBetweenBatches PT60S;
- walk: update-domain walking (a batch never spans two of the 5 update domains), bound from the
  batches that rule forces: sum over domains of ceil(domain size / batch).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

from _common import header, ratio
from _sim_plane import SimPlane, sim_plane

from scaleset.service.intents import UPDATE_DOMAINS

REIMAGE, PROBE_INTERVAL = 60.0, 5
PAUSE = 60.0
GOAL = 1.01
VARIANTS = ("default", "surge", "pause", "walk")


@dataclass
class Result:
    variant: str
    instances: int
    batches: int
    state: str
    makespan: float  # virtual seconds, the run's startTime to endTime
    bound: float
    wall: float  # real seconds the upgrade took to run
    cpu: float  # CPU seconds of this process meanwhile

    @property
    def ratio(self) -> float:
        return ratio(self.makespan, self.bound)


def policy_of(variant: str) -> dict[str, Any]:
    rolling: dict[str, Any] = {}
    if variant == "surge":
        rolling["maxSurge"] = True
    if variant == "pause":
        rolling["pauseTimeBetweenBatches"] = f"PT{PAUSE:g}S"
    return {"mode": "Rolling", "rollingUpgradePolicy": rolling,
            "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}}


def lower_bound(variant: str, instances: int, warmup: float) -> tuple[int, float]:
    """(batches, seconds): the fewest batches the policy allows, each no faster than a reimage and
    the warm-up, and the pauses between them."""
    size = max(1, math.floor(instances * 20 / 100))
    if variant == "walk":
        domains = [len(range(d, instances, UPDATE_DOMAINS)) for d in range(UPDATE_DOMAINS)]
        batches = sum(math.ceil(n / size) for n in domains if n)
    else:
        batches = math.ceil(instances / size)
    pauses = (batches - 1) * PAUSE if variant == "pause" else 0.0
    return batches, batches * (REIMAGE + warmup) + pauses


async def run_variant(variant: str, instances: int, warmup: float) -> Result:
    async with sim_plane(f"makespan-{variant}-") as sim:
        image = {"bootSeconds": REIMAGE, "reimageSeconds": REIMAGE, "warmupSeconds": warmup}
        await sim.publish("1.0.0", **image)
        tags = {"scaleset.updateDomainWalk": "true"} if variant == "walk" else {}
        sim.scale_set("web", instances, policy_of(variant), probe_interval=PROBE_INTERVAL, tags=tags)
        await sim.plane.reconciler.idle()
        await sim.clock.sleep(2 * REIMAGE + warmup)  # every instance up and warm before the upgrade
        wall, cpu = time.perf_counter(), time.process_time()
        await sim.publish("1.0.1", **image)
        run = await until_done(sim)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        batches, bound = lower_bound(variant, instances, warmup)
        makespan = (run.ended_at - run.started_at).total_seconds()
        if run.batch_count != batches:
            print(f"note: {variant} ran {run.batch_count} batches where the bound assumes {batches}")
        return Result(variant, instances, run.batch_count, run.state, makespan, bound, wall, cpu)


async def until_done(sim: SimPlane) -> Any:
    while (run := sim.latest_run("web")) is None:
        await sim.clock.sleep(1)
    return run


def report(results: list[Result]) -> bool:
    print(f"{'variant':<8} {'N':>6} {'batches':>7} {'state':<10} {'makespan':>10} {'bound':>9} {'ratio':>7} "
          f"{'wall':>8} {'CPU/inst':>9}")
    ok = True
    for r in results:
        passed = r.state == "Completed" and r.ratio <= GOAL
        ok &= passed
        print(f"{r.variant:<8} {r.instances:>6,} {r.batches:>7} {r.state:<10} {r.makespan:>9.1f}s {r.bound:>8.1f}s "
              f"{r.ratio:>7.4f} {r.wall:>7.2f}s {r.cpu / r.instances * 1e6:>7.0f}µs  {'PASS' if passed else 'MISS'}")
    print(f"verdict: {'PASS' if ok else 'MISS'} (goal: makespan / lower bound <= {GOAL})")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the smoke form: 50 instances")
    parser.add_argument("--instances", type=int, default=None)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--warmup", type=float, default=30.0,
                        help="seconds the app answers unhealthy after a reimage (time-to-healthy); try one that is "
                             "no multiple of the 5 s probe interval")
    args = parser.parse_args()
    instances = args.instances or (50 if args.quick else 1000)
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {', '.join(sorted(unknown))}; known: {', '.join(VARIANTS)}")
    header("makespan on the sim driver (virtual clock)", {
        "scene": f"{instances} instances, reimage {REIMAGE:g} s, warm-up {args.warmup:g} s, probe every {PROBE_INTERVAL} s"})
    results = [asyncio.run(run_variant(v, instances, args.warmup)) for v in variants]
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
