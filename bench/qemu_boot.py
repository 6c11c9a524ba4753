"""qemu driver: reimage vs cold boot, and how many VMs boot at once before boots slow down.

    .venv/bin/python bench/qemu_boot.py [--quick] [--rounds N] [--ks 1,2,4]

1. Reimage-to-healthy / cold-boot-to-healthy, same image (the project's tiny test image, v2):
   cold = from the `create()` call to the first 200 on GET /health; reimage = from the `reimage()`
   call on a running, healthy v1 VM (so it includes the graceful stop) to the first 200 whose body
   says v2. The reimage is split into stop (until the old QEMU process has exited), lay-down +
   launch (until `reimage()` returned) and boot (until healthy). Goal: ratio <= 1.2.
2. Concurrency: for each k, k VMs created at once (the driver's `max_booting` >= k, so it does
   not queue them); each VM's create-call-to-healthy; max and median per k against k = 1; the
   largest k whose slowest VM stays within 2x a lone VM. Host memory per VM from /proc.

/health is polled every 50 ms over a fresh connection through the VM's forwarded port. VMs run
under QEMU's TCG emulator with the `tiny` size (1 vCPU, 128 MiB). Every VM is deleted and the
temporary root removed at the end, also on errors. Figures are only comparable within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import HttpAnswer, header, median, poll_http, ratio, seconds

from scaleset.drivers import procfs
from scaleset.drivers.base import DriverError, ImageArtifact, InstanceSpec
from scaleset.drivers.machine_dir import read_json
from scaleset.drivers.qemu import QemuDriver, remove_all
from scaleset.drivers.vm_files import VmDir
from scaleset.drivers.vm_host import INSTALL_HINT, Sizing, accel_args, kvm_usable, missing_tools

GOAL_RATIO = 1.2  # reimage-to-healthy / cold-boot-to-healthy
SLOWDOWN_LIMIT = 2.0  # concurrency: the slowest of k VMs against a lone VM
GUEST_PORT = 80
HEALTH_TIMEOUT = 180.0  # s from a create/reimage call to healthy before the run is called broken
SETTLE = 1.0  # s a VM runs healthy before it is reimaged (its boot finishes; a running VM, not a booting one)
FULL_KS = (1, 2, 3, 4, 6, 8)
QUICK_KS = (1, 2, 4)


@dataclasses.dataclass
class Boot:
    total: float  # call -> healthy
    launched: float  # call -> create()/reimage() returned
    stopped: float | None = None  # reimage only: call -> the old QEMU exited


class Bench:
    def __init__(self, root: Path, images: Path, max_booting: int) -> None:
        self.root = root
        self.images = images
        # A short stop timeout would turn a slow graceful stop into a hard one and hide it.
        self.driver = QemuDriver(root / "vms", accel="tcg", sizing=Sizing("tiny"), max_booting=max_booting,
                                 stop_timeout=30.0)
        self.artifacts: dict[str, ImageArtifact] = {}
        self.keys: list[str] = []
        self._n = 0

    async def install(self) -> None:
        for version in ("v1", "v2"):
            dest = self.root / "images" / version
            await self.driver.install_image(self.images / version, dest)
            self.artifacts[version] = ImageArtifact(f"scaleset:bench:tiny:{version}", dest)

    def spec(self, version: str, tag: str) -> InstanceSpec:
        self._n += 1
        key = f"bench/{tag}/{self._n}"
        self.keys.append(key)
        return InstanceSpec(key=key, instance_id=str(self._n), computer_name=f"bench{self._n:04d}",
                            private_ip="127.9.0.1", image=self.artifacts[version], data_disk_luns=(0,),
                            ports=(GUEST_PORT,))

    def state(self, key: str) -> dict:
        return read_json(VmDir.for_key(self.driver.root, key).state) or {}

    async def healthy(self, key: str, version: str) -> HttpAnswer:
        async def address() -> tuple[str, int] | None:
            try:
                return await self.driver.endpoint(key, GUEST_PORT)
            except DriverError:
                return None

        def wanted(answer: HttpAnswer) -> bool:
            if answer.status != 200:
                return False
            try:
                return json.loads(answer.body).get("version") == version
            except ValueError:
                return False

        try:
            return await poll_http(address, "/health", wanted, deadline=HEALTH_TIMEOUT)
        except TimeoutError:
            console = VmDir.for_key(self.driver.root, key).console
            tail = console.read_text(errors="replace")[-1500:] if console.exists() else "(no console log)"
            raise RuntimeError(f"{key} not healthy on {version} within {HEALTH_TIMEOUT:.0f} s; console:\n{tail}") from None

    async def cold(self, spec: InstanceSpec) -> Boot:
        version = spec.image.path.name
        t0 = time.monotonic()
        await self.driver.create(spec)
        launched = time.monotonic() - t0
        answer = await self.healthy(spec.key, version)
        return Boot(total=answer.at - t0, launched=launched)

    async def reimage(self, spec: InstanceSpec, version: str) -> Boot:
        old = self.state(spec.key)
        pid, start_time = old.get("pid"), old.get("start_time")
        stopped: list[float] = []

        async def watch_exit(t0: float) -> None:
            while procfs.is_alive(pid, start_time):
                await asyncio.sleep(0.02)
            stopped.append(time.monotonic() - t0)

        t0 = time.monotonic()
        watcher = asyncio.create_task(watch_exit(t0))
        try:
            await self.driver.reimage(dataclasses.replace(spec, image=self.artifacts[version]))
            launched = time.monotonic() - t0
            await watcher  # the old QEMU is gone once reimage() returned
        finally:
            watcher.cancel()
        answer = await self.healthy(spec.key, version)
        return Boot(total=answer.at - t0, launched=launched, stopped=stopped[0])

    async def delete(self, keys: list[str]) -> None:
        await asyncio.gather(*(self.driver.delete(k) for k in keys))

    def memory(self, keys: list[str]) -> list[tuple[int, int | None]]:
        """(RSS, PSS) in KiB of each VM's QEMU process; PSS is None where /proc hides it."""
        found = []
        for key in keys:
            pid = self.state(key).get("pid")
            rss = pss = None
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        pss = int(line.split()[1])
            except (OSError, ValueError):
                pass
            if rss is not None:
                found.append((rss, pss))
        return found

    async def close(self) -> None:
        try:
            await self.delete(self.keys)
        finally:
            await self.driver.close()


