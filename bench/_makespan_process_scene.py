"""The server side of bench/makespan_process.py (a helper, not a benchmark): a real `scaleset serve`
on the process driver with its production settings, the image whose app warms up before it answers
healthy, the scene an upgrade runs in, and what the run left behind (the server's phases, the
apps' own logs).

The app (the image's `boot`): a shell line logs the process's start, then Python listens on
$SCALESET_PRIVATE_IP:8080 at once and answers 503 "warming up" for `warmup` seconds from its own
start, then 200 with its image version. It logs (to the machine's boot.log, time.time()):
`bench start` (the shell, i.e. the process started), `bench warm` (it now answers 200) and
`bench first-ok` (a request it answers 200 arrived, the first: for a machine of the scale set,
the server's probe).
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from _load_server import COMPUTE, IMAGE, RESOURCES, TOKEN, Scene, Server, _check, _wait_operation, wait_all_healthy

APP_PORT = 8080
GROUP, NAME = "bench", "web"  # what _load_server.wait_all_healthy looks at

_BOOT = """#!/bin/sh
echo "bench start $SCALESET_INSTANCE_ID ${{SCALESET_IMAGE##*:}} $(date +%s.%N)"
exec {python} -c '
import http.server, os, sys, threading, time
started = time.time()
warm_at = started + {warmup}
version = os.environ["SCALESET_IMAGE"].split(":")[-1].encode()
who = os.environ["SCALESET_INSTANCE_ID"] + " " + version.decode()
answered = threading.Event()
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        now = time.time()
        ok = now >= warm_at
        body = version if ok else b"warming up"
        if ok and not answered.is_set():  # before answering: a binary probe resets once it has the status
            answered.set()
            print("bench first-ok", who, now, flush=True)
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
def say_warm():
    time.sleep(max(0.0, warm_at - time.time()))
    print("bench warm", who, time.time(), flush=True)
