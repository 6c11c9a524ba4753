"""`scaleset demo`: the main job, shown whole on the process driver (or on real VMs with
`--driver qemu`, which `make demo-vm` runs).

It starts a server of its own, then runs the very commands a user would type, printing each one
first, and leaves nothing running when it ends.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.table import Table

console = Console(highlight=False, soft_wrap=True)  # commands are shown whole, never wrapped

# The demo app: every instance answers with the image version it runs and its instance id; a
# broken version answers 503, so its health probe never turns healthy.
_BOOT = """#!/bin/sh
exec {python} -c '
import http.server, json, os
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"version": os.environ["SCALESET_IMAGE"].split(":")[-1],
                           "instance": os.environ["SCALESET_INSTANCE_ID"]}}).encode()
        self.send_response({status})
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ["SCALESET_PRIVATE_IP"], 8080), App).serve_forever()
'
"""
# The seed's rules on a short clock: probes every half second, and a 15 s health wait instead of
# five minutes (45 s for VMs, which boot in seconds under emulation). Nothing else changes.
_SERVER_FLAGS = ("--probe-interval", "0.5")
_HEALTH_WAIT = {"process": "15", "qemu": "45"}
# Real VMs: the tiny test images' sizes (128 MiB, 1 vCPU) whatever the SKU.
_VM_FLAGS = ("--vm-size-profile", "tiny")


@dataclass(frozen=True)
class Machines:
    """What the demo's instances are: where their app listens and which images to publish."""

    driver: str
    app_port: int
    images: dict[str, Path]  # version -> artifact (the last one never turns healthy)


@click.command()
@click.option("--data-dir", default="./.scaleset/demo", show_default=True, type=click.Path(path_type=Path),
              help="Where the demo server keeps its state (wiped at start).")
@click.option("--instances", default=None, type=click.IntRange(1, 50), help="Instances in the scale set [default: 10, or 3 VMs].")
@click.option("--driver", type=click.Choice(["process", "qemu"]), default="process", show_default=True,
              help="Local processes, or real virtual machines under QEMU.")
@click.option("--vm-images", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="qemu: the folder images/build-tiny.sh printed (v1, v2, broken).")
def demo(data_dir: Path, instances: int | None, driver: str, vm_images: Path | None) -> None:
    """The main job: a scale set upgrades itself when a new OS image is published, and a broken
    image is stopped after one batch and rolled back."""
    data_dir = data_dir.resolve()
    if data_dir.exists():
        _remove_machines(data_dir)
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    if driver == "qemu":
        if vm_images is None:
            raise click.UsageError("--driver qemu needs --vm-images: run images/build-tiny.sh (make demo-vm does)")
        machines = Machines("qemu", 80, {"1.0.0": vm_images / "v1", "1.0.1": vm_images / "v2", "1.0.2": vm_images / "broken"})
    else:
        machines = Machines("process", 8080, {v: _image(data_dir, v, healthy=v != "1.0.2") for v in ("1.0.0", "1.0.1", "1.0.2")})
    server = _start_server(data_dir, machines.driver)
    try:
        _run_the_job(data_dir, instances or (3 if driver == "qemu" else 10), machines)
    finally:
        _step("Stopping the server")
        server.terminate()
        server.wait(timeout=30)
        _remove_machines(data_dir)
    console.print("\n[bold green]Done.[/] Nothing is left running; the server's files are in", str(data_dir))


def _image(data_dir: Path, version: str, *, healthy: bool = True) -> Path:
    folder = data_dir / f"image-{version}"
    folder.mkdir()
    (folder / "boot").write_text(_BOOT.format(python=sys.executable, status=200 if healthy else 503))
    (folder / "boot").chmod(0o755)
    return folder


