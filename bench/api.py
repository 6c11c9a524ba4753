"""API read path: scaleset's two hot reads against a bare endpoint of the same web stack and moto.

    .venv/bin/python bench/api.py [--quick] [--instances N] [--duration S] [--runs R] [--rate R]

Goals (issue 7, item 4): scaleset's reads at least 0.5 x the throughput of the floor (a bare JSON
endpoint on the same Starlette/uvicorn/uvloop/httptools stack), at least 20 x moto's
DescribeAutoScalingGroups, and p99 at most 10 ms at a fixed 500 requests/s.

All the servers run on loopback, each in a process of its own, over plain HTTP (the floor and
moto serve no TLS, so scaleset serves none either here: `scaleset serve` without a TLS flag):

1. scaleset: `scaleset serve` (sim driver, SQLite, token auth) with one scale set of `--instances`
   running instances (1,000: the capacity limit). Reads: GET of the scale set, and the paged
   instance list (page size 100; wrk cycles through the pages' $skiptoken URLs, one per request;
   whole lists are also timed one after another, following nextLink).
2. scaleset, page size 10: a second `scaleset serve`, the same but for `--page-size 10`, with the
   same scale set. Read: the instance list a page of 10 at a time (wrk cycles through its
   $skiptoken URLs, offsets stepping 10). A page of 10 describes as many instances as moto's answer:
   the equivalent read the goal names, where a page of 100 describes ten times as many.
3. the floor: bench/_api_floor.py, answering with `JSONResponse` the scale set's own GET body, the
   instance list's first page of 100, and (asked by a query parameter of its own) the first page of
   10 (for a like-for-like ratio of each read).
4. moto: `moto.server` (moto[server]) with an Auto Scaling group of 10 instances; the read is
   DescribeAutoScalingGroups of that group (GET query form, a SigV4-looking Authorization header).

Saturation: `wrk -t1 -c64 -d10s --latency`, 3 runs per target (interleaved), medians: 64 connections,
as with 16 on a 2-core host the fast servers sat idle between wrk's rounds (the floor ~55% busy) and
the figure was wrk's and the host's more than the server's. Fixed rate:
an open-loop Python generator (bench/_api_load.py) at 500 requests/s for 10 s, for all but moto. On a
machine of 2 or more cores the servers are pinned to core 0 and wrk and the generator to the others,
so the load tool never takes CPU from the server it measures; all of them run at nice -10 when that
is allowed. The servers not measured at a time sit idle beside the one that is (an idle scaleset
server with its 1,000 instances takes ~0.3% of a core).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import _api_load as load
import httpx
from _api_servers import ASG_SIZE, AWS_AUTHORIZATION, COMPUTE, TOKEN, Floor, Moto, Scaleset, moto_available
from _common import header, load_average, median, ratio, tool_version
from _cpu_sampler import process_cpu

QUICK = {"instances": 1000, "duration": 1.0, "runs": 1, "rate_duration": 2.0, "lists": 3}
FULL = {"instances": 1000, "duration": 10.0, "runs": 3, "rate_duration": 10.0, "lists": 20}
GOAL_FLOOR, GOAL_MOTO, GOAL_P99 = 0.5, 20.0, 0.010
FLOOR_VMSS, VMSS = "floor, scale set body", "scaleset GET vmss"
FLOOR_PAGE, PAGE = "floor, page body", "scaleset list page"
FLOOR_PAGE10, PAGE10 = "floor, page-of-10 body", "scaleset list page of 10"
MOTO = "moto DescribeASG"


@dataclass
class Target:
    name: str
    url: str
    paths: list[str]
    headers: dict[str, str]
    pid: int
    body: int  # bytes in one answer (the first page, for the list)


@dataclass
class Row:
    target: Target
    results: list[load.Result]
    cpu: list[float]  # the server's CPU seconds per request, per run

    def med(self, pick: Callable[[load.Result], float]) -> float:
        return median([pick(r) for r in self.results])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if math.isfinite(seconds) else "n/a"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def pinning() -> tuple[set[int] | None, set[int] | None]:
    """(servers' cores, load's cores): core 0 for the servers, the rest for wrk and the generator."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2:
        return None, None
    return {cores[0]}, set(cores[1:])


