"""`scaleset demo`: the main job, shown whole on the process driver.

It starts a server of its own, then runs the very commands a user would type, printing each one
first, and leaves nothing running when it ends.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
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
# five minutes. Nothing else about the rules changes.
_SERVER_FLAGS = ("--probe-interval", "0.5", "--health-wait", "15")


@click.command()
@click.option("--data-dir", default="./.scaleset/demo", show_default=True, type=click.Path(path_type=Path),
              help="Where the demo server keeps its state (wiped at start).")
@click.option("--instances", default=10, show_default=True, type=click.IntRange(1, 50))
def demo(data_dir: Path, instances: int) -> None:
    """The main job: a scale set upgrades itself when a new OS image is published, and a broken
    image is stopped after one batch and rolled back."""
    data_dir = data_dir.resolve()
    if data_dir.exists():
        _remove_machines(data_dir)
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    server = _start_server(data_dir)
    try:
        _run_the_job(data_dir, instances)
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


def _run_the_job(data_dir: Path, instances: int) -> None:
    scaleset = Shell(data_dir)
    publish = ("image", "publish", "--location", "westus", "--publisher", "Canonical", "--offer", "UbuntuServer",
               "--sku", "18.04-LTS", "--output", "table")

    _step("A resource group, as in Azure")
    scaleset("group", "create", "--name", "demo-rg", "--location", "westus", "--output", "table")
    _step("Publish an OS image version (Azure keeps this to itself; here it is ours)")
    scaleset(*publish, "--version", "1.0.0", "--artifact", str(_image(data_dir, "1.0.0")))

    _step("A load balancer with an HTTP health probe (what `az network lb create` + `probe create` make)")
    probe = _create_load_balancer(scaleset)
    console.print(probe)

    _step(f"A scale set of {instances} behind that probe, Rolling mode, automatic OS upgrades on")
    scaleset("vmss", "create", "--resource-group", "demo-rg", "--name", "web", "--image", "Canonical:UbuntuServer:18.04-LTS:latest",
             "--instance-count", str(instances), "--upgrade-policy-mode", "Rolling", "--enable-auto-os-upgrade", "true",
             "--health-probe", probe, "--output", "table")
    _step("Each instance is a real process tree with its own address; ask every app for its version")
    _show_apps(scaleset)

    _step("Publish 1.0.1: the platform starts a rolling upgrade by itself; watch it")
    scaleset(*publish, "--version", "1.0.1", "--artifact", str(_image(data_dir, "1.0.1")))
    scaleset("vmss", "rolling-upgrade", "watch", "--resource-group", "demo-rg", "--name", "web", "--output", "table")
    _show_apps(scaleset)

    _step("Publish 1.0.2, whose app never turns healthy: the run stops after its first batch and rolls it back")
    scaleset(*publish, "--version", "1.0.2", "--artifact", str(_image(data_dir, "1.0.2", healthy=False)))
    scaleset("vmss", "rolling-upgrade", "watch", "--resource-group", "demo-rg", "--name", "web", "--output", "table",
             expect_failure=True)
    _show_apps(scaleset)

    _step("The OS upgrade history, newest first, as the seed shows it")
    scaleset("vmss", "get-os-upgrade-history", "--resource-group", "demo-rg", "--name", "web", "--output", "table")
    scaleset("vmss", "get-os-upgrade-history", "--resource-group", "demo-rg", "--name", "web", "--output", "json")

    _step("Delete the scale set: its instances and their disks go with it")
    scaleset("vmss", "delete", "--resource-group", "demo-rg", "--name", "web")


def _create_load_balancer(scaleset: Shell) -> str:
    """PUT a load balancer with one Http probe through the ARM API; returns the probe's id."""
    from scaleset.cli.arm_client import ArmClient
    from scaleset.cli.connection import resolve_connection

    connection = resolve_connection(endpoint=None, data_dir=scaleset.data_dir, token=None, ca=None)
    with ArmClient(connection) as client:
        sub = client.request("GET", "/subscriptions", api_version="2022-12-01").json()["value"][0]["subscriptionId"]
        lb = f"/subscriptions/{sub}/resourceGroups/demo-rg/providers/Microsoft.Network/loadBalancers/demo-lb"
        client.request("PUT", lb, api_version="2023-09-01", json={"location": "westus", "properties": {"probes": [
            {"name": "http", "properties": {"protocol": "Http", "port": 8080, "requestPath": "/health",
                                            "intervalInSeconds": 5, "numberOfProbes": 2}}]}})
    return f"{lb}/probes/http"


def _show_apps(scaleset: Shell) -> None:
    listing = scaleset("vmss", "list-instances", "--resource-group", "demo-rg", "--name", "web", "--output", "json", echo=False)
    table = Table("instance", "private IP", "image (exactVersion)", "the app answers")
    for vm in json.loads(listing):
        nic = vm["properties"]["networkProfile"]["networkInterfaces"][0]
        ip = nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
        version = vm["properties"]["storageProfile"]["imageReference"].get("exactVersion", "")
        table.add_row(vm["name"], ip, version, _get_app(f"http://{ip}:8080/"))
    console.print(table)


def _get_app(url: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        try:
            return httpx.get(url, timeout=2).text
        except httpx.TransportError as error:
            if time.monotonic() > deadline:
                return f"no answer: {error}"
            time.sleep(0.1)


def _start_server(data_dir: Path) -> subprocess.Popen[bytes]:
    _step("Start the control plane on the process driver, with TLS from its own CA")
    command = ["serve", "--data-dir", str(data_dir), "--port", "0", "--tls-self-signed", "--retry-after-ms", "200",
               "--status-interval", "0.5", "--log-level", "warning", *_SERVER_FLAGS]
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
    from scaleset.drivers.process import remove_all

    remove_all(data_dir / "machines")

