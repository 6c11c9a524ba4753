"""Shared fixtures: a real `scaleset serve` over TLS on loopback, and real image artifacts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.images import boot_image

TOKEN = "test-token"
API = "2024-03-01"


@dataclass
class Server:
    url: str
    ca: str | None
    data_dir: Path
    process: subprocess.Popen[bytes]
    subscription: str
    token: str = TOKEN

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ca or False, timeout=30,
                            headers={"Authorization": f"Bearer {self.token}"})

    def url_of(self, path: str) -> str:
        return f"{self.url}{path}"


def start_server(data_dir: Path, *, driver: str = "process", extra: tuple[str, ...] = (), db: str | None = None) -> Server:
    """Start `scaleset serve` in a process of its own and wait until /healthz answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    endpoint = data_dir / "endpoint.json"
    endpoint.unlink(missing_ok=True)
    command = [sys.executable, "-m", "scaleset.cli.main", "serve", "--data-dir", str(data_dir), "--port", "0",
               "--tls-self-signed", "--token", TOKEN, "--driver", driver, "--retry-after-ms", "50",
               "--status-interval", "0.2", "--log-level", "warning", *extra]
    if db:
        command += ["--db", db]
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not endpoint.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start:\n{(data_dir / 'server.log').read_text()}")
        time.sleep(0.05)
    info = json.loads(endpoint.read_text())
    with httpx.Client(verify=info["ca"]) as client:
        subs = client.get(f"{info['url']}/subscriptions", params={"api-version": API},
                          headers={"Authorization": f"Bearer {TOKEN}"}).json()
    return Server(url=info["url"], ca=info["ca"], data_dir=data_dir, process=process,
                  subscription=subs["value"][0]["subscriptionId"])


def stop_server(server: Server, *, kill: bool = False) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def remove_machines(data_dir: Path) -> None:
    """Delete every machine (process or qemu) under a data dir: they outlive the server by design."""
    from scaleset.drivers import process, qemu

    process.remove_all(data_dir / "machines", stop_timeout=2)
    qemu.remove_all(data_dir / "vms")


@contextmanager
def serving(data_dir: Path, *, extra: tuple[str, ...] = (), driver: str = "process") -> Iterator[Server]:
    """A server for the block (on the process driver unless told), its machines removed afterwards."""
    running = start_server(data_dir, extra=extra, driver=driver)
    try:
        yield running
    finally:
        stop_server(running)
        remove_machines(running.data_dir)


@contextmanager
def module_sim_server(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Server]:
    """A sim-driver server in a fresh folder named after `name`, for a module's fixture."""
    running = start_server(tmp_path_factory.mktemp(name) / "data", driver="sim")
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """An in-process plane's store (the engine kit's `store`): its own SQLite file (None), or a
    fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    from tests.postgres import fresh_postgres_database

    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh server on the process driver."""
    with serving(tmp_path / "data") as running:
        yield running


@pytest.fixture
def image_artifact(tmp_path: Path) -> Path:
    """A .tar.gz whose boot serves HTTP on $SCALESET_PRIVATE_IP:8080."""
    return boot_image(tmp_path / "image-v1", version="1.0.0")


def publish(client: httpx.Client, sub: str, artifact: Path, *, version: str, location: str = "westus",
            publisher: str = "Canonical", offer: str = "UbuntuServer", sku: str = "18.04-LTS") -> httpx.Response:
    content_type = {".json": "application/json", ".qcow2": "application/octet-stream"}.get(artifact.suffix, "application/gzip")
    return client.put(
        f"/subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}/publishers/{publisher}"
        f"/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions/{version}",
        params={"api-version": API, "osType": "Linux"}, content=artifact.read_bytes(),
        headers={"Content-Type": content_type})


os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
