"""Automatic OS upgrades on the process driver: real processes, real HTTP health probes, and the
official SDK reading the upgrade status and history."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.mgmt.compute import ComputeManagementClient

from tests.conftest import API, Server, publish, serving
from tests.e2e.test_process_scale_set import get_app, private_ip, vms, wait_operation
from tests.images import boot_image
from tests.sdk import compute_client

V = {"api-version": API}


@pytest.fixture
def upgrade_server(tmp_path: Path) -> Iterator[Server]:
    """Probes every 0.2 s and a 4 s health wait: the seed's rules, on a short clock."""
    with serving(tmp_path / "data", extra=("--probe-interval", "0.2", "--health-wait", "4")) as server:
        yield server


def sdk(server: Server) -> ComputeManagementClient:
    return compute_client(server)


def wait_for_run(client: ComputeManagementClient, name: str, state: str, *, timeout: float = 90):
    deadline = time.monotonic() + timeout
    latest = None
    while time.monotonic() < deadline:
        try:
            latest = client.virtual_machine_scale_set_rolling_upgrades.get_latest("rg", name)
            if latest.running_status.code == state:
                return latest
            if latest.running_status.code in ("Completed", "Faulted", "Cancelled"):
                raise AssertionError(f"run ended {latest.running_status.code}: {latest.error}")
        except Exception as error:  # noqa: BLE001 - 404 until the first run starts
            if "ended" in str(error):
                raise
        time.sleep(0.2)
    raise AssertionError(f"no run reached {state} in {timeout} s; last: {latest}")


def test_a_published_version_rolls_out_by_itself_and_a_broken_one_is_rolled_back(upgrade_server: Server, tmp_path: Path) -> None:
    server = upgrade_server
    sub = server.subscription
    with server.client() as client:
        assert client.put(f"/subscriptions/{sub}/resourcegroups/rg", params=V, json={"location": "westus"}).status_code == 201
        assert publish(client, sub, boot_image(tmp_path / "v1", version="1.0.0"), version="1.0.0").status_code == 201
        lb = {"location": "westus", "properties": {"probes": [{"name": "http", "properties": {
            "protocol": "Http", "port": 8080, "requestPath": "/health", "intervalInSeconds": 5, "numberOfProbes": 2}}]}}
        assert client.put(f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb", params=V, json=lb).status_code == 201
        probe_id = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/probes/http"
        body = {"location": "westus", "sku": {"name": "Standard_DS1_v2", "capacity": 10}, "properties": {
            "upgradePolicy": {"mode": "Rolling", "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}},
            "virtualMachineProfile": {
                "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"}},
                "networkProfile": {"healthProbe": {"id": probe_id}}}}}
        base = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets"
        assert wait_operation(client, client.put(f"{base}/web", params=V, json=body))["status"] == "Succeeded"

        assert publish(client, sub, boot_image(tmp_path / "v2", version="1.0.1"), version="1.0.1").status_code == 201
        compute = sdk(server)
        done = wait_for_run(compute, "web", "Completed")
        assert done.progress.successful_instance_count == 10 and done.progress.failed_instance_count == 0
        for vm in vms(client, f"{base}/web"):
            assert vm["properties"]["storageProfile"]["imageReference"]["exactVersion"] == "1.0.1"
            assert get_app(private_ip(vm)).json()["version"] == "1.0.1"
            health = vm["properties"]["instanceView"]["vmHealth"]
            assert health["status"]["code"] == "HealthState/healthy"
            assert health["answers"] and health["answers"][-1]["statusCode"] == 200

        assert publish(client, sub, boot_image(tmp_path / "v3", version="1.0.2", healthy=False), version="1.0.2").status_code == 201
        time.sleep(1)
        faulted = wait_for_run(compute, "web", "Faulted")
        assert faulted.error.code == "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
        for vm in vms(client, f"{base}/web"):  # the first batch got 1.0.1 back; nobody runs 1.0.2
            assert vm["properties"]["storageProfile"]["imageReference"]["exactVersion"] == "1.0.1"

        history = list(compute.virtual_machine_scale_sets.get_os_upgrade_history("rg", "web"))
        assert [h.properties.running_status.code for h in history] == ["Faulted", "Completed"]
        newest, older = history
        assert newest.properties.started_by == "Platform"
        assert newest.properties.target_image_reference.exact_version == "1.0.2"
        assert newest.properties.rollback_info.successfully_rolledback_instance_count == 2
        assert newest.properties.progress.failed_instance_count == 2
        assert older.properties.target_image_reference.exact_version == "1.0.1"
        assert newest.properties.running_status.start_time > older.properties.running_status.start_time
