"""`scaleset sim`: the deterministic fault simulation, many seeds at once (see scaleset.simulation).

Every seed runs the real engine and store against a random fleet, policy and fault schedule, on a
virtual clock, and checks the invariants while it runs. A failing seed is replayed exactly by its
number (`--seeds 1 --start S --trace` prints what happened).
"""

from __future__ import annotations

import sys

import click


@click.command("sim")
@click.option("--seeds", "count", type=click.IntRange(min=1), default=100, show_default=True, help="How many seeds to run.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="The first seed.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: the number of cores).")
@click.option("--trace", is_flag=True, help="Print each seed's trace (for replaying a few seeds).")
def sim(count: int, start: int, jobs: int | None, trace: bool) -> None:
    """Run seeds START..START+SEEDS-1 of the fault simulation; exit 1 on any violation."""
    from scaleset.simulation.report import default_jobs, describe, simulate

    seeds = range(start, start + count)
    jobs = jobs or default_jobs()
    click.echo(f"simulating seeds {seeds.start}..{seeds.stop - 1} with {min(jobs, count)} job(s)")
    summary = simulate(seeds, jobs=jobs, echo=click.echo, keep_trace=trace)
    for line in describe(summary, count):
        click.echo(line)
    sys.exit(1 if summary.failed or summary.ran != count else 0)