def _run_the_job(data_dir: Path, instances: int, machines: Machines) -> None:
    scaleset = Shell(data_dir)
    show_apps = functools.partial(_show_apps, scaleset, machines)
    first, good, broken = machines.images
    publish = ("image", "publish", "--location", "westus", "--publisher", "Canonical", "--offer", "UbuntuServer",
               "--sku", "18.04-LTS", "--output", "table")

    _step("A resource group, as in Azure")
    scaleset("group", "create", "--name", "demo-rg", "--location", "westus", "--output", "table")
    _step("Publish an OS image version (Azure keeps this to itself; here it is ours)")
    scaleset(*publish, "--version", first, "--artifact", str(machines.images[first]))

    _step("A load balancer with an HTTP health probe (what `az network lb create` + `probe create` make)")
    probe = _create_load_balancer(scaleset, machines.app_port)
    console.print(probe)

    _step(f"A scale set of {instances} behind that probe, Rolling mode, automatic OS upgrades on")
    scaleset("vmss", "create", "--resource-group", "demo-rg", "--name", "web", "--image", "Canonical:UbuntuServer:18.04-LTS:latest",
             "--instance-count", str(instances), "--upgrade-policy-mode", "Rolling", "--enable-auto-os-upgrade", "true",
             "--health-probe", probe, *(("--data-disk-sizes-gb", "1") if machines.driver == "qemu" else ()),
             "--output", "table")
    if machines.driver == "qemu":
        _step("Each instance is a QEMU VM; its app is reached through a forwarded port. Each writes a note on its data disk")
        _write_notes(data_dir)
    else:
        _step("Each instance is a real process tree with its own address; ask every app for its version")
    show_apps()

    _step(f"Publish {good}: the platform starts a rolling upgrade by itself; watch it")
    scaleset(*publish, "--version", good, "--artifact", str(machines.images[good]))
    scaleset("vmss", "rolling-upgrade", "watch", "--resource-group", "demo-rg", "--name", "web", "--output", "table")
    show_apps()

    _step(f"Publish {broken}, whose app never turns healthy: the run stops after its first batch and rolls it back")
    scaleset(*publish, "--version", broken, "--artifact", str(machines.images[broken]))
    scaleset("vmss", "rolling-upgrade", "watch", "--resource-group", "demo-rg", "--name", "web", "--output", "table",
             expect_failure=True)
    show_apps()

    _step("The OS upgrade history, newest first, as the seed shows it")
    scaleset("vmss", "get-os-upgrade-history", "--resource-group", "demo-rg", "--name", "web", "--output", "table")
    scaleset("vmss", "get-os-upgrade-history", "--resource-group", "demo-rg", "--name", "web", "--output", "json")

    _step("Delete the scale set: its instances and their disks go with it")
    scaleset("vmss", "delete", "--resource-group", "demo-rg", "--name", "web")


def _create_load_balancer(scaleset: Shell, port: int) -> str:
    """PUT a load balancer with one Http probe through the ARM API; returns the probe's id."""
    from scaleset.cli.arm_client import ArmClient
    from scaleset.cli.connection import resolve_connection

    connection = resolve_connection(endpoint=None, data_dir=scaleset.data_dir, token=None, ca=None)
    with ArmClient(connection) as client:
        sub = client.request("GET", "/subscriptions", api_version="2022-12-01").json()["value"][0]["subscriptionId"]
        lb = f"/subscriptions/{sub}/resourceGroups/demo-rg/providers/Microsoft.Network/loadBalancers/demo-lb"
        client.request("PUT", lb, api_version="2023-09-01", json={"location": "westus", "properties": {"probes": [
            {"name": "http", "properties": {"protocol": "Http", "port": port, "requestPath": "/health",
                                            "intervalInSeconds": 5, "numberOfProbes": 2}}]}})
    return f"{lb}/probes/http"


def _show_apps(scaleset: Shell, machines: Machines) -> None:
    listing = scaleset("vmss", "list-instances", "--resource-group", "demo-rg", "--name", "web", "--output", "json", echo=False)
    vm_apps = _vm_apps(scaleset.data_dir) if machines.driver == "qemu" else {}
    columns = ("instance", "app address", "image (exactVersion)", "the app answers")
    table = Table(*columns, "its data disk holds") if vm_apps else Table(*columns)
    for vm in json.loads(listing):
        version = vm["properties"]["storageProfile"]["imageReference"].get("exactVersion", "")
        if vm_apps:
            url = vm_apps.get(vm["properties"]["osProfile"]["computerName"], "")
            table.add_row(vm["name"], url.removeprefix("http://"), version, _version_of(_get_app(f"{url}/health")),
                          _get_app(f"{url}/disk?lun=0"))
            continue
        nic = vm["properties"]["networkProfile"]["networkInterfaces"][0]
        ip = nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
        table.add_row(vm["name"], f"{ip}:{machines.app_port}", version, _get_app(f"http://{ip}:{machines.app_port}/"))
    console.print(table)


