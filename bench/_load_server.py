"""The server side of bench/load.py (a helper, not a benchmark): a real `scaleset serve` in a data
dir of its own, the scene an upgrade runs in, and the upgrade's outcome.

The scene, the same for every run:
- resource group `bench`: a load balancer `web-lb` with an HTTP probe, and the scale set `web`
  (`--instances`, Rolling, automatic OS upgrades on, image `latest`) behind that probe;
- resource group `load`: a scale set `side` (2 instances, Manual, pinned to 1.0.0) that the load
  generator's writes touch, and the load balancers it creates and deletes;
- image 1.0.0 published before `web` is made; publishing 1.0.1 starts the upgrade (the platform's
  automatic trigger, as in Azure).
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

COMPUTE = "2024-03-01"
RESOURCES = "2022-09-01"
NETWORK = "2023-09-01"
TOKEN = "load-bench-token"
IMAGE = {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS"}
APP_PORT = 8080

# The process driver's app: serves its health on $SCALESET_PRIVATE_IP:8080 (as `scaleset demo`'s).
_BOOT = """#!/bin/sh
exec {python} -c '
import http.server, os
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ["SCALESET_PRIVATE_IP"], {port}), App).serve_forever()
'
"""


@dataclass(frozen=True)
class Scene:
    driver: str  # sim | process
    instances: int
    batch_percent: int  # maxBatchInstancePercent
    pause_seconds: float  # pauseTimeBetweenBatches
    reimage_seconds: float  # sim: how long a reimage takes (on the real clock under `serve`)
    health_wait: float = 60.0  # server --health-wait: far above a batch's time, so only a real fault fails it
    probe_interval: float = 0.5  # server --probe-interval and --status-interval
    page_size: int = 10  # server --page-size: the instance list comes in pages

    def policy(self) -> dict[str, Any]:
        return {"mode": "Rolling",
                "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True},
                "rollingUpgradePolicy": {"maxBatchInstancePercent": self.batch_percent,
                                         "pauseTimeBetweenBatches": f"PT{self.pause_seconds:g}S"}}


@dataclass
class Outcome:
    """How one upgrade ended, read once it had."""

    state: str
    progress: dict[str, int]
    batches: int
    members: dict[int, tuple[str, int | None]]  # instance id -> (progress, batch index)
    versions: dict[int, str]  # instance id -> exactVersion after the run
    started: str
    ended: str
    seconds: float  # endTime - startTime, as the server recorded them
    error: Any = None

    def same_as(self, other: Outcome) -> list[str]:
        """What differs from `other`, by the test's definition (state, batches, per-instance result)."""
        diffs = []
        if self.state != other.state:
            diffs.append(f"final state {self.state} vs {other.state}")
        if self.batches != other.batches:
            diffs.append(f"batches {self.batches} vs {other.batches}")
        mine = {i: (p, self.versions.get(i)) for i, (p, _) in self.members.items()}
        theirs = {i: (p, other.versions.get(i)) for i, (p, _) in other.members.items()}
        if mine != theirs:
            changed = sorted(i for i in set(mine) | set(theirs) if mine.get(i) != theirs.get(i))
            diffs.append("per-instance outcome differs for instances " + ", ".join(
                f"{i}: {mine.get(i)} vs {theirs.get(i)}" for i in changed[:10]))
        return diffs

    def batch_plan(self) -> list[list[int]]:
        by_batch: dict[int, list[int]] = {}
        for i, (_, b) in self.members.items():
            by_batch.setdefault(-1 if b is None else b, []).append(i)
        return [sorted(ids) for _, ids in sorted(by_batch.items())]