def raise_priority() -> str:
    """nice -10 for this process and so for everything it starts (the three servers, wrk, the
    generator alike): other jobs on the host then take less from the measurement. A starved wrk
    cannot drive a fast server, and the ratios to a slow one (moto) would shrink."""
    try:
        os.nice(-10)
    except OSError as error:
        return f"unchanged (nice {os.nice(0)}; raising it needs root: {error.strerror})"
    return f"nice {os.nice(0)} for the servers, wrk and the generator alike (other jobs on the host take less from them)"


def page_urls(server: Scaleset) -> list[str]:
    """The instance list's page URLs, as its nextLinks give them: offsets stepping the page size."""
    first = f"{server.vmss_path}/virtualMachines?api-version={COMPUTE}"
    return [first + (f"&%24skiptoken={o}" if o else "") for o in range(0, server.instances, server.page_size)]


def saturate(target: Target, wrk: str | None, *, connections: int, duration: float) -> tuple[load.Result, float]:
    """One saturation run: the result and the server's CPU seconds per request."""
    cpu0 = process_cpu(target.pid)
    if wrk:
        result = load.saturate(wrk, target.url, target.paths, target.headers, connections=connections, duration=duration)
    else:
        result = load.saturate_python(target.url, target.paths, target.headers, connections=connections, duration=duration)
    return result, ratio(process_cpu(target.pid) - cpu0, result.requests)


