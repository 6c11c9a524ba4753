"""A server killed (or stopped) in the middle of a deployment says so after its restart, instead of
showing the deployment Running forever, and the deployment can be run again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API, Server, publish, start_server, stop_server
from tests.deployments.conftest import LOCATION, SCALE_SETS, Arm, template
from tests.images import sim_image

STEADY_SKU = "steady"  # boots in 2 s: long enough to be killed while creating, short enough to redeploy


def steady_scale_set() -> dict[str, Any]:
    image = {"publisher": "Canonical", "offer": "UbuntuServer", "sku": STEADY_SKU, "version": "latest"}
    return {"type": SCALE_SETS, "apiVersion": "2023-09-01", "name": "web", "location": LOCATION,
            "sku": {"name": "Standard_DS1_v2", "capacity": 1},
            "properties": {"upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": {
                "storageProfile": {"imageReference": image},
                "osProfile": {"computerNamePrefix": "web", "adminUsername": "azureuser"}}}}


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """The servers a test starts, stopped afterwards whatever happened."""
    started: list[Server] = []
    yield started
    for server in started:
        stop_server(server)


def scale_set_operation(arm: Arm, group: str, name: str) -> dict[str, Any] | None:
    for op in arm.operations(group, name):
        if op["properties"]["targetResource"]["resourceType"] == SCALE_SETS:
            return op["properties"]
    return None


@pytest.mark.parametrize("kill", [True, False], ids=["SIGKILL", "SIGTERM"])
def test_a_deployment_under_way_when_the_server_stops_is_failed_interrupted_and_can_run_again(
        servers: list[Server], tmp_path: Path, kill: bool) -> None:
    data_dir = tmp_path / "data"
    servers.append(server := start_server(data_dir, driver="sim"))
    with server.client() as http:
        arm = Arm(server, http)
        artifact = sim_image(tmp_path / "steady.json", bootSeconds=2.0)
        assert publish(http, arm.sub, artifact, version="1.0.0", sku=STEADY_SKU).status_code == 201
        group = arm.group()
        response = arm.put_deployment(group, "web", template([steady_scale_set()]))
        assert response.status_code == 201, response.text
        deadline = time.monotonic() + 10
        while (scale_set_operation(arm, group, "web") or {}).get("provisioningState") != "Running":
            assert time.monotonic() < deadline, arm.operations(group, "web")
            time.sleep(0.02)
        assert arm.get(arm.deployment_path(group, "web"))["properties"]["provisioningState"] == "Running"
    stop_server(server, kill=kill)

    servers.append(server := start_server(data_dir, driver="sim"))
    with server.client() as http:
        arm = Arm(server, http)
        props = arm.get(arm.deployment_path(group, "web"))["properties"]
        assert props["provisioningState"] == "Failed"
        assert props["error"]["code"] == "DeploymentInterrupted"
        interrupted = scale_set_operation(arm, group, "web")  # the resource it was deploying ends with it
        assert interrupted["provisioningState"] == "Failed"
        assert interrupted["statusMessage"]["error"]["code"] == "DeploymentInterrupted"
        poll = httpx.URL(response.headers["Azure-AsyncOperation"]).raw_path.decode()  # the new server has a new port
        assert http.get(poll).json()["status"] == "Failed"

        again = arm.deploy(group, "web", template([steady_scale_set()]), timeout=30)
        assert again["properties"]["provisioningState"] == "Succeeded", again["properties"].get("error")
        assert scale_set_operation(arm, group, "web")["provisioningState"] == "Succeeded"
        # the instance whose create the kill interrupted is created after all
        instances = arm.resource_id(group, SCALE_SETS, "web") + "/virtualMachines"
        deadline = time.monotonic() + 20
        while [vm["properties"]["provisioningState"] for vm in arm.get(instances, api=API)["value"]] != ["Succeeded"]:
            assert time.monotonic() < deadline, arm.get(instances, api=API)
            time.sleep(0.1)