@dataclass
class Server:
    """`scaleset serve` in a process of its own, over TLS on loopback (its own CA), as deployed."""

    scene: Scene
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="scaleset-load-")))
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    ca: str = ""
    subscription: str = ""

    def flags(self) -> list[str]:
        """`serve`'s flags besides the data dir: the scene's, every wait shortened to its pace."""
        return ["--port", "0", "--tls-self-signed", "--token", TOKEN, "--driver", self.scene.driver, "--log-level", "warning",
                "--retry-after-ms", "200", "--status-interval", f"{self.scene.probe_interval:g}",
                "--probe-interval", f"{self.scene.probe_interval:g}", "--health-wait", f"{self.scene.health_wait:g}",
                "--page-size", str(self.scene.page_size)]

    def start(self, timeout: float = 60.0) -> None:
        command = [sys.executable, "-m", "scaleset.cli.main", "serve", "--data-dir", str(self.data_dir), *self.flags()]
        log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        endpoint = self.data_dir / "endpoint.json"
        deadline = time.monotonic() + timeout
        while not endpoint.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start:\n{self.log_tail()}")
            time.sleep(0.05)
        time.sleep(0.05)  # endpoint.json is written whole, but give the writer a moment to close it
        info = json.loads(endpoint.read_text())
        self.url, self.ca = info["url"], info["ca"]
        with self.client() as client:
            subs = client.get("/subscriptions", params={"api-version": "2022-12-01"})
            subs.raise_for_status()
            self.subscription = subs.json()["value"][0]["subscriptionId"]

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ca, trust_env=False, timeout=30,
                            headers={"Authorization": f"Bearer {TOKEN}"}, **kwargs)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join((self.data_dir / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.scene.driver == "process":
            from scaleset.drivers import process

            process.remove_all(self.data_dir / "machines", stop_timeout=2)

    def remove(self) -> None:
        """Delete the data dir (after a run that went well; a failed one keeps it, log included)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- paths

    def group(self, name: str) -> str:
        return f"/subscriptions/{self.subscription}/resourcegroups/{name}"

    def vmss(self, group: str, name: str) -> str:
        return f"{self.group(group)}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"

    def lb(self, group: str, name: str) -> str:
        return f"{self.group(group)}/providers/Microsoft.Network/loadBalancers/{name}"


# -- the scene

def image_artifact(scene: Scene, version: str) -> tuple[bytes, str]:
    """(bytes, content type) of an image version for the scene's driver."""
    if scene.driver == "sim":
        document = {"bootSeconds": scene.reimage_seconds, "reimageSeconds": scene.reimage_seconds, "healthy": True}
        return json.dumps(document).encode(), "application/json"
    boot = _BOOT.format(python=sys.executable, port=APP_PORT).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("boot")
        info.size, info.mode = len(boot), 0o755
        tar.addfile(info, io.BytesIO(boot))
        info = tarfile.TarInfo("VERSION")
        info.size = len(version)
        tar.addfile(info, io.BytesIO(version.encode()))
    return buffer.getvalue(), "application/gzip"


def publish(server: Server, client: httpx.Client, version: str) -> None:
    content, content_type = image_artifact(server.scene, version)
    path = (f"/subscriptions/{server.subscription}/providers/Microsoft.Compute/locations/westus/publishers/"
            f"{IMAGE['publisher']}/artifacttypes/vmimage/offers/{IMAGE['offer']}/skus/{IMAGE['sku']}/versions/{version}")
    response = client.put(path, params={"api-version": COMPUTE, "osType": "Linux"}, content=content,
                          headers={"Content-Type": content_type})
    _check(response, (200, 201))


def _check(response: httpx.Response, ok: tuple[int, ...]) -> httpx.Response:
    if response.status_code not in ok:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:500]}")
    return response


def _scale_set_body(server: Server, capacity: int, policy: dict[str, Any], version: str, probe: str | None) -> dict[str, Any]:
    network: dict[str, Any] = {"networkInterfaceConfigurations": [{"name": "nic", "properties": {
        "primary": True, "ipConfigurations": [{"name": "ip", "properties": {}}]}}]}
    if probe:
        network["healthProbe"] = {"id": probe}
    return {"location": "westus", "sku": {"name": "Standard_DS1_v2", "capacity": capacity}, "properties": {
        "upgradePolicy": policy,
        "virtualMachineProfile": {
            "osProfile": {"computerNamePrefix": "vm", "adminUsername": "azureuser"},
            "storageProfile": {"imageReference": {**IMAGE, "version": version}},
            "networkProfile": network}}}


def _wait_operation(client: httpx.Client, response: httpx.Response, timeout: float = 120.0) -> None:
    url = response.headers.get("Azure-AsyncOperation")
    if not url:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _check(client.get(url), (200,)).json()
        if status["status"] == "Succeeded":
            return
        if status["status"] != "InProgress":
            raise RuntimeError(f"operation {url} ended {status}")
        time.sleep(0.1)
    raise RuntimeError(f"operation {url} still running after {timeout:.0f} s")


