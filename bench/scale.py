"""Scale: many scale sets of many instances in one server process, all upgraded by one publish.

    .venv/bin/python bench/scale.py [--quick] [--scale-sets S] [--instances N]

Goals (issue 7) for 1,000 scale sets x 1,000 instances on the sim driver: CPU per instance upgraded
<= 100 µs, peak memory per instance <= 2 KB, publish -> first reimage <= 1 s; and the total wall time.

The real ControlPlane (SQLite, reconciler, health monitor, runner, automatic trigger) runs in this
process on the sim driver and the virtual clock (bench/_sim_plane.py), with `scaleset serve`'s
settings. The scale sets use automatic OS upgrades with the default policy (batches of 20%, no
pause) and the Application Health extension probing every 5 s; the sim image reimages in 60 s and
warms up for 30 s. Once every instance runs, warm, on 1.0.0, image 1.0.1 is published and every
run goes to its end. Virtual time costs nothing, so the wall time is what the engine's own work
takes, and:

- CPU per instance upgraded: this process's CPU time from the publish to the last run's end,
  divided by the instances upgraded (everything the server does meanwhile: probing every instance,
  refreshing states, the runs, the store);
- memory per instance: the peak RSS of the process during the upgrade minus its RSS before the
  scale sets were made, divided by the instances: what every instance costs the server as it
  runs, probed and upgraded (the store's SQLite cache is in it, as in `scaleset serve`). The scale
  sets are made one after another, each booted before the next; the peak meanwhile is shown
  beside it;
- publish -> first reimage: wall time from the publish call to the first reimage asked of the driver.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from _common import header
from _sim_plane import FINISHED, SimPlane, sim_plane

from scaleset.store.tables import instances, upgrade_runs

REIMAGE, WARMUP, PROBE_INTERVAL = 60.0, 30.0, 5
GOALS = {"cpu": 100e-6, "memory": 2048, "first reimage": 1.0}
POLICY = {"mode": "Manual", "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}}


@dataclass
class Figures:
    scale_sets: int
    instances: int  # per scale set
    setup: float  # wall s to make every scale set and boot its instances
    wall: float  # wall s from the publish to the last run's end
    cpu: float  # CPU s meanwhile
    first_reimage: float  # wall s from the publish to the first reimage
    memory: float  # bytes: peak RSS during the upgrade - RSS before the scale sets
    setup_memory: float  # bytes: peak RSS while making and booting them - RSS before
    upgraded: int
    states: dict[str, int]
    makespan: float  # virtual s from the publish to the last run's end

    @property
    def total(self) -> int:
        return self.scale_sets * self.instances


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes() -> int:
    """The peak RSS since the process started, or since the last reset_peak_rss()."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_rss() -> None:
    """Linux resets the peak RSS (VmHWM) to the current RSS on this write (proc(5): clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def run_states(sim: SimPlane) -> dict[str, int]:
    with sim.plane.ctx.db.reading() as conn:
        rows = conn.execute(sa.select(upgrade_runs.c.state, sa.func.count()).group_by(upgrade_runs.c.state)).all()
    return {state: count for state, count in rows}


async def measure(scale_sets: int, instances: int) -> Figures:
    async with sim_plane("scale-") as sim:
        image = {"bootSeconds": REIMAGE, "reimageSeconds": REIMAGE, "warmupSeconds": WARMUP}
        await sim.publish("1.0.0", **image)
        before = rss_bytes()
        setup = time.perf_counter()
        for n in range(scale_sets):  # one after another, as an operator makes them, each booted
            sim.scale_set(f"web{n:04d}", instances, POLICY, probe_interval=PROBE_INTERVAL)
            await sim.plane.reconciler.idle()
        await sim.clock.sleep(REIMAGE + WARMUP)  # every instance up and warm before the upgrade
        setup = time.perf_counter() - setup
        setup_memory = peak_rss_bytes() - before
        reset_peak_rss()
        published, cpu, virtual = time.perf_counter(), time.process_time(), sim.clock.monotonic()
        await sim.publish("1.0.1", **image)
        while sum(n for state, n in run_states(sim).items() if state in FINISHED) < scale_sets:
            await sim.clock.sleep(1)
        wall, cpu, virtual = time.perf_counter() - published, time.process_time() - cpu, sim.clock.monotonic() - virtual
        first = sim.driver.first_reimage - published if sim.driver.first_reimage is not None else math.nan
        return Figures(scale_sets, instances, setup, wall, cpu, first, peak_rss_bytes() - before, setup_memory,
                       upgraded_count(sim), run_states(sim), virtual)


def upgraded_count(sim: SimPlane) -> int:
    with sim.plane.ctx.db.reading() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(instances)
                            .where(instances.c.image_urn.like("%:1.0.1"))).scalar_one()


def report(f: Figures) -> bool:
    cpu = f.cpu / max(1, f.upgraded)
    memory = f.memory / f.total
    rows = [
        ("scale sets x instances", f"{f.scale_sets:,} x {f.instances:,} = {f.total:,}", None),
        ("runs", ", ".join(f"{n:,} {state}" for state, n in sorted(f.states.items())), None),
        ("instances upgraded", f"{f.upgraded:,}", None),
        ("setup (create and boot)", f"{f.setup:.1f} s wall", None),
        ("upgrade, publish to last run's end", f"{f.wall:.1f} s wall, {f.makespan:.0f} s virtual", None),
        ("CPU per instance upgraded", f"{cpu * 1e6:,.0f} µs", cpu <= GOALS["cpu"]),
        ("peak memory per instance", f"{memory:,.0f} B", memory <= GOALS["memory"]),
        ("  (while they were made and booted)", f"{f.setup_memory / f.total:,.0f} B", None),
        ("publish -> first reimage", f"{f.first_reimage * 1e3:,.1f} ms", f.first_reimage <= GOALS["first reimage"]),
    ]
    ok = f.upgraded == f.total
    for name, value, passed in rows:
        verdict = "" if passed is None else ("PASS" if passed else "MISS")
        ok &= passed is not False
        print(f"{name:<36} {value:<40} {verdict}")
    print(f"verdict: {'PASS' if ok else 'MISS'} (goals: CPU <= 100 µs and memory <= 2 KB per instance, "
          "first reimage <= 1 s, every instance upgraded)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the smoke form: 10 scale sets x 20 instances")
    parser.add_argument("--scale-sets", type=int, default=None)
    parser.add_argument("--instances", type=int, default=None)
    args = parser.parse_args()
    scale_sets = args.scale_sets or (10 if args.quick else 1000)
    instances = args.instances or (20 if args.quick else 1000)
    header("scale: one publish upgrades every scale set (sim driver, virtual clock)", {
        "scene": f"{scale_sets:,} scale sets x {instances:,} instances, reimage {REIMAGE:g} s, warm-up {WARMUP:g} s, "
                 f"probe every {PROBE_INTERVAL} s"})
    return 0 if report(asyncio.run(measure(scale_sets, instances))) else 1


if __name__ == "__main__":
    sys.exit(main())