threading.Thread(target=say_warm, daemon=True).start()
http.server.ThreadingHTTPServer((os.environ["SCALESET_PRIVATE_IP"], {port}), App).serve_forever()
'
"""

# Binary health (1.x), the extension's documented defaults: every 5 s, one answer decides.
HEALTH_EXTENSION = {"name": "HealthExtension", "properties": {
    "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "1.0",
    "settings": {"protocol": "http", "port": APP_PORT, "requestPath": "/health", "intervalInSeconds": 5,
                 "numberOfProbes": 1}}}


def artifact(version: str, warmup: float) -> bytes:
    """An image version for the process driver: a tar.gz holding `boot` and `VERSION`."""
    boot = _BOOT.format(python=sys.executable, port=APP_PORT, warmup=repr(float(warmup))).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data, mode in (("boot", boot, 0o755), ("VERSION", version.encode(), 0o644)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# The flags besides the data dir, and why: each is what a deployment gives anyway (a port, TLS, a
# token, the driver); every interval, wait and poll is the server's default.
SERVER_FLAGS = ("--port", "0", "--tls-self-signed", "--token", TOKEN, "--driver", "process")


class ProductionServer(Server):
    """`scaleset serve` with SERVER_FLAGS only (log level info, the default: the log is kept), and
    `extra` flags for experiments (bench's --serve-arg), which the header then shows."""

    extra: tuple[str, ...] = ()

    def flags(self) -> list[str]:
        return [*SERVER_FLAGS, *self.extra]


def new_server(instances: int, extra: tuple[str, ...] = ()) -> ProductionServer:
    scene = Scene(driver="process", instances=instances, batch_percent=20, pause_seconds=0, reimage_seconds=0)
    server = ProductionServer(scene, data_dir=Path(tempfile.mkdtemp(prefix="scaleset-makespan-")))
    server.extra = extra
    return server


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def publish(server: Server, client: httpx.Client, version: str, warmup: float) -> None:
    path = (f"/subscriptions/{server.subscription}/providers/Microsoft.Compute/locations/westus/publishers/"
            f"{IMAGE['publisher']}/artifacttypes/vmimage/offers/{IMAGE['offer']}/skus/{IMAGE['sku']}/versions/{version}")
    _check(client.put(path, params={"api-version": COMPUTE, "osType": "Linux"}, content=artifact(version, warmup),
                      headers={"Content-Type": "application/gzip"}), (200, 201))


def set_up(server: Server, warmup: float) -> None:
    """Group, image 1.0.0, and the scale set (automatic OS upgrades, the default rolling policy,
    the health extension) created and healthy."""
    with server.client() as client:
        _check(client.put(server.group(GROUP), params={"api-version": RESOURCES}, json={"location": "westus"}), (200, 201))
        publish(server, client, "1.0.0", warmup)
        body = {"location": "westus", "sku": {"name": "Standard_DS1_v2", "capacity": server.scene.instances},
                "properties": {
                    "upgradePolicy": {"mode": "Rolling", "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}},
                    "virtualMachineProfile": {
                        "osProfile": {"computerNamePrefix": "vm", "adminUsername": "azureuser"},
                        "storageProfile": {"imageReference": {**IMAGE, "version": "latest"}},
                        "networkProfile": {"networkInterfaceConfigurations": [{"name": "nic", "properties": {
                            "primary": True, "ipConfigurations": [{"name": "ip", "properties": {}}]}}]},
                        "extensionProfile": {"extensions": [HEALTH_EXTENSION]}}}}
        response = _check(client.put(server.vmss(GROUP, NAME), params={"api-version": COMPUTE}, json=body), (200, 201))
        _wait_operation(client, response)
        wait_all_healthy(server, client)


# -- what the run left behind ---------------------------------------------------------------------

@dataclass(frozen=True)
class Phase:
    """One phase of the run as the store had it: `since` is the server's own timestamp of it."""

    phase: str
    since: float  # epoch seconds (the server's phase_since)
    batch_count: int
    batch: tuple[int, ...]


class PhaseWatcher:
    """Reads the run's row from the store (read-only, as _load_server.outcome does) every 20 ms and
    keeps each phase it sees. A phase carries its own start time, so the polling only decides which
    short phases are seen at all (a `next` lasts milliseconds and is often missed)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.phases: list[Phase] = []
        self.started = self.ended = float("nan")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10, check_same_thread=False)
        query = ("SELECT r.phase, r.phase_since, r.batch_count, r.batch, r.started_at, r.ended_at FROM upgrade_runs r "
                 "JOIN scale_sets s ON s.key = r.scale_set_key WHERE s.name = ? ORDER BY r.started_at DESC LIMIT 1")
        try:
            while True:
                last = self._stop.is_set()  # one more look after stop(): the run's end is seen
                row = db.execute(query, (NAME,)).fetchone()
                if row is None:
                    if last:
                        break
                    self._stop.wait(0.02)
                    continue
                phase = Phase(row[0], epoch(row[1]), row[2], tuple(json.loads(row[3] or "[]")))
                if not self.phases or self.phases[-1] != phase:
                    self.phases.append(phase)
                self.started = epoch(row[4])
                self.ended = epoch(row[5]) if row[5] else float("nan")
                if last:
                    break
                self._stop.wait(0.02)
        finally:
            db.close()


def epoch(stamp: Any) -> float:
    text = str(stamp).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:  # the store keeps UTC
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def app_events(machines: Path, version: str) -> dict[int, dict[str, float]]:
    """instance id -> {"start", "warm", "first-ok"}: the last of each the apps on `version` logged."""
    found: dict[int, dict[str, float]] = {}
    for log in machines.glob("*/logs/boot.log"):
        for line in log.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 5 and parts[0] == "bench" and parts[3] == version:
                found.setdefault(int(parts[2]), {})[parts[1]] = float(parts[4])
    return found