def set_up(server: Server) -> None:
    """Everything but the upgrade: groups, probe, image 1.0.0, both scale sets created and healthy."""
    scene = server.scene
    v = {"api-version": RESOURCES}
    with server.client() as client:
        for group in ("bench", "load"):
            _check(client.put(server.group(group), params=v, json={"location": "westus"}), (200, 201))
        probe_body = {"location": "westus", "properties": {"probes": [{"name": "http", "properties": {
            "protocol": "Http", "port": APP_PORT, "requestPath": "/health", "intervalInSeconds": 5, "numberOfProbes": 2}}]}}
        _check(client.put(server.lb("bench", "web-lb"), params={"api-version": NETWORK}, json=probe_body), (200, 201))
        publish(server, client, "1.0.0")
        probe = f"{server.lb('bench', 'web-lb')}/probes/http"
        c = {"api-version": COMPUTE}
        web = client.put(server.vmss("bench", "web"), params=c,
                         json=_scale_set_body(server, scene.instances, scene.policy(), "latest", probe))
        side = client.put(server.vmss("load", "side"), params=c,
                          json=_scale_set_body(server, 2, {"mode": "Manual"}, "1.0.0", None))
        _wait_operation(client, _check(web, (200, 201)))
        _wait_operation(client, _check(side, (200, 201)))
        wait_all_healthy(server, client)


def wait_all_healthy(server: Server, client: httpx.Client, timeout: float = 120.0) -> None:
    """Until every instance of `web` runs and its health probe says healthy (the upgrade's pre-check)."""
    deadline = time.monotonic() + timeout
    base = server.vmss("bench", "web")
    params = {"api-version": COMPUTE}
    while time.monotonic() < deadline:
        ids = [vm["instanceId"] for vm in list_all(server, client, f"{base}/virtualMachines")]
        views = [_check(client.get(f"{base}/virtualMachines/{i}/instanceView", params=params), (200,)).json() for i in ids]
        healthy = sum(1 for view in views
                      if (view.get("vmHealth") or {}).get("status", {}).get("code", "").lower() == "healthstate/healthy")
        if healthy == server.scene.instances:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the scale set did not turn healthy within {timeout:.0f} s")


def list_all(server: Server, client: httpx.Client, path: str) -> list[dict[str, Any]]:
    """Every item of a paged list, following nextLink."""
    items: list[dict[str, Any]] = []
    url: str | None = f"{server.url}{path}?api-version={COMPUTE}"
    while url:
        page = _check(client.get(url), (200,)).json()
        items += page["value"]
        url = page.get("nextLink")
    return items


def wait_upgrade_end(server: Server, client: httpx.Client, *, timeout: float, group: str = "bench", name: str = "web",
                     interval: float = 0.5) -> dict[str, Any]:
    """rollingUpgrades/latest once the run has ended (polled twice a second, as a watching client)."""
    url = f"{server.vmss(group, name)}/rollingUpgrades/latest"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(url, params={"api-version": COMPUTE})
        if response.status_code == 200:
            body = response.json()
            if body["properties"]["runningStatus"]["code"] in ("Completed", "Faulted", "Cancelled"):
                return body
        time.sleep(interval)
    raise RuntimeError(f"the upgrade did not end within {timeout:.0f} s")


def outcome(server: Server, client: httpx.Client, latest: dict[str, Any]) -> Outcome:
    history = _check(client.get(f"{server.vmss('bench', 'web')}/osUpgradeHistory",
                                params={"api-version": COMPUTE}), (200,)).json()["value"]
    running = history[0]["properties"]["runningStatus"]
    versions = {int(vm["instanceId"]): vm["properties"]["storageProfile"]["imageReference"].get("exactVersion", "")
                for vm in list_all(server, client, f"{server.vmss('bench', 'web')}/virtualMachines")}
    # The batches are not on the wire; the store has them (read-only, as the tests read it).
    db = sqlite3.connect(f"file:{server.data_dir / 'scaleset.db'}?mode=ro", uri=True, timeout=10)
    try:
        run_id, batches = db.execute(
            "SELECT r.id, r.batch_count FROM upgrade_runs r JOIN scale_sets s ON s.key = r.scale_set_key "
            "WHERE s.name = 'web' ORDER BY r.started_at DESC LIMIT 1").fetchone()
        members = {i: (p, b) for i, p, b in db.execute(
            "SELECT instance_id, progress, batch_index FROM upgrade_members WHERE run_id = ?", (run_id,))}
    finally:
        db.close()
    start, end = running["startTime"], running.get("endTime", "")
    seconds = (_parse(end) - _parse(start)) if end else float("nan")
    return Outcome(state=latest["properties"]["runningStatus"]["code"], progress=latest["properties"]["progress"],
                   batches=batches, members=members, versions=versions, started=start, ended=end, seconds=seconds,
                   error=latest["properties"].get("error"))


def _parse(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
