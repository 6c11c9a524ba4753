"""On the process driver (real processes, real HTTP probes), the scale set the example deploys
keeps itself up to date: a newer version of its image rolls out by itself, and the data disk its
CustomScript wrote to survives the upgrade."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from scaleset.drivers.machine_dir import MachineDir
from tests.conftest import API, publish, serving
from tests.deployments.conftest import EXAMPLE, SCALE_SETS, Arm, load, values
from tests.images import boot_image

V1, V2 = "1.0.0", "1.0.1"
IMAGE = {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "16.04-LTS"}  # the example's default


def completed_runs(arm: Arm, scale_set: str) -> list[dict[str, Any]]:
    history = arm.get(f"{scale_set}/osUpgradeHistory", api=API)["value"]
    return [entry["properties"] for entry in history if entry["properties"]["runningStatus"]["code"] == "Completed"]


def wait_for_completed_run(arm: Arm, scale_set: str, *, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not (runs := completed_runs(arm, scale_set)):
        latest = arm.http.get(f"{scale_set}/rollingUpgrades/latest", params={"api-version": API})
        assert time.monotonic() < deadline, f"no upgrade completed in {timeout} s; latest: {latest.text}"
        time.sleep(0.2)
    return runs[0]


def markers(data_dir: Path) -> dict[str, list[str]]:
    """The lines of marker.txt on each process-driver machine's data disk at lun 0."""
    return {machine.name: (MachineDir(machine).data_disk(0) / "marker.txt").read_text().splitlines()
            for machine in sorted((data_dir / "machines").iterdir())}


def test_the_deployed_scale_set_upgrades_itself_and_keeps_its_data_disk(tmp_path: Path) -> None:
    with serving(tmp_path / "data", extra=("--probe-interval", "0.2", "--health-wait", "10")) as server, \
            server.client() as http:
        arm = Arm(server, http)
        assert publish(http, arm.sub, boot_image(tmp_path / "v1" / "app", version=V1), version=V1,
                       **IMAGE).status_code == 201
        group = arm.group()
        parameters = {**load(EXAMPLE / "azuredeploy.parameters.json")["parameters"],
                      **values(vmssName="web", instanceCount=2)}
        deployment = arm.deploy(group, "upgrades", load(EXAMPLE / "azuredeploy.json"), parameters)
        assert deployment["properties"]["provisioningState"] == "Succeeded", deployment["properties"].get("error")
        urn = ":".join(IMAGE.values())
        assert list(markers(server.data_dir).values()) == [[f"installed by {urn}:{V1}"]] * 2

        assert publish(http, arm.sub, boot_image(tmp_path / "v2" / "app", version=V2), version=V2,
                       **IMAGE).status_code == 201
        scale_set = arm.resource_id(group, SCALE_SETS, "web")
        run = wait_for_completed_run(arm, scale_set)

        assert run["startedBy"] == "Platform"
        assert run["targetImageReference"]["exactVersion"] == V2
        assert run["progress"]["successfulInstanceCount"] == 2 and run["progress"]["failedInstanceCount"] == 0
        instances = arm.get(f"{scale_set}/virtualMachines", api=API, **{"$expand": "instanceView"})["value"]
        assert [vm["properties"]["storageProfile"]["imageReference"]["exactVersion"] for vm in instances] == [V2, V2]
        for vm in instances:  # the load balancer's Http probe on 8080 answered by the new app
            health = vm["properties"]["instanceView"]["vmHealth"]
            assert health["status"]["code"] == "HealthState/healthy", health
        # The CustomScript ran again on the new image; what it wrote under v1 is still on the disk.
        assert list(markers(server.data_dir).values()) == [[f"installed by {urn}:{V1}", f"installed by {urn}:{V2}"]] * 2
