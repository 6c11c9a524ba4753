"""Automatic OS upgrades over real virtual machines (the qemu driver under TCG): new OS disks,
kept data disks, HTTP probes through forwarded ports, a broken image rolled back, a killed VM seen.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaleset.cli.artifact import pack_directory
from scaleset.drivers.machine_dir import read_json
from scaleset.drivers.qemu import forwarded_ports
from tests.conftest import API, Server, publish, serving
from tests.e2e.test_process_scale_set import vms, wait_operation
from tests.vm_images import tiny_images

V = {"api-version": API}
APP_PORT = 80


@pytest.fixture
def vm_server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    images = tiny_images()
    extra = ("--probe-interval", "0.5", "--health-wait", "45", "--vm-accel", "tcg", "--vm-size-profile", "tiny")
    with serving(tmp_path / "data", driver="qemu", extra=extra) as server:
        yield server, images


def artifact(images: Path, name: str, tmp_path: Path) -> Path:
    """An image folder packed as `image publish` would send it."""
    packed = tmp_path / f"{name}.tar.gz"
    with packed.open("wb") as out:
        pack_directory(images / name, out)
    assert tarfile.is_tarfile(packed)
    return packed


def app_urls(server: Server) -> dict[str, str]:
    """Each running VM's app, by computer name, through its forwarded port."""
    return {name: f"http://127.0.0.1:{ports[APP_PORT]}"
            for name, ports in forwarded_ports(server.data_dir / "vms").items() if APP_PORT in ports}


def guest(url: str, method: str = "GET", path: str = "/health", *, timeout: float = 60, **kwargs: Any) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.request(method, url + path, timeout=5, trust_env=False, **kwargs)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def wait_for_run(client: httpx.Client, base: str, state: str, *, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    latest: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"{base}/rollingUpgrades/latest", params=V)
        if response.status_code == 200:
            latest = response.json()
            code = latest["properties"]["runningStatus"]["code"]
            if code == state:
                return latest
            if code in ("Completed", "Faulted", "Cancelled"):
                raise AssertionError(f"run ended {code}: {latest['properties'].get('error')}")
        time.sleep(0.5)
    raise AssertionError(f"no run reached {state} in {timeout} s; last: {latest}")


def test_rolling_upgrades_replace_os_disks_of_real_vms_and_keep_their_data_disks(
        vm_server: tuple[Server, Path], tmp_path: Path) -> None:
    server, images = vm_server
    sub = server.subscription
    group = f"/subscriptions/{sub}/resourceGroups/rg"
    base = f"{group}/providers/Microsoft.Compute/virtualMachineScaleSets/web"
    with server.client() as client:
        assert client.put(f"/subscriptions/{sub}/resourcegroups/rg", params=V, json={"location": "westus"}).status_code == 201
        assert publish(client, sub, artifact(images, "v1", tmp_path), version="1.0.0").status_code == 201
        lb = {"location": "westus", "properties": {"probes": [{"name": "http", "properties": {
            "protocol": "Http", "port": APP_PORT, "requestPath": "/health", "intervalInSeconds": 5, "numberOfProbes": 2}}]}}
        assert client.put(f"{group}/providers/Microsoft.Network/loadBalancers/lb", params=V, json=lb).status_code == 201
        body = {"location": "westus", "sku": {"name": "Standard_DS1_v2", "capacity": 3}, "properties": {
            "upgradePolicy": {"mode": "Rolling", "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}},
            "virtualMachineProfile": {
                "storageProfile": {
                    "imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"},
                    "dataDisks": [{"lun": 0, "diskSizeGB": 1, "createOption": "Empty"}]},
                "networkProfile": {"healthProbe": {"id": f"{group}/providers/Microsoft.Network/loadBalancers/lb/probes/http"}}}}}
        assert wait_operation(client, client.put(base, params=V, json=body), timeout=180)["status"] == "Succeeded"

        urls = app_urls(server)
        assert len(urls) == 3
        for name, url in urls.items():
            assert guest(url).json()["version"] == "v1"
            assert guest(url, "POST", "/disk?lun=0", content=f"written under v1 on {name}").status_code == 200

        # v2: the platform rolls it out by itself, one VM per batch.
        assert publish(client, sub, artifact(images, "v2", tmp_path), version="1.0.1").status_code == 201
        done = wait_for_run(client, base, "Completed")
        assert done["properties"]["progress"]["successfulInstanceCount"] == 3
        urls = app_urls(server)
        for vm in vms(client, base):
            assert vm["properties"]["storageProfile"]["imageReference"]["exactVersion"] == "1.0.1"
            health = vm["properties"]["instanceView"]["vmHealth"]
            assert health["status"]["code"] == "HealthState/healthy"
            # Probes go to a forwarded port, so the reason names the guest's port, not an address.
            assert "port 80/health" in json.dumps(health)
        for name, url in urls.items():
            assert guest(url).json()["version"] == "v2"
            assert guest(url, path="/disk?lun=0").text == f"written under v1 on {name}"

        # The broken image: its app never answers, so the first batch fails and is rolled back.
        assert publish(client, sub, artifact(images, "broken", tmp_path), version="1.0.2").status_code == 201
        time.sleep(1)
        faulted = wait_for_run(client, base, "Faulted")
        assert faulted["properties"]["error"]["code"] == "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
        for vm in vms(client, base):
            assert vm["properties"]["storageProfile"]["imageReference"]["exactVersion"] == "1.0.1"
        for name, url in app_urls(server).items():
            assert guest(url).json()["version"] == "v2"
            assert guest(url, path="/disk?lun=0").text == f"written under v1 on {name}"
        history = client.get(f"{base}/osUpgradeHistory", params=V).json()["value"]
        newest = history[0]["properties"]
        assert newest["runningStatus"]["code"] == "Faulted"
        assert newest["rollbackInfo"]["successfullyRolledbackInstanceCount"] == 1

        # A VM whose QEMU dies shows stopped, then unhealthy.
        victim = next(path for path in sorted((server.data_dir / "vms").iterdir()) if (path / "state.json").exists())
        instance_id = read_json(victim / "spec.json")["instance_id"]
        os.kill(read_json(victim / "state.json")["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            view = client.get(f"{base}/virtualMachines/{instance_id}/instanceView", params=V).json()
            codes = [s["code"] for s in view.get("statuses", [])]
            health = (view.get("vmHealth") or {}).get("status", {}).get("code")
            if "PowerState/stopped" in codes and health == "HealthState/unhealthy":
                break
            assert time.monotonic() < deadline, f"instance {instance_id} still shows {codes}, {health}"
            time.sleep(0.5)


def test_a_lone_qcow2_is_published_as_it_is_and_an_unbootable_one_is_refused(
        vm_server: tuple[Server, Path], tmp_path: Path) -> None:
    server, _ = vm_server
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    raw = tmp_path / "raw.qcow2"
    raw.write_bytes(b"\0" * 65536)
    with server.client() as client:
        assert publish(client, server.subscription, disk, version="1.0.0").status_code == 201
        refused = publish(client, server.subscription, raw, version="1.0.1")
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["code"] == "InvalidArtifact" and "no os.qcow2" in error["message"]
