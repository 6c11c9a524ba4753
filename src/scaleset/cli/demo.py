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

console = Console(highlight=False)

# The demo app: every instance answers with the image version it runs and its instance id.
_BOOT = """#!/bin/sh
exec {python} -c '
import http.server, json, os
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"version": os.environ["SCALESET_IMAGE"].split(":")[-1],
                           "instance": os.environ["SCALESET_INSTANCE_ID"]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ["SCALESET_PRIVATE_IP"], 8080), App).serve_forever()
'
"""


@click.command()
@click.option("--data-dir", default="./.scaleset/demo", show_default=True, type=click.Path(path_type=Path),
              help="Where the demo server keeps its state (wiped at start).")
@click.option("--instances", default=3, show_default=True, type=click.IntRange(1, 50))
def demo(data_dir: Path, instances: int) -> None:
    """Start a server, publish an image, create a scale set and show its instances."""
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


def _run_the_job(data_dir: Path, instances: int) -> None:
    _scaleset = Shell(data_dir)
    artifact = data_dir / "demo-image"
    artifact.mkdir()
    (artifact / "boot").write_text(_BOOT.format(python=sys.executable))
    (artifact / "boot").chmod(0o755)

    _step("A resource group, as in Azure")
    _scaleset("group", "create", "--name", "demo-rg", "--location", "westus", "--output", "table")
    _step("Publish an OS image version (Azure keeps this to itself; here it is ours)")
    _scaleset("image", "publish", "--location", "westus", "--publisher", "Canonical", "--offer", "UbuntuServer",
              "--sku", "18.04-LTS", "--version", "1.0.0", "--artifact", str(artifact), "--output", "table")
    _scaleset("vm", "image", "list", "--location", "westus", "--all", "--output", "table")
    _step(f"Create a scale set of {instances}: each instance is a real process tree with its own address")
    _scaleset("vmss", "create", "--resource-group", "demo-rg", "--name", "web", "--image",
              "Canonical:UbuntuServer:18.04-LTS:latest", "--instance-count", str(instances), "--output", "table")
    _scaleset("vmss", "list-instances", "--resource-group", "demo-rg", "--name", "web", "--output", "table")
    _step("Ask every instance's app for its version, over real HTTP on its private address")
    _show_apps(_scaleset)
    _step("Scale out: new instances get the next ids and their own addresses")
    _scaleset("vmss", "scale", "--resource-group", "demo-rg", "--name", "web", "--new-capacity", str(instances + 2),
              "--output", "table")
    _scaleset("vmss", "list-instances", "--resource-group", "demo-rg", "--name", "web", "--output", "table")
    _step("Delete the scale set: its instances and their disks go with it")
    _scaleset("vmss", "delete", "--resource-group", "demo-rg", "--name", "web")


def _show_apps(_scaleset: Shell) -> None:
    listing = _scaleset("vmss", "list-instances", "--resource-group", "demo-rg", "--name", "web", "--output", "json", echo=False)
    table = Table("instance", "private IP", "answer")
    for vm in json.loads(listing):
        nic = vm["properties"]["networkProfile"]["networkInterfaces"][0]
        ip = nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
        table.add_row(vm["name"], ip, _get_app(f"http://{ip}:8080/"))
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
               "--status-interval", "0.5", "--log-level", "warning"]
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
        self.env = {**os.environ, "SCALESET_DATA_DIR": str(data_dir)}

    def __call__(self, *args: str, echo: bool = True) -> str:
        if echo:
            console.print(f"$ scaleset {shlex.join(args)}", style="bold cyan")
        return _run(args, self.env, echo=echo)


def _run(args: tuple[str, ...], env: dict[str, str], *, echo: bool) -> str:
    done = subprocess.run([sys.executable, "-m", "scaleset.cli.main", *args], env=env, capture_output=True, text=True)
    if echo and done.stdout.strip():
        sys.stdout.write(done.stdout if done.stdout.endswith("\n") else done.stdout + "\n")
        sys.stdout.flush()
    if done.returncode != 0:
        raise click.ClickException(f"'scaleset {shlex.join(args)}' failed:\n{done.stderr.strip()}")
    return done.stdout


def _step(title: str) -> None:
    console.print(f"\n[bold]{title}[/]")


def _remove_machines(data_dir: Path) -> None:
    """Instances outlive their server by design; the demo cleans up after itself."""
    from scaleset.drivers.process import remove_all

    remove_all(data_dir / "machines")