def report(name: str, floor_name: str, rows: dict[str, Row], at_rate: dict[str, load.RateResult], rate: float,
           moto_why: str | None, like: str = "") -> None:
    """One read's verdict lines: its ratio to its own floor, to moto (`like` says what the two
    answers describe, when that is the goal's equivalent read), and its p99 at the fixed rate."""
    rps = rows[name].med(lambda r: r.rps)
    share = ratio(rps, rows[floor_name].med(lambda r: r.rps))
    print(f"ratio {name} / {floor_name}: {share:.2f} (goal >= {GOAL_FLOOR:g}: {verdict(share >= GOAL_FLOOR)}); "
          f"server CPU per request {ratio(median(rows[name].cpu), median(rows[floor_name].cpu)):.2f} x the floor's")
    if MOTO in rows:
        times_moto = ratio(rps, rows[MOTO].med(lambda r: r.rps))
        print(f"ratio {name} / {MOTO}: {times_moto:.1f} (goal >= {GOAL_MOTO:g}: {verdict(times_moto >= GOAL_MOTO)})" + like)
    else:
        print(f"ratio {name} / moto: SKIPPED ({moto_why})")
    p99 = at_rate[name].p99
    print(f"p99 {name} at {rate:g}/s: {ms(p99)} (goal <= {GOAL_P99 * 1000:g} ms: {verdict(p99 <= GOAL_P99)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the CI smoke form: 1 run of 1 s per target, 2 s at the rate")
    parser.add_argument("--instances", type=int, help="instances in the scale set (default 1000)")
    parser.add_argument("--duration", type=float, help="seconds per saturation run (default 10; --quick 1)")
    parser.add_argument("--runs", type=int, help="saturation runs per target, medians reported (default 3; --quick 1)")
    parser.add_argument("--connections", type=int, default=64, help="wrk's connections (default 64)")
    parser.add_argument("--rate", type=float, default=500.0, help="the fixed rate, requests/s (default 500)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the servers and the load to separate cores")
    args = parser.parse_args()
    preset = QUICK if args.quick else FULL
    instances = args.instances or int(preset["instances"])
    duration, runs = args.duration or preset["duration"], args.runs or int(preset["runs"])
    rate_duration = preset["rate_duration"]
    if not 1 <= instances <= 1000 or duration <= 0 or runs < 1 or args.connections < 1 or args.rate <= 0:
        parser.error("--instances must be 1..1000 (a scale set's capacity limit); the others positive")
    servers_pin, load_pin = (None, None) if args.no_pin else pinning()
    if load_pin is not None:
        os.sched_setaffinity(0, load_pin)  # wrk and the generator run from here and inherit it
    priority = raise_priority()
    wrk, wrk_how = load.ensure_wrk()
    moto_why = moto_available()
    header("API read path: scaleset vs the bare web stack vs moto", {
        "servers": "each in a process of its own on 127.0.0.1, plain HTTP; " + (
            f"pinned to core {min(servers_pin)} (taskset-style affinity), load on core(s) "
            f"{','.join(map(str, sorted(load_pin or ())))}" if servers_pin else "not pinned"),
        "priority": priority,
        "scaleset": f"scaleset serve, sim driver, SQLite, bearer token, scale set of {instances} running instances, "
                    f"page size 100; a second one the same but for page size {ASG_SIZE} (as many instances as moto's group)",
        "floor": "Starlette JSONResponse on uvicorn (uvloop.run, httptools, lifespan off, no access log)",
        "moto": f"moto.server, Auto Scaling group of {ASG_SIZE}" if moto_why is None else f"SKIPPED: {moto_why}",
        "saturation": (f"{tool_version([wrk, '--version'])} ({wrk_how}), -t1 -c{args.connections} -d{duration:g}s --latency"
                       if wrk else f"Python stand-in, {args.connections} connections, {duration:g} s (wrk unavailable: {wrk_how})")
                      + f", {runs} run(s) per target, medians",
        "fixed rate": f"{args.rate:g} requests/s for {rate_duration:g} s, open loop (bench/_api_load.py, httptools client)",
    })
    if not wrk:
        print(f"wrk: SKIPPED ({wrk_how}); saturation figures come from the Python stand-in and understate the floor\n")
    started = time.monotonic()
    # The second server lists the same scale set a page of ASG_SIZE at a time: the like-for-like read.
    scaleset, scaleset10 = Scaleset(instances, servers_pin), Scaleset(instances, servers_pin, page_size=ASG_SIZE)
    floor, moto = None, None
    failed = True
    try:
        scaleset.start()
        up = scaleset.set_up()
        print(f"scaleset: {instances} instances running {up:.1f} s after the scale set's PUT", flush=True)
        scaleset10.start()
        up = scaleset10.set_up()
        print(f"scaleset, page size {ASG_SIZE}: {instances} instances running {up:.1f} s after the scale set's PUT", flush=True)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        vmss = f"{scaleset.vmss_path}?api-version={COMPUTE}"
        pages, pages10 = page_urls(scaleset), page_urls(scaleset10)
        with scaleset.client() as client:
            got, first = client.get(vmss), client.get(pages[0])
        with scaleset10.client() as client:
            first10 = client.get(pages10[0])
        value = first10.json().get("value", []) if first10.status_code == 200 else []
        if len(value) != min(ASG_SIZE, instances):  # the like-for-like comparison stands on it
            raise RuntimeError(f"serve --page-size {ASG_SIZE}: a first page of {len(value)} ({first10.status_code})")
        floor = Floor(got.json(), first.json(), servers_pin, page10=first10.json())
        floor.start()
        floor_page10 = f"{pages10[0]}&{Floor.PAGE10}"
        with httpx.Client(base_url=floor.url, trust_env=False) as client:
            floor_sizes = [len(client.get(path).content) for path in (vmss, pages[0], floor_page10)]
        targets = [Target(FLOOR_VMSS, floor.url, [vmss], {}, floor.pid, floor_sizes[0]),
                   Target(VMSS, scaleset.url, [vmss], auth, scaleset.pid, len(got.content)),
                   Target(FLOOR_PAGE, floor.url, [pages[0]], {}, floor.pid, floor_sizes[1]),
                   Target(PAGE, scaleset.url, pages, auth, scaleset.pid, len(first.content)),
                   Target(FLOOR_PAGE10, floor.url, [floor_page10], {}, floor.pid, floor_sizes[2]),
                   Target(PAGE10, scaleset10.url, pages10, auth, scaleset10.pid, len(first10.content))]
        if moto_why is None:
            moto = Moto(servers_pin)
            moto.start()
            print(f"moto: Auto Scaling group of {moto.set_up()} instances", flush=True)
            moto_headers = {"Authorization": AWS_AUTHORIZATION}
            moto_body = len(httpx.get(moto.url + moto.path, headers=moto_headers, trust_env=False).content)
            targets.append(Target(MOTO, moto.url, [moto.path], moto_headers, moto.pid, moto_body))
        else:
            print(f"moto: SKIPPED ({moto_why})", flush=True)
        print()

        rows = {t.name: Row(t, [], []) for t in targets}
        for t in targets:  # warm-up, not counted: first requests fill caches and pools
            saturate(t, wrk, connections=args.connections, duration=1)
        for run in range(runs):
            for t in targets:
                result, cpu = saturate(t, wrk, connections=args.connections, duration=duration)
                rows[t.name].results.append(result)
                rows[t.name].cpu.append(cpu)
                print(f"  run {run + 1}/{runs} {t.name}: {result.rps:,.0f}/s p50 {ms(result.p50)} p99 {ms(result.p99)}",
                      flush=True)
        width = max(len(n) for n in rows)
        print(f"\n{'saturation':<{width}}  {'body':>9}  {'req/s':>9}  {'p50':>9}  {'p99':>9}  {'server CPU/req':>14}  bad")
        for row in rows.values():
            print(f"{row.target.name:<{width}}  {row.target.body:>7,} B  {row.med(lambda r: r.rps):>9,.0f}  "
                  f"{ms(row.med(lambda r: r.p50)):>9}  {ms(row.med(lambda r: r.p99)):>9}  "
                  f"{median(row.cpu) * 1e6:>11,.0f} µs  {sum(r.bad for r in row.results)}")
        page_rps = rows[PAGE].med(lambda r: r.rps)
        print(f"scaleset full list ({len(pages)} pages): {page_rps / len(pages):,.1f} lists/s at saturation")
        print(f"scaleset full list ({len(pages10)} pages of {ASG_SIZE}): "
              f"{rows[PAGE10].med(lambda r: r.rps) / len(pages10):,.1f} lists/s at saturation")

        times, got_pages, items = load.full_lists(scaleset.url, pages[0], auth, count=int(preset["lists"]))
        print(f"scaleset full list, one client following nextLink: {got_pages} pages, {items:,} items, "
              f"median {ms(median(times))}, slowest {ms(max(times))} over {len(times)} lists")

        print(f"\n{'fixed rate':<{width}}  {'sent':>6}  {'missed':>6}  {'errors':>6}  {'p50':>9}  {'p99':>9}  {'max':>9}")
        at_rate: dict[str, load.RateResult] = {}
        for t in targets:
            if t.name == MOTO:  # not held to the rate: ~360/s at saturation, it could not keep 500/s
                continue
            r = load.fixed_rate(t.url, t.paths, t.headers, rate=args.rate, duration=rate_duration)
            at_rate[t.name] = r
            print(f"{t.name:<{width}}  {r.sent:>6,}  {r.missed:>6,}  {r.errors:>6,}  {ms(r.p50):>9}  {ms(r.p99):>9}  {ms(r.max):>9}",
                  flush=True)

        print()
        report(VMSS, FLOOR_VMSS, rows, at_rate, args.rate, moto_why)
        report(PAGE, FLOOR_PAGE, rows, at_rate, args.rate, moto_why)
        if moto is not None:  # a page describes 100 instances, DescribeAutoScalingGroups 10
            scaleset_vms, moto_vms = page_rps * 100, rows[MOTO].med(lambda r: r.rps) * ASG_SIZE
            print(f"instances described per second: {scaleset_vms:,.0f} (scaleset list pages), {moto_vms:,.0f} (moto), "
                  f"ratio {ratio(scaleset_vms, moto_vms):.1f}")
        report(PAGE10, FLOOR_PAGE10, rows, at_rate, args.rate, moto_why,
               like=f"; like for like: a page of {ASG_SIZE} describes as many instances as moto's answer (the goal's "
                    f"equivalent read)")
        failed = False
    finally:
        for server in (moto, floor, scaleset10, scaleset):
            if server is not None:
                server.stop()
        for server in (scaleset, scaleset10):
            if failed and server.process is not None:  # one never started has no log to tell of it
                print(f"scaleset's data dir (page size {server.page_size}) is kept: {server.data_dir}\n"
                      f"{server.log.read_text(errors='replace')[-3000:]}", file=sys.stderr)
            else:
                server.remove()
    print(f"\ndone in {time.monotonic() - started:.0f} s; load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
