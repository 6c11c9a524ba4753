"""What the driver tests need from each driver: a driver, installed images, a look at data disks.

Adding a driver to the conformance suite is one entry in KITS.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from scaleset.clock import Clock, RealClock, VirtualClock
from scaleset.drivers.base import Driver, ExtensionSpec, ImageArtifact, InstanceSpec
from scaleset.drivers.machine_dir import MachineDir
from scaleset.drivers.process import ProcessDriver
from scaleset.drivers.qemu import QemuDriver
from scaleset.drivers.sim import SimDriver
from scaleset.drivers.vm_host import Sizing
from tests.vm_images import tiny_images

VERSIONS = ("1.0.0", "2.0.0")
APP_PORT = 8080
SIM_BOOT_SECONDS = 30.0
SIM_REIMAGE_SECONDS = 60.0

_ip_counter = itertools.count(1)
_key_counter = itertools.count(1)


def next_private_ip() -> str:
    """A loopback address no other test of this run uses (tests bind the same port on each)."""
    n = next(_ip_counter)
    return f"127.1.{(os.getpid() + n // 250) % 256}.{n % 250 + 1}"


def urn(version: str) -> str:
    return f"scaleset:testimage:app:{version}"


@dataclass
class Kit:
    driver: Driver
    clock: Clock
    images: dict[str, ImageArtifact]
    write_disk: Callable[[str, int, str], Awaitable[None]]  # (key, lun, text): leave a marker on a data disk
    read_disk: Callable[[str, int], Awaitable[str | None]]  # (key, lun): the marker, or None
    boot_seconds: float | None = None  # clock time a create must take, where the driver promises one
    settle_seconds: float = 10.0  # how long provisioning may take after create returns
    ports: tuple[int, ...] = ()  # what specs ask the host to reach
    # The image version a machine's app says it runs, asked through driver.endpoint(); None: no network.
    app_version: Callable[[str], Awaitable[str]] | None = None
    keys: list[str] = field(default_factory=list)  # every key handed out, deleted at teardown

    def spec(
        self,
        version: str = VERSIONS[0],
        *,
        key: str | None = None,
        luns: tuple[int, ...] = (0,),
        extensions: tuple[ExtensionSpec, ...] = (),
        custom_data: bytes | None = None,
    ) -> InstanceSpec:
        n = next(_key_counter)
        key = key or f"rg/vmss/{n}"
        if key not in self.keys:
            self.keys.append(key)
        return InstanceSpec(
            key=key,
            instance_id=str(n),
            computer_name=f"vmss{n:06d}",
            private_ip=next_private_ip(),
            image=self.images[version],
            custom_data=custom_data,
            data_disk_luns=luns,
            extensions=extensions,
            ports=self.ports,
        )

    def respec(self, spec: InstanceSpec, version: str) -> InstanceSpec:
        """The same machine on another image version."""
        return dataclasses.replace(spec, image=self.images[version])

    async def cleanup(self) -> None:
        for key in self.keys:
            await self.driver.delete(key)
        await self.driver.close()


# -- the process driver

BOOT_APP = """#!{python}
# A tiny app: serves what it knows about its machine as JSON on $SCALESET_PRIVATE_IP:{port}.
import http.server, json, os, pathlib

state = {{
    "pid": os.getpid(),
    "version": pathlib.Path("version").read_text().strip(),
    "cwd": os.getcwd(),
    "env": {{k: v for k, v in os.environ.items() if k.startswith("SCALESET_")}},
}}
if "SCALESET_CUSTOM_DATA" in os.environ:
    state["custom_data"] = pathlib.Path(os.environ["SCALESET_CUSTOM_DATA"]).read_text(errors="replace")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(state).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer((os.environ["SCALESET_PRIVATE_IP"], {port}), Handler).serve_forever()
