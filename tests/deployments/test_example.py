"""The example template deploys through the HTTP API, as `az deployment group create` sends it."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from tests.conftest import API
from tests.deployments.conftest import EXAMPLE, FIXTURES, SCALE_SETS, Arm, load, values

PASSWORD = load(EXAMPLE / "azuredeploy.parameters.json")["parameters"]["adminPassword"]["value"]


def test_the_example_deploys_its_network_and_a_rolling_scale_set_behind_the_probe(arm: Arm) -> None:
    group = arm.group()
    template = load(EXAMPLE / "azuredeploy.json")
    parameters = load(EXAMPLE / "azuredeploy.parameters.json")["parameters"]

    validated = arm.validate(group, "upgrades", template, parameters)
    assert validated.status_code == 200, validated.text
    assert len(validated.json()["properties"]["validatedResources"]) == 4 and PASSWORD not in validated.text

    response = arm.put_deployment(group, "upgrades", template, parameters)
    assert response.status_code == 201, response.text
    assert response.headers["Azure-AsyncOperation"]
    assert PASSWORD not in response.text
    assert arm.wait(response)["status"] == "Succeeded"

    deployment = arm.get(arm.deployment_path(group, "upgrades"))
    props = deployment["properties"]
    assert props["provisioningState"] == "Succeeded", props.get("error")
    vmss_id = arm.resource_id(group, SCALE_SETS, "autoupgrade")
    assert props["outputs"] == {"vmssId": {"type": "String", "value": vmss_id}}
    assert props["parameters"]["adminPassword"] == {"type": "SecureString"}
    assert props["parameters"]["vmssName"] == {"type": "String", "value": "autoupgrade"}
    deployed = [entry["id"] for entry in props["outputResources"]]
    assert len(deployed) == 4 and vmss_id in deployed

    operations = arm.operations(group, "upgrades")
    by_type = {op["properties"]["targetResource"]["resourceType"]: op["properties"] for op in operations}
    assert sorted(by_type) == ["Microsoft.Compute/virtualMachineScaleSets", "Microsoft.Network/loadBalancers",
                               "Microsoft.Network/publicIPAddresses", "Microsoft.Network/virtualNetworks"]
    assert {op["provisioningState"] for op in by_type.values()} == {"Succeeded"}
    assert sorted(op["targetResource"]["id"] for op in by_type.values()) == sorted(deployed)

    def span(kind: str) -> tuple[datetime, datetime]:
        """When the operation deploying `kind` started and ended."""
        ended = datetime.fromisoformat(by_type[kind]["timestamp"])
        return ended - _duration(by_type[kind]["duration"]), ended

    scale_set_started, scale_set_ended = span("Microsoft.Compute/virtualMachineScaleSets")
    assert scale_set_started < scale_set_ended  # its instances took time to boot: durations are not rounded away
    lb_started, lb_ended = span("Microsoft.Network/loadBalancers")
    assert span("Microsoft.Network/virtualNetworks")[1] <= lb_started
    assert span("Microsoft.Network/publicIPAddresses")[1] <= lb_started
    assert lb_ended <= scale_set_started

    scale_set = arm.get(vmss_id, api=API)
    policy = scale_set["properties"]["upgradePolicy"]
    assert policy["mode"] == "Rolling"
    assert policy["automaticOSUpgradePolicy"]["enableAutomaticOSUpgrade"] is True
    profile = scale_set["properties"]["virtualMachineProfile"]
    probe_id = profile["networkProfile"]["healthProbe"]["id"]
    lb_id = by_type["Microsoft.Network/loadBalancers"]["targetResource"]["id"]
    assert probe_id.startswith(f"{lb_id}/probes/")
    probe = arm.get(probe_id, api=API)
    assert (probe["id"], probe["properties"]["protocol"], probe["properties"]["port"]) == (probe_id, "Http", 8080)
    assert [(d["lun"], d["diskSizeGB"]) for d in profile["storageProfile"]["dataDisks"]] == [(0, 32)]
    assert scale_set["sku"]["capacity"] == 3
    assert scale_set["properties"]["provisioningState"] == "Succeeded"

    everything = [deployment, arm.get(arm.deployment_path(group, "upgrades") + "/operations"), scale_set,
                  arm.get(vmss_id + "/virtualMachines", api=API)]
    assert PASSWORD not in json.dumps(everything)


def test_azures_automatic_os_upgrades_quickstart_deploys_verbatim(arm: Arm) -> None:
    group = arm.group()
    quickstart = load(FIXTURES / "quickstart-automatic-os-upgrades.json")
    parameters = values(vmssNamePrefix="Upgrade1", instanceCount=2, adminUsername="azureuser",
                        adminPassword="Quickst4rt-Secret!")

    deployment = arm.deploy(group, "quickstart", quickstart, parameters)

    assert deployment["properties"]["provisioningState"] == "Succeeded", deployment["properties"].get("error")
    assert {op["properties"]["provisioningState"] for op in arm.operations(group, "quickstart")} == {"Succeeded"}
    scale_set = arm.get(arm.resource_id(group, SCALE_SETS, "Upgrade1"), api=API)
    props = scale_set["properties"]
    assert props["upgradePolicy"]["mode"] == "Automatic"
    assert props["upgradePolicy"]["automaticOSUpgradePolicy"]["enableAutomaticOSUpgrade"] is True
    assert props["singlePlacementGroup"] is True and props["overprovision"] is True
    disk = props["virtualMachineProfile"]["storageProfile"]["dataDisks"][0]
    assert (disk["lun"], disk["diskSizeGB"]) == (0, 1023)
    probe_id = props["virtualMachineProfile"]["networkProfile"]["healthProbe"]["id"]
    assert arm.get(probe_id, api=API)["properties"]["protocol"] == "Tcp"
    instances = arm.get(scale_set["id"] + "/virtualMachines", api=API)["value"]
    assert len(instances) == 2
    assert {vm["properties"]["storageProfile"]["imageReference"]["exactVersion"] for vm in instances} == {"1.0.0"}
    assert "Quickst4rt-Secret!" not in json.dumps([deployment, arm.operations(group, "quickstart"), scale_set])


def _duration(text: str) -> timedelta:
    """An ARM duration (PT1M17.2493543S) as a timedelta."""
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", text)
    assert match, text
    hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)