async def reimage_vs_cold(bench: Bench, rounds: int) -> None:
    print(f"## reimage vs cold boot ({rounds} round{'s' if rounds != 1 else ''}; reimage v1 -> v2, cold boot of v2)")
    cold: list[Boot] = []
    cold_v1: list[Boot] = []
    reimage: list[Boot] = []
    for n in range(1, rounds + 1):
        spec = bench.spec("v2", "cold")
        try:
            cold.append(await bench.cold(spec))
        finally:
            await bench.delete([spec.key])
        spec = bench.spec("v1", "reimage")
        try:
            cold_v1.append(await bench.cold(spec))
            await asyncio.sleep(SETTLE)
            reimage.append(await bench.reimage(spec, "v2"))
        finally:
            await bench.delete([spec.key])
        r = reimage[-1]
        print(f"round {n}: cold v2 {seconds(cold[-1].total)}, cold v1 {seconds(cold_v1[-1].total)}, "
              f"reimage v1->v2 {seconds(r.total)} (stop {seconds(r.stopped or 0)}, "
              f"lay down + launch {seconds(r.launched - (r.stopped or 0))}, boot {seconds(r.total - r.launched)})",
              flush=True)
    cold_s = median([b.total for b in cold])
    reimage_s = median([b.total for b in reimage])
    stop_s = median([b.stopped or 0 for b in reimage])
    launch_s = median([b.launched - (b.stopped or 0) for b in reimage])
    boot_s = median([b.total - b.launched for b in reimage])
    value = ratio(reimage_s, cold_s)
    print(f"cold boot to healthy (median):      {seconds(cold_s)} (create() returned after "
          f"{seconds(median([b.launched for b in cold]))}; v1 cold boots: {seconds(median([b.total for b in cold_v1]))})")
    print(f"reimage to healthy (median):        {seconds(reimage_s)}")
    print(f"  of which graceful stop (median):  {seconds(stop_s)}  (reimage() call -> old QEMU exited)")
    print(f"  lay down + launch (median):       {seconds(launch_s)}  (-> reimage() returned)")
    print(f"  boot (median):                    {seconds(boot_s)}  (-> first 200 saying v2)")
    print(f"  reimage minus stop / cold:        {ratio(reimage_s - stop_s, cold_s):.2f}")
    verdict = "PASS" if value <= GOAL_RATIO else "MISS"
    print(f"ratio reimage/cold: {value:.2f} (goal <= {GOAL_RATIO}: {verdict})")
    print(flush=True)