def _version_of(answer: str) -> str:
    try:
        return f"healthy, {json.loads(answer)['version']}"
    except (ValueError, KeyError, TypeError):
        return answer


def _vm_apps(data_dir: Path) -> dict[str, str]:
    """Each VM's app by computer name: 127.0.0.1 and the host port forwarded to its port 80."""
    from scaleset.drivers.qemu import forwarded_ports

    return {name: f"http://127.0.0.1:{ports[80]}" for name, ports in forwarded_ports(data_dir / "vms").items() if 80 in ports}


def _write_notes(data_dir: Path) -> None:
    for name, url in _vm_apps(data_dir).items():
        note = f"written by {name} under 1.0.0"
        console.print(f"$ curl -d '{note}' {url}/disk?lun=0", style="bold cyan")
        _get_app(f"{url}/disk?lun=0", data=note)


def _get_app(url: str, *, data: str | None = None) -> str:
    deadline = time.monotonic() + 60
    while True:
        try:
            if data is not None:
                return httpx.post(url, content=data, timeout=5, trust_env=False).text
            return httpx.get(url, timeout=5, trust_env=False).text
        except httpx.TransportError as error:
            if time.monotonic() > deadline:
                return f"no answer: {error}"
            time.sleep(0.1)


def _start_server(data_dir: Path, driver: str) -> subprocess.Popen[bytes]:
    _step(f"Start the control plane on the {driver} driver, with TLS from its own CA")
    command = ["serve", "--data-dir", str(data_dir), "--port", "0", "--tls-self-signed", "--retry-after-ms", "200",
               "--status-interval", "0.5", "--log-level", "warning", "--driver", driver, *_SERVER_FLAGS,
               "--health-wait", _HEALTH_WAIT[driver], *(_VM_FLAGS if driver == "qemu" else ())]
    console.print(f"$ scaleset {shlex.join(command)} &", style="bold cyan")
    log = (data_dir / "server.log").open("ab")
    server = subprocess.Popen([sys.executable, "-m", "scaleset.cli.main", *command], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (data_dir / "endpoint.json").exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise click.ClickException(f"the server did not start; see {data_dir / 'server.log'}")
        time.sleep(0.05)
    console.print(f"serving {json.loads((data_dir / 'endpoint.json').read_text())['url']}")
    return server


class Shell:
    """Runs client commands as a user would; the server's data dir gives endpoint, token and CA."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, "SCALESET_DATA_DIR": str(data_dir)}

    def __call__(self, *args: str, echo: bool = True, expect_failure: bool = False) -> str:
        """Run `scaleset *args`; output shows live when echoed (the watch views draw as they go)."""
        command = [sys.executable, "-m", "scaleset.cli.main", *args]
        if echo:
            console.print(f"$ scaleset {shlex.join(args)}", style="bold cyan")
            sys.stdout.flush()
            done = subprocess.run(command, env=self.env, stderr=subprocess.PIPE, text=True)
            if done.stderr.strip():
                console.print(done.stderr.rstrip(), style="yellow", markup=False)
            output = ""
        else:
            done = subprocess.run(command, env=self.env, capture_output=True, text=True)
            output = done.stdout
        if done.returncode != 0 and not expect_failure:
            raise click.ClickException(f"'scaleset {shlex.join(args)}' failed (exit {done.returncode})")
        if done.returncode == 0 and expect_failure:
            raise click.ClickException(f"'scaleset {shlex.join(args)}' was expected to fail, and did not")
        return output


def _step(title: str) -> None:
    console.print(f"\n[bold]{title}[/]")


def _remove_machines(data_dir: Path) -> None:
    """Instances outlive their server by design; the demo cleans up after itself."""
    from scaleset.drivers import process, qemu

    process.remove_all(data_dir / "machines")
    qemu.remove_all(data_dir / "vms")

