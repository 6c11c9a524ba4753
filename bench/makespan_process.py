"""Makespan on the process driver: a rolling OS upgrade of real processes behind real HTTP probes,
against the fastest its policy allows on this machine, measured in the same run.

    .venv/bin/python bench/makespan_process.py [--quick] [--instances N] [--warmup S]

Goal (issue 7): the run's makespan / lower bound <= 1.15, where the lower bound is
ceil(N / batch) x (reimage + time-to-healthy) (no pauses: the default policy has none).

- The server: a real `scaleset serve` (process driver, TLS, SQLite) with its production settings:
  no interval, wait or poll shortened (bench/_makespan_process_scene.py says which flags and why).
- The scene, over the ARM API: a scale set of N instances (20; `--quick` 5), Rolling, automatic OS
  upgrades on, the documented default policy (batches of 20%, no pause), image `latest`, health
  from the Application Health extension (binary, HTTP :8080/health, every 5 s, one answer decides).
  Each instance's app warms up for `--warmup` seconds (2; `--quick` 0.5) after it starts,
  answering 503 meanwhile, so the bound is not mostly interpreter start-up.
- The floor, measured first, in the same run: a ProcessDriver of this process's own (same image,
  same extension, a directory of its own) reimages one machine at a time: reimage = the driver's
  reimage() call (old process stopped, OS disk laid down, supervisor up, boot started); boot to
  healthy = from its return to the first 200 on /health (polled every 20 ms). Medians over several
  reimages. Then a whole batch at once (each machine's reimage() to its first 200, the slowest),
  which says what running a batch's reimages side by side costs on this host.
- The run: publishing 1.0.1 starts it (the platform's trigger). Makespan as the server records it
  (rollingUpgrades/latest startTime to endTime) and as the client sees it (the publish request sent
  to the first poll, every 100 ms, that shows it Completed). Per batch, from the server's store
  (each phase's own timestamp) and the apps' logs: when it started, when its processes started,
  when its reimages were recorded, when its apps were warm, when each answered its first 200 (the
  server's probe), and when the batch was judged healthy.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import sys
import time
from pathlib import Path

from _common import header, median, poll_http, ratio
from _load_server import COMPUTE, _check, list_all, wait_upgrade_end
from _makespan_process_scene import (APP_PORT, GROUP, HEALTH_EXTENSION, NAME, SERVER_FLAGS, PhaseWatcher, app_events,
                                     artifact, cpu_seconds, epoch, new_server, publish, set_up)

from scaleset.drivers.base import ExtensionSpec, ExtensionState, ImageArtifact, InstanceSpec
from scaleset.drivers.process import ProcessDriver, remove_all
from scaleset.model.addresses import block_for

GOAL = 1.15
URN = "Canonical:UbuntuServer:18.04-LTS:{}"


# -- the floor -------------------------------------------------------------------------------------

async def measure_floor(folder: Path, block: int, warmup: float, batch: int, lone: int, rounds: int) -> dict[str, list[float]]:
    """Reimage and boot-to-healthy of lone machines, and of `batch` machines at once."""
    folder.mkdir(parents=True, exist_ok=True)
    driver = ProcessDriver(folder / "machines")
    images = {}
    for version in ("1.0.0", "1.0.1"):
        upload = folder / f"{version}.tar.gz"
        upload.write_bytes(artifact(version, warmup))
        await driver.install_image(upload, folder / "images" / version)
        images[version] = ImageArtifact(URN.format(version), folder / "images" / version)
    props = HEALTH_EXTENSION["properties"]
    extension = ExtensionSpec(HEALTH_EXTENSION["name"], props["publisher"], props["type"], props["typeHandlerVersion"],
                              settings=props["settings"])
    # Addresses far above the scale set's in the server's block (it hands out 127.b.0.1 upwards).
    ips = [f"127.{block}.250.{k + 1}" for k in range(batch)]
    generation = 0

    def spec(k: int, version: str) -> InstanceSpec:
        return InstanceSpec(key=f"floor-{k}", instance_id=str(900 + k), computer_name=f"floor{k}", private_ip=ips[k],
                            image=images[version], ports=(APP_PORT,), extensions=(extension,), generation=generation)

    async def healthy(k: int, version: str) -> float:
        async def where() -> tuple[str, int]:
            return ips[k], APP_PORT
        answer = await poll_http(where, "/health", lambda a: a.status == 200 and a.body == version.encode(),
                                 interval=0.02, deadline=60)
        return answer.at

    async def reimage(k: int, version: str) -> tuple[float, float, float]:
        """(reimage call, boot to healthy, extension recorded after the call), seconds."""
        t0 = time.monotonic()
        await driver.reimage(spec(k, version))
        t1 = time.monotonic()
        ready = asyncio.create_task(healthy(k, version))
        while (await driver.status(f"floor-{k}")).extensions[0].state == ExtensionState.TRANSITIONING:
            await asyncio.sleep(0.01)
        t_ext = time.monotonic()
        return t1 - t0, await ready - t1, t_ext - t1

    found: dict[str, list[float]] = {"reimage": [], "boot": [], "extension": [], "batch": [], "batch call": []}
    try:
        await asyncio.gather(*(driver.create(spec(k, "1.0.0")) for k in range(batch)))
        await asyncio.gather(*(healthy(k, "1.0.0") for k in range(batch)))
        on = {k: "1.0.0" for k in range(batch)}
        for n in range(lone):  # one machine at a time, round robin, each to the other image
            k = n % batch
            on[k] = "1.0.1" if on[k] == "1.0.0" else "1.0.0"
            generation += 1
            call, boot, ext = await reimage(k, on[k])
            found["reimage"].append(call)
            found["boot"].append(boot)
            found["extension"].append(ext)
        for _ in range(rounds):  # the whole batch at once
            generation += 1
            for k in on:
                on[k] = "1.0.1" if on[k] == "1.0.0" else "1.0.0"
            results = await asyncio.gather(*(reimage(k, on[k]) for k in range(batch)))
            found["batch"].append(max(call + boot for call, boot, _ in results))
            found["batch call"].append(max(call for call, _, _ in results))
    finally:
        for k in range(batch):
            await driver.delete(f"floor-{k}")
    return found


# -- the run -------------------------------------------------------------------------------------

def run_upgrade(server, warmup: float, watcher: PhaseWatcher, timeout: float) -> tuple[dict, float, float]:
    """Publish 1.0.1 and wait for the run to end: (rollingUpgrades/latest with "ended", the run's
    osUpgradeHistory runningStatus; the publish sent; the end seen), times in epoch seconds."""
    with server.client() as client:
        watcher.start()
        sent = time.time()
        publish(server, client, "1.0.1", warmup)
        body = wait_upgrade_end(server, client, timeout=timeout, group=GROUP, name=NAME, interval=0.1)
        seen = time.time()
        # latest has no endTime (as in Azure); the history entry of the run has both.
        history = _check(client.get(f"{server.vmss(GROUP, NAME)}/osUpgradeHistory",
                                    params={"api-version": COMPUTE}), (200,)).json()["value"]
        body["ended"] = history[0]["properties"]["runningStatus"]
        return body, sent, seen


def batches_of(watcher: PhaseWatcher) -> list[dict[str, float | tuple[int, ...]]]:
    """Per batch, from the server's phases: start, reimaged (batch -> health), judged (health ->
    next, or the next batch's start / the run's end when that short phase was not seen)."""
    found: dict[int, dict] = {}
    for phase in watcher.phases:
        b = found.setdefault(phase.batch_count, {})
        if phase.phase == "batch":
            b.update(start=phase.since, members=phase.batch)
        elif phase.phase == "health":
            b.update(reimaged=phase.since, members=phase.batch)
        elif phase.phase in ("next", "done", "pause") and "reimaged" in b and "judged" not in b:
            b["judged"] = phase.since
    ordered = [found[i] for i in sorted(found) if i > 0 and "start" in found[i]]
    for b, after in zip(ordered, ordered[1:] + [None], strict=True):
        b.setdefault("judged", after["start"] if after else watcher.ended)
    return ordered


def report(n: int, warmup: float, floor: dict[str, list[float]], latest: dict, sent: float, seen: float,
           watcher: PhaseWatcher, events: dict[int, dict[str, float]], cpu: float) -> bool:
    size = max(1, math.floor(n * 20 / 100))
    batches = math.ceil(n / size)
    reimage, boot, ext = median(floor["reimage"]), median(floor["boot"]), median(floor["extension"])
    per_batch = reimage + boot
    bound = batches * per_batch
    print(f"floor, lone machines (medians of {len(floor['reimage'])}): reimage {reimage:.3f} s "
          f"(min {min(floor['reimage']):.3f}, max {max(floor['reimage']):.3f}), boot to healthy {boot:.3f} s "
          f"(min {min(floor['boot']):.3f}, max {max(floor['boot']):.3f}; warm-up {warmup:g} s of it), "
          f"extension recorded {ext:.3f} s after the reimage call")
    together = median(floor["batch"])
    print(f"floor, {size} at once (medians of {len(floor['batch'])}, the slowest machine): reimage call "
          f"{median(floor['batch call']):.3f} s, reimage to healthy {together:.3f} s = {ratio(together, per_batch):.2f} x a lone one")
    running = latest["properties"]["runningStatus"]
    state = running["code"]
    server_span = epoch(latest["ended"]["endTime"]) - epoch(latest["ended"]["startTime"])
    client_span = seen - sent
    print(f"\nrun: {state}, {latest['properties']['progress']}")
    rows = batches_of(watcher)
    t0 = epoch(latest["ended"]["startTime"])
    print(f"{'batch':>5} {'start':>7} {'procs up':>9} {'reimaged':>9} {'warm':>7} {'200 seen':>9} {'judged':>7} "
          f"{'length':>7} {'- floor':>8}  (seconds from the run's start; last of the batch's instances)")
    for i, b in enumerate(rows, 1):
        got = [events.get(m, {}) for m in b.get("members", ())]

        def last(what: str, got: list[dict[str, float]] = got) -> float:
            values = [e[what] for e in got if what in e]
            return max(values) - t0 if values and len(values) == len(got) else float("nan")

        length = b["judged"] - b["start"]
        print(f"{i:>5} {b['start'] - t0:>7.2f} {last('start'):>9.2f} {b['reimaged'] - t0:>9.2f} {last('warm'):>7.2f} "
              f"{last('first-ok'):>9.2f} {b['judged'] - t0:>7.2f} {length:>7.2f} {length - per_batch:>+8.2f}")
    attribute(rows, events, t0)
    print(f"server CPU during the run: {cpu:.2f} s ({ratio(cpu, server_span) * 100:.0f}% of a core)")
    print(f"\n{'makespan':<40} {'seconds':>8} {'bound':>8} {'ratio':>7}")
    ok = state == "Completed"
    for label, span in (("server (startTime to endTime)", server_span), ("client (publish sent to Completed seen)", client_span)):
        r = ratio(span, bound)
        print(f"{label:<40} {span:>8.2f} {bound:>8.2f} {r:>7.3f}")
    r = ratio(server_span, bound)
    passed = ok and r <= GOAL
    print(f"bound = {batches} batches x ({reimage:.3f} s reimage + {boot:.3f} s boot to healthy) + 0 s of pauses")
    print(f"(against {batches} x the {size}-at-once floor, {batches * together:.2f} s: {ratio(server_span, batches * together):.3f}; "
          f"what is left there is the engine's own)")
    print(f"verdict: {'PASS' if passed else 'MISS'} (server makespan / lower bound = {r:.3f}; goal <= {GOAL})")
    return passed


def attribute(rows: list[dict], events: dict[int, dict[str, float]], t0: float) -> None:
    """Where each batch's time beyond its processes' own went, summed over the batches (medians in
    brackets): the gaps between the moments of the table."""
    gaps: dict[str, list[float]] = {k: [] for k in ("start to procs up", "procs up to reimaged", "procs up to warm",
                                                    "warm to 200 seen", "200 seen to judged", "judged to next start")}
    for i, b in enumerate(rows):
        got = [events.get(m, {}) for m in b.get("members", ())]
        if not got or not all({"start", "warm", "first-ok"} <= set(e) for e in got):
            continue
        up, warm, ok = (max(e[w] for e in got) for w in ("start", "warm", "first-ok"))
        gaps["start to procs up"].append(up - b["start"])
        gaps["procs up to reimaged"].append(b["reimaged"] - up)
        gaps["procs up to warm"].append(warm - up)
        gaps["warm to 200 seen"].append(ok - warm)
        gaps["200 seen to judged"].append(b["judged"] - ok)
        if i + 1 < len(rows):
            gaps["judged to next start"].append(rows[i + 1]["start"] - b["judged"])
    print("where the time went, summed over batches [median per batch]: " + "; ".join(
        f"{k} {sum(v):.2f} s [{median(v):.3f}]" for k, v in gaps.items() if v))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the smoke form: 5 instances, 0.5 s warm-up")
    parser.add_argument("--instances", type=int, default=None)
    parser.add_argument("--warmup", type=float, default=None, help="seconds each app answers 503 after it starts")
    parser.add_argument("--lone", type=int, default=None, help="lone reimages measured for the floor")
    parser.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                        help="an extra `scaleset serve` argument, for experiments (repeatable; use --serve-arg=--flag)")
    args = parser.parse_args()
    n = args.instances or (5 if args.quick else 20)
    warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0)
    lone = args.lone or (3 if args.quick else 8)
    rounds = 1 if args.quick else 3
    size = max(1, math.floor(n * 20 / 100))
    header("makespan on the process driver (real processes, real HTTP probes)", {
        "scene": f"{n} instances, batches of {size}, app warm-up {warmup:g} s, Application Health extension "
                 f"(HTTP, every 5 s, 1 probe)",
        "server flags": " ".join([*SERVER_FLAGS, *args.serve_arg]) + " (everything else: production defaults)"})
    server = new_server(n, tuple(args.serve_arg))
    ok = False
    try:
        server.start()
        set_up(server, warmup)
        floor = asyncio.run(measure_floor(server.data_dir / "floor", block_for(server.data_dir), warmup, size, lone, rounds))
        watcher = PhaseWatcher(server.data_dir / "scaleset.db")
        assert server.process is not None
        cpu = cpu_seconds(server.process.pid)
        try:
            latest, sent, seen = run_upgrade(server, warmup, watcher, timeout=300)
        finally:
            watcher.stop()
        cpu = cpu_seconds(server.process.pid) - cpu
        with server.client() as client:
            versions = [vm["properties"]["storageProfile"]["imageReference"].get("exactVersion")
                        for vm in list_all(server, client, f"{server.vmss(GROUP, NAME)}/virtualMachines")]
            _check(client.get(server.vmss(GROUP, NAME), params={"api-version": COMPUTE}), (200,))
        print(f"instances on 1.0.1 after the run: {versions.count('1.0.1')}/{n}\n")
        ok = report(n, warmup, floor, latest, sent, seen, watcher, app_events(server.data_dir / "machines", "1.0.1"), cpu)
    except BaseException:
        print(f"the run failed; server log tail:\n{server.log_tail()}\nkept: {server.data_dir}", file=sys.stderr)
        raise
    finally:
        server.stop()
        remove_all(server.data_dir / "floor" / "machines", stop_timeout=2)
    shutil.rmtree(server.data_dir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