async def concurrency(bench: Bench, ks: tuple[int, ...]) -> None:
    print("## boot concurrency (k VMs created at once; per VM: create() call -> first 200 on /health)")
    print(f"{'k':>2}  {'max':>8}  {'median':>8}  {'max/single':>10}  {'median/single':>13}  {'RSS/VM':>9}  {'PSS/VM':>9}")
    single: float | None = None
    within: list[int] = []
    for k in ks:
        specs = [bench.spec("v1", f"k{k}") for _ in range(k)]
        try:
            boots = await asyncio.gather(*(bench.cold(s) for s in specs))
            memory = bench.memory([s.key for s in specs])
        finally:
            await bench.delete([s.key for s in specs])
        totals = [b.total for b in boots]
        worst, middle = max(totals), median(totals)
        if single is None:
            single = worst if k == 1 else float("nan")
        rss = median([m[0] for m in memory]) / 1024 if memory else float("nan")
        psses = [m[1] for m in memory if m[1] is not None]
        pss = median(psses) / 1024 if psses else float("nan")
        print(f"{k:>2}  {seconds(worst):>8}  {seconds(middle):>8}  {ratio(worst, single):>10.2f}  "
              f"{ratio(middle, single):>13.2f}  {rss:>5.0f} MiB  {pss:>5.0f} MiB", flush=True)
        if ratio(worst, single) <= SLOWDOWN_LIMIT:
            within.append(k)
    # The largest k up to which every k measured stays within the limit.
    largest = 0
    for k in ks:
        if k not in within:
            break
        largest = k
    beyond = [k for k in within if k > largest]
    note = f" (also within at k = {', '.join(map(str, beyond))})" if beyond else ""
    print(f"single VM (k=1) boot: {seconds(single or float('nan'))}")
    print(f"largest k with max <= {SLOWDOWN_LIMIT:g}x single: {largest} (of k = {', '.join(map(str, ks))}){note}")
    print(flush=True)


def build_images() -> Path:
    build = _common.REPO / "images" / "build-tiny.sh"
    done = subprocess.run(["bash", str(build)], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{build} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


async def run(root: Path, images: Path, rounds: int, ks: tuple[int, ...]) -> None:
    bench = Bench(root, images, max_booting=max(ks))
    try:
        await bench.install()
        if rounds:
            await reimage_vs_cold(bench, rounds)
        if ks:
            await concurrency(bench, ks)
    finally:
        await bench.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"1 round, k = {', '.join(map(str, QUICK_KS))} (the CI smoke form)")
    parser.add_argument("--rounds", type=int, help="reimage/cold rounds (default 3; --quick 1)")
    parser.add_argument("--ks", help=f"concurrency steps, comma-separated (default {','.join(map(str, FULL_KS))})")
    args = parser.parse_args()
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    ks = tuple(int(k) for k in args.ks.split(",") if k.strip()) if args.ks else (QUICK_KS if args.quick else FULL_KS)
    if ks and ks[0] != 1:
        parser.error("--ks must start with 1 (the single-VM baseline)")

    if missing := missing_tools():
        print(f"qemu_boot: SKIPPED, QEMU is not installed ({', '.join(missing)} missing): {INSTALL_HINT}")
        return 0
    images = build_images()
    kvm = kvm_usable()
    header("qemu driver: reimage vs cold boot, and boot concurrency", {
        "qemu": _common.tool_version(["qemu-system-x86_64", "--version"]),
        "accel": f"{' '.join(accel_args('tcg'))} (KVM: {kvm[1]})",
        "vm size": "tiny: 1 vCPU, 128 MiB; kernel + initrd + qcow2 overlay, 1 data disk, /health on port 80",
    })
    root = Path(tempfile.mkdtemp(prefix="scaleset-bench-"))

    def terminated(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the clean-up below, unlike the default

    signal.signal(signal.SIGTERM, terminated)
    started = time.monotonic()
    try:
        asyncio.run(run(root, images, rounds, ks))
    except KeyboardInterrupt:
        print("interrupted; deleting every VM", file=sys.stderr)
        return 130
    finally:
        remove_all(root / "vms")  # in case a VM outlived the driver (an interrupted run)
        shutil.rmtree(root, ignore_errors=True)
    print(f"done in {time.monotonic() - started:.0f} s; load average at end: {_common.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
