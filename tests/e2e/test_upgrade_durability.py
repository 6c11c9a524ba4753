"""A rolling OS upgrade survives SIGKILL of the server in the middle of a batch.

Real processes on the process driver. Every (re)image appends the image version to a log on the
instance's data disk, so the disk itself tells how often each instance was imaged, and with what;
the server is killed while a batch's custom data is still running (after the log line, before the
reimage is recorded), which is the worst moment for "write the intent before the act".
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API, publish, remove_machines, start_server, stop_server
from tests.e2e.test_process_scale_set import scale_set_body, vms, wait_operation
from tests.images import boot_image

V = {"api-version": API}
SERVER_FLAGS = ("--probe-interval", "0.2", "--health-wait", "8")
CAPACITY = 10
V1, V2 = "1.0.0", "1.0.1"

# Appends the version first, then stays busy: a kill during the sleep finds the reimage done on the
# machine but not yet recorded by the server.
CUSTOM_DATA = '#!/bin/sh\necho "${SCALESET_IMAGE##*:}" >> "$SCALESET_DATA_DISK_0/boots.log"\nsleep 1.5\n'


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """The server's data dir; every machine under it is removed afterwards, whatever happened."""
    path = tmp_path / "data"
    yield path
    remove_machines(path)


def latest(client: httpx.Client, scale_set: str) -> dict[str, Any] | None:
    response = client.get(f"{scale_set}/rollingUpgrades/latest", params=V)
    return response.json()["properties"] if response.status_code == 200 else None


def boots(disk: Path) -> list[str]:
    try:
        return (disk / "boots.log").read_text().splitlines()
    except FileNotFoundError:
        return []


def logged_rolling_scale_set(client: httpx.Client, sub: str, capacity: int) -> str:
    """Scale set `web` in group `rg` (both made already: the group, and v1 published): automatic OS
    upgrades in Rolling mode, gated by an Http probe, each instance logging its images on its data
    disk (CUSTOM_DATA). Returns its path once every instance is up."""
    lb = {"location": "westus", "properties": {"probes": [{"name": "http", "properties": {
        "protocol": "Http", "port": 8080, "requestPath": "/health", "intervalInSeconds": 5, "numberOfProbes": 2}}]}}
    lb_path = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb"
    assert client.put(lb_path, params=V, json=lb).status_code == 201
    body = scale_set_body(capacity=capacity, custom_data=CUSTOM_DATA, data_disks=1)
    body["properties"]["upgradePolicy"] = {"mode": "Rolling", "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}}
    body["properties"]["virtualMachineProfile"]["networkProfile"] = {"healthProbe": {"id": f"{lb_path}/probes/http"}}
    scale_set = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web"
    assert wait_operation(client, client.put(scale_set, params=V, json=body))["status"] == "Succeeded"
    return scale_set


def test_a_rolling_upgrade_killed_mid_batch_resumes_without_reimaging_anyone_twice(data_dir: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    server = start_server(data_dir, extra=SERVER_FLAGS)
    try:
        sub = server.subscription
        with server.client() as client:
            assert client.put(f"/subscriptions/{sub}/resourcegroups/rg", params=V, json={"location": "westus"}).status_code == 201
            assert publish(client, sub, boot_image(tmp_path / "v1", version=V1), version=V1).status_code == 201
            scale_set = logged_rolling_scale_set(client, sub, CAPACITY)

            machines = sorted((data_dir / "machines").iterdir())
            assert len(machines) == CAPACITY
            disks = {machine.name: machine / "data" / "0" for machine in machines}
            for name, disk in disks.items():
                assert boots(disk) == [V1], name
                (disk / "marker.txt").write_text(f"written before the upgrade on {name}")

            assert publish(client, sub, boot_image(tmp_path / "v2", version=V2), version=V2).status_code == 201

            # Into the second batch, and then the worst moment: an instance of it has booted v2
            # (its custom data logged) while the server has not recorded its reimage yet.
            deadline = time.monotonic() + 30
            caught: list[str] = []
            while not caught:
                assert time.monotonic() < deadline, f"never caught the run mid-batch; last: {latest(client, scale_set)}"
                progress = (latest(client, scale_set) or {}).get("progress") or {}
                if progress.get("inProgressInstanceCount", 0) > 0 and progress.get("successfulInstanceCount", 0) >= 2:
                    updating = {vm["instanceId"] for vm in vms(client, scale_set)
                                if vm["properties"]["provisioningState"] == "Updating"}
                    caught = [name for name, disk in disks.items()
                              if boots(disk) == [V1, V2] and name.rsplit("-", 1)[1] in updating]
                if not caught:
                    time.sleep(0.05)
        stop_server(server, kill=True)
        at_kill = {name: boots(disk) for name, disk in disks.items()}
        assert sum(log == [V1, V2] for log in at_kill.values()) >= 3  # batch one, and some of batch two

        server = start_server(data_dir, extra=SERVER_FLAGS)
        with server.client() as client:
            deadline = time.monotonic() + 60
            while (run := latest(client, scale_set))["runningStatus"]["code"] in ("RollingForward", "RollingBack"):
                assert time.monotonic() < deadline, f"the run did not end after the restart: {run}"
                time.sleep(0.2)
            assert run["runningStatus"]["code"] == "Completed", run
            assert run["progress"] == {"successfulInstanceCount": CAPACITY, "failedInstanceCount": 0,
                                       "inProgressInstanceCount": 0, "pendingInstanceCount": 0}
            assert "error" not in run

            history = client.get(f"{scale_set}/osUpgradeHistory", params=V).json()["value"]
            assert len(history) == 1, history
            entry = history[0]["properties"]
            assert entry["runningStatus"]["code"] == "Completed"
            assert entry["startedBy"] == "Platform"
            assert entry["targetImageReference"]["exactVersion"] == V2
            assert entry["progress"]["successfulInstanceCount"] == CAPACITY

            found = vms(client, scale_set)
            assert len(found) == CAPACITY
            for vm in found:
                assert vm["properties"]["storageProfile"]["imageReference"]["exactVersion"] == V2, vm["instanceId"]
                assert vm["properties"]["provisioningState"] == "Succeeded", vm["instanceId"]  # no intent left
                assert "PowerState/running" in [s["code"] for s in vm["properties"]["instanceView"]["statuses"]]
                assert vm["properties"]["instanceView"]["vmHealth"]["status"]["code"] == "HealthState/healthy"

        for name, disk in disks.items():
            # Imaged once with v1, then reimaged exactly once with v2: never twice, never half.
            assert boots(disk) == [V1, V2], (name, boots(disk), at_kill[name], caught)
            assert (disk / "marker.txt").read_text() == f"written before the upgrade on {name}"
        for machine in machines:
            assert (machine / "os" / "VERSION").read_text() == V2
            assert not (machine / "provision-pending").exists()
        assert time.monotonic() - started < 60
    finally:
        stop_server(server)