"""


def write_app_image(directory: Path, version: str) -> Path:
    """An image artifact directory for the process driver: the app above as `boot`."""
    directory.mkdir(parents=True, exist_ok=True)
    boot = directory / "boot"
    boot.write_text(BOOT_APP.format(python=sys.executable, port=APP_PORT))
    boot.chmod(0o755)
    (directory / "version").write_text(version + "\n")
    return directory


async def process_kit(tmp_path: Path) -> Kit:
    root = tmp_path / "machines"
    driver = ProcessDriver(root, stop_timeout=2.0, start_timeout=20.0, download_timeout=5.0)
    images = {}
    for version in VERSIONS:
        dest = tmp_path / "images" / version
        await driver.install_image(write_app_image(tmp_path / "uploads" / version, version), dest)
        images[version] = ImageArtifact(urn(version), dest)

    async def write_disk(key: str, lun: int, text: str) -> None:
        (MachineDir.for_key(root, key).data_disk(lun) / "marker").write_text(text)

    async def read_disk(key: str, lun: int) -> str | None:
        path = MachineDir.for_key(root, key).data_disk(lun) / "marker"
        return path.read_text() if path.exists() else None

    async def app_version(key: str) -> str:
        host, port = await driver.endpoint(key, APP_PORT)
        return str((await get_app_state(host, port=port))["version"])

    return Kit(driver, RealClock(), images, write_disk, read_disk, app_version=app_version)


# -- the sim driver

async def sim_kit(tmp_path: Path) -> Kit:
    clock = VirtualClock()
    driver = SimDriver(clock)
    images = {}
    for version in VERSIONS:
        upload = tmp_path / "uploads" / f"{version}.json"
        upload.parent.mkdir(parents=True, exist_ok=True)
        upload.write_text(json.dumps({"bootSeconds": SIM_BOOT_SECONDS, "reimageSeconds": SIM_REIMAGE_SECONDS}))
        dest = tmp_path / "images" / version
        await driver.install_image(upload, dest)
        images[version] = ImageArtifact(urn(version), dest)

    async def write_disk(key: str, lun: int, text: str) -> None:
        driver.data_disk(key, lun)["marker"] = text

    async def read_disk(key: str, lun: int) -> str | None:
        return driver.data_disk(key, lun).get("marker")

    return Kit(driver, clock, images, write_disk, read_disk, boot_seconds=SIM_BOOT_SECONDS)


# -- the qemu driver: the project's tiny images, whose app keeps a marker per data disk

GUEST_APP_PORT = 80
QEMU_VERSIONS = {"1.0.0": "v1", "2.0.0": "v2"}


async def qemu_kit(tmp_path: Path) -> Kit:
    built = tiny_images()
    driver = QemuDriver(tmp_path / "vms", accel="tcg", sizing=Sizing("tiny"), stop_timeout=15.0)
    images = {}
    for version, folder in QEMU_VERSIONS.items():
        dest = tmp_path / "images" / version
        await driver.install_image(built / folder, dest)
        images[version] = ImageArtifact(urn(version), dest)

    async def write_disk(key: str, lun: int, text: str) -> None:
        response = await guest_request(driver, key, "POST", f"/disk?lun={lun}", content=text)
        assert response.status_code == 200, response.text

    async def read_disk(key: str, lun: int) -> str | None:
        response = await guest_request(driver, key, "GET", f"/disk?lun={lun}")
        return None if response.status_code == 404 else response.text

    async def app_version(key: str) -> str:
        folder = (await guest_request(driver, key, "GET", "/")).json()["version"]
        return {f: v for v, f in QEMU_VERSIONS.items()}[folder]

    return Kit(driver, RealClock(), images, write_disk, read_disk, settle_seconds=120.0, ports=(GUEST_APP_PORT,),
               app_version=app_version)


async def guest_request(driver: Driver, key: str, method: str, path: str, *, timeout: float = 90.0,
                        **kwargs: Any) -> httpx.Response:
    """A request to a VM's app on port 80, retried while the VM still boots."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        while True:
            host, port = await driver.endpoint(key, GUEST_APP_PORT)
            try:
                return await client.request(method, f"http://{host}:{port}{path}", **kwargs)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.25)


KITS: dict[str, Callable[[Path], Awaitable[Kit]]] = {
    "process": process_kit,
    "qemu": qemu_kit,
    "sim": sim_kit,
}


# -- talking to a machine's app

async def get_app_state(ip: str, *, port: int = APP_PORT, timeout: float = 5.0) -> dict[str, Any]:
    """GET the app's JSON, retrying while it is still starting to listen."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(trust_env=False, timeout=1.0) as client:
        while True:
            try:
                response = await client.get(f"http://{ip}:{port}/")
                response.raise_for_status()
                return response.json()
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.03)


async def app_refuses(ip: str) -> bool:
    async with httpx.AsyncClient(trust_env=False, timeout=1.0) as client:
        try:
            await client.get(f"http://{ip}:{APP_PORT}/")
        except httpx.ConnectError:
            return True
    return False
