"""Load: mixed ARM reads and writes at a fixed rate while a rolling OS upgrade runs.

    .venv/bin/python bench/load.py [--short] [--rate R] [--duration S] [--instances N] [--workers W]

Goal (issue 6): 500 requests/s of mixed reads and writes for 60 s on loopback while an upgrade
runs: zero errors, and the upgrade ends as it would have without the load (same final state, same
per-instance outcome, same number of batches; its duration may differ and is reported).

Each of two runs starts its own `scaleset serve` (TLS, sim driver by default, a fresh data dir),
builds the same scene (bench/_load_server.py) and publishes image 1.0.1 a tenth of `--duration`
after the clock starts, which starts the platform's automatic rolling upgrade of scale set `web`:

1. baseline: no load; the upgrade runs to its end.
2. under load: the open-loop, bounded generator (bench/_load_generator.py) sends `--rate`
   requests/s for `--duration` s from its own process(es), reads of the upgrading scale set and
   writes around it, including PATCHes of its tags, while the same upgrade runs.

The upgrade's pace is set from `--duration` (sim reimage time and pauseTimeBetweenBatches) so that
it takes about 60% of the load window and runs under load from start to end. The exit status is
non-zero when any request failed (a status its kind does not expect, a connection error, a
timeout) or when the upgrade's outcome differed. Requests that could not be sent on time are
reported ("load delivered: MISS"), not an exit status: they are the generator's or the host's.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import _common
import _load_generator as load
import _load_server as scene_
from _common import header, ratio
from _cpu_sampler import CpuSampler, process_cpu
from _load_server import Outcome, Scene, Server

SHORT = {"rate": 100.0, "duration": 5.0, "instances": 10}
FULL = {"rate": 500.0, "duration": 60.0, "instances": 20}
BATCH_PERCENT = 20
LEAD = 0.1  # of the duration: the load runs alone this long before the image is published
PUBLISH_GRACE = 2.0  # s after the publish is due by which its upgrade has surely started
SLOW = 0.5  # s: answers slower than this are called out, second by second
UPGRADE_SHARE = 0.6  # of the duration: how long the upgrade should take without load


def scene_for(driver: str, instances: int, duration: float) -> Scene:
    """A scene whose upgrade takes about UPGRADE_SHARE of the load window (a batch: the reimage,
    then about two probe intervals until the probes say healthy, then the pause before the next)."""
    batches = math.ceil(100 / BATCH_PERCENT) if instances >= 100 / BATCH_PERCENT else instances
    reimage = min(3.0, max(0.1, 0.05 * duration))
    probe = min(0.5, duration / 25)
    pause = max(0.0, (UPGRADE_SHARE * duration - batches * (reimage + 2 * probe)) / max(1, batches - 1))
    return Scene(driver=driver, instances=instances, batch_percent=BATCH_PERCENT, pause_seconds=round(pause, 1),
                 reimage_seconds=reimage, probe_interval=probe)


class Run:
    """One server, one scene, one upgrade; with or without load."""

    def __init__(self, name: str, scene: Scene) -> None:
        self.name, self.scene = name, scene
        self.outcome: Outcome | None = None
        self.tally: load.Tally | None = None
        self.observed = float("nan")  # publish to the end seen by a client polling twice a second
        self.server_cpu = float("nan")  # the server's CPU seconds over the load window (or the upgrade)
        self.window = float("nan")
        self.covered = float("nan")  # share of the upgrade that ran while the load did
        self.sampler = CpuSampler()
        self.server_errors = ""  # the tail of the server's log when it logged a traceback

    def go(self, *, rate: float, duration: float, workers: int, max_in_flight: int, timeout: float,
           tolerance: float, loaded: bool) -> None:
        server = Server(self.scene)
        server.start()
        try:
            scene_.set_up(server)
            target = load.Target(server.url, server.ca, scene_.TOKEN, server.subscription, self.scene.instances,
                                 self.scene.page_size)
            generator: load.Load | None = None
            if loaded:
                generator = load.Load(target, workers=workers, rate=rate, duration=duration, max_in_flight=max_in_flight,
                                      timeout=timeout, tolerance=tolerance, upgrade_after=LEAD * duration + PUBLISH_GRACE)
                start_at = generator.start()
            else:
                start_at = time.time() + 0.5
            self.sampler.start(start_at, {"server": [server.process.pid],  # type: ignore[union-attr]
                                          "generator": generator.pids if generator else []})
            time.sleep(max(0.0, start_at - time.time()))
            cpu0 = process_cpu(server.process.pid)  # type: ignore[union-attr]
            time.sleep(LEAD * duration)
            with server.client() as client:
                published = time.time()
                scene_.publish(server, client, "1.0.1")
                if loaded and time.time() > start_at + LEAD * duration + PUBLISH_GRACE:
                    print("warning: the publish took longer than its grace; 404s from rollingUpgrades/latest "
                          "after it count as errors", file=sys.stderr)
                latest = scene_.wait_upgrade_end(server, client, timeout=duration * 10 + 120)
                ended = time.time()
                self.observed = ended - published
                if generator is not None:
                    self.tally = generator.join()
                    load_end = start_at + duration
                    self.covered = max(0.0, min(ended, load_end) - published) / self.observed
                self.window = time.time() - start_at
                self.sampler.stop()
                self.server_cpu = process_cpu(server.process.pid)  # type: ignore[union-attr]
                self.server_cpu -= cpu0
                self.outcome = scene_.outcome(server, client, latest)
        except BaseException:
            self.sampler.stop()
            server.stop()
            print(f"server log ({server.data_dir / 'server.log'}):\n{server.log_tail()}", file=sys.stderr)
            raise
        server.stop()
        if "Traceback" in (server.data_dir / "server.log").read_text(errors="replace"):
            self.server_errors = server.log_tail(80)
            print(f"the server logged an error; its data dir is kept: {server.data_dir}", file=sys.stderr)
        else:
            server.remove()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if math.isfinite(seconds) else "n/a"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def report_upgrade(run: Run) -> None:
    o = run.outcome
    assert o is not None
    upgraded = sum(1 for v in o.versions.values() if v == "1.0.1")
    print(f"upgrade ({run.name}): {o.state}, {o.batches} batches, {upgraded}/{len(o.versions)} instances on 1.0.1, "
          f"progress {o.progress}, {o.seconds:.1f} s (server's startTime to endTime; {run.observed:.1f} s from "
          f"publish to the end a client saw){'' if o.error is None else f', error {o.error}'}")
    print(f"  batches: {o.batch_plan()}")
    print(f"  server CPU: {run.server_cpu:.1f} s over {run.window:.1f} s ({ratio(run.server_cpu, run.window):.0%} of a core)",
          flush=True)


def report_load(tally: load.Tally, rate: float, cpu: dict[int, dict[str, float]]) -> None:
    missed = sum(tally.missed.values())
    answered = sum(sum(c.values()) for c in tally.statuses.values())
    print(f"load: {tally.scheduled:,} scheduled, {tally.sent:,} sent, {missed:,} missed schedule"
          f"{' (' + ', '.join(f'{r}: {n:,}' for r, n in tally.missed.items()) + ')' if missed else ''}, "
          f"{answered:,} answered, {tally.error_count:,} errors")
    print(f"achieved rate: {tally.sent / (tally.scheduled / rate):,.1f} requests/s sent ({ratio(tally.sent, tally.scheduled):.2%} "
          f"of {rate:g}/s), {answered / tally.wall:,.1f}/s answered over {tally.wall:.1f} s; generator CPU "
          f"{tally.cpu:.1f} s ({ratio(tally.cpu, tally.wall):.0%} of a core); furthest behind schedule at send "
          f"{ms(tally.max_lag)}; {tally.connections} connections opened ({tally.expired} closed by us after idling)")
    width = max(len(k.name) for k in load.KINDS)
    print(f"{'kind':<{width}}  {'sent':>6}  {'p50':>9}  {'p99':>9}  {'max':>9}  statuses")
    everything: list[float] = []
    for kind in load.KINDS:
        values = tally.latencies.get(kind.name, [])
        everything += values
        counts = tally.statuses.get(kind.name, {})
        statuses = ", ".join(f"{s} x{n:,}" for s, n in sorted(counts.items()))
        print(f"{kind.name:<{width}}  {len(values):>6,}  {ms(percentile(values, 50)):>9}  {ms(percentile(values, 99)):>9}"
              f"  {ms(max(values, default=float('nan'))):>9}  {statuses}")
    for label, write in (("reads", False), ("writes", True)):
        values = [x for k in load.KINDS if k.write is write for x in tally.latencies.get(k.name, [])]
        print(f"{label:<{width}}  {len(values):>6,}  {ms(percentile(values, 50)):>9}  {ms(percentile(values, 99)):>9}"
              f"  {ms(max(values, default=float('nan'))):>9}")
    print(f"{'all':<{width}}  {len(everything):>6,}  {ms(percentile(everything, 50)):>9}  "
          f"{ms(percentile(everything, 99)):>9}  {ms(max(everything, default=float('nan'))):>9}")
    print("(latency: from the request's due time to its whole answer)")
    bad = sorted(t for t, (_, missed, errors, slowest) in tally.timeline.items() if missed or errors or slowest > SLOW)
    print(f"seconds with a miss, an error or an answer slower than {SLOW * 1000:.0f} ms: {len(bad)} of "
          f"{len(tally.timeline)}" + (": " if bad else ""))
    for t in bad[:20]:
        sent, missed, errors, slowest = tally.timeline[t]
        used = cpu.get(t, {})
        print(f"  second {t:>3}: {int(sent)} sent, {int(missed)} missed, {int(errors)} errors, slowest {ms(slowest)}; "
              + ", ".join(f"{name} {share:.0%}" for name, share in used.items()) + (" of a core" if used else ""))
    if cpu:
        seconds = len(cpu)
        print("CPU, mean over the load: " + ", ".join(
            f"{name} {sum(s.get(name, 0.0) for s in cpu.values()) / seconds:.0%}" for name in next(iter(cpu.values())))
            + " of a core (others: everything else on the machine)")
    for error in tally.errors[:10]:
        print(f"  ERROR {error}")
    print(flush=True)


def compare(base: Run, loaded: Run, tally: load.Tally) -> list[str]:
    """The verdict's failures; prints the comparison."""
    b, u = base.outcome, loaded.outcome
    assert b is not None and u is not None
    diffs = u.same_as(b)
    print(f"final state: {b.state} without load, {u.state} under load")
    print(f"batches: {b.batches} without load, {u.batches} under load")
    print(f"per-instance outcome: {'same' if not any(d.startswith('per-instance') for d in diffs) else 'DIFFERENT'}"
          f" ({len(u.members)} instances)")
    print(f"batch membership: {'same' if u.batch_plan() == b.batch_plan() else 'different'}")
    print(f"duration: {b.seconds:.1f} s without load, {u.seconds:.1f} s under load; ratio under load / without: "
          f"{ratio(u.seconds, b.seconds):.2f}")
    print(f"upgrade under load: {loaded.covered:.0%} of it ran while the load did")
    failures = [f"upgrade outcome differs: {d}" for d in diffs]
    if b.state != "Completed":
        failures.append(f"the baseline upgrade did not complete ({b.state}): the scene is broken")
    if tally.error_count:
        failures.append(f"{tally.error_count:,} requests failed")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the CI form: 100/s for 5 s, 10 instances")
    parser.add_argument("--rate", type=float, help="requests per second (default 500; --short 100)")
    parser.add_argument("--duration", type=float, help="seconds of load (default 60; --short 5)")
    parser.add_argument("--instances", type=int, help="instances in the upgrading scale set (default 20; --short 10)")
    parser.add_argument("--workers", type=int, default=1, help="generator processes (default 1)")
    parser.add_argument("--max-in-flight", type=int, default=128, help="cap on outstanding requests (default 128)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a request may take (default 10)")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="seconds behind schedule past which a request is missed, not sent (default 0.05)")
    parser.add_argument("--driver", choices=("sim", "process"), default="sim",
                        help="what instances are (default sim: timings the scene sets, on the real clock)")
    args = parser.parse_args()
    preset = SHORT if args.short else FULL
    rate = args.rate or preset["rate"]
    duration = args.duration or preset["duration"]
    instances = args.instances or int(preset["instances"])
    if rate <= 0 or duration <= 0 or instances < 1 or args.workers < 1:
        parser.error("--rate, --duration, --instances and --workers must be positive")
    scene = scene_for(args.driver, instances, duration)
    header("Load: mixed ARM requests at a fixed rate while a rolling upgrade runs", {
        "server": f"scaleset serve, TLS on 127.0.0.1, driver {scene.driver}, SQLite, page size {scene.page_size}, "
                  f"probe and status interval {scene.probe_interval:g} s, health wait {scene.health_wait:g} s",
        "scene": f"scale set of {instances}, Rolling, maxBatchInstancePercent {scene.batch_percent}, "
                 f"pauseTimeBetweenBatches {scene.pause_seconds:g} s"
                 + (f", sim reimage {scene.reimage_seconds:g} s" if scene.driver == "sim" else ""),
        "load": f"{rate:g} requests/s for {duration:g} s, open loop, at most {args.max_in_flight} in flight, "
                f"{args.workers} generator process(es) on {load.loop_name()}, own HTTP/1.1 keep-alive client (httptools), "
                f"timeout {args.timeout:g} s, missed when {args.tolerance * 1000:g} ms behind",
        "mix": ", ".join(f"{k.name} {k.weight}" for k in load.KINDS) + " (per 100)",
    })
    started = time.monotonic()
    options: dict[str, Any] = dict(rate=rate, duration=duration, workers=args.workers, max_in_flight=args.max_in_flight,
                                   timeout=args.timeout, tolerance=args.tolerance)
    base, loaded = Run("without load", scene), Run("under load", scene)
    print("== run 1: without load", flush=True)
    base.go(**options, loaded=False)
    report_upgrade(base)
    print(f"\n== run 2: under load, {rate:g} requests/s for {duration:g} s", flush=True)
    loaded.go(**options, loaded=True)
    assert loaded.tally is not None
    report_load(loaded.tally, rate, loaded.sampler.seconds)
    report_upgrade(loaded)
    per_request = ratio(loaded.server_cpu - base.server_cpu * ratio(loaded.window, base.window), loaded.tally.sent)
    print(f"  server CPU per request: {per_request * 1000:.2f} ms (its CPU under load less the upgrade's own, "
          f"scaled from the run without load); one core would serve about {ratio(1, per_request):,.0f} requests/s of "
          f"this mix on its one event loop", flush=True)
    print("\n== the upgrade with and without load")
    failures = compare(base, loaded, loaded.tally)
    missed = sum(loaded.tally.missed.values())
    print(f"load delivered: {'PASS' if not missed else 'MISS'} ({loaded.tally.sent:,} of {loaded.tally.scheduled:,} "
          f"requests sent on time; a miss is reported, not an exit status, as it is the generator's or the host's)")
    print()
    if failures:
        print("verdict: FAIL\n" + "\n".join(f"  - {f}" for f in failures))
    else:
        print(f"verdict: PASS ({loaded.tally.sent:,} requests, zero errors; the upgrade ended as without load)")
    print(f"done in {time.monotonic() - started:.0f} s; load average at end: {_common.load_average()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
