"""Real templates: the automatic rolling upgrades example, and Azure's own templates verbatim."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.templates.helpers import no_reference, planned, rid, values

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "automatic-rolling-upgrades"
FIXTURES = Path(__file__).parent / "fixtures"


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def test_the_example_orders_network_before_load_balancer_before_scale_set() -> None:
    parameters = load(EXAMPLE / "azuredeploy.parameters.json")["parameters"]
    plan = planned(load(EXAMPLE / "azuredeploy.json"), parameters)
    types = [[r.type for r in layer] for layer in plan.layers()]
    assert types == [["Microsoft.Network/virtualNetworks", "Microsoft.Network/publicIPAddresses"],
                     ["Microsoft.Network/loadBalancers"],
                     ["Microsoft.Compute/virtualMachineScaleSets"]]
    assert plan.parameters["adminPassword"] == {"type": "SecureString"}
    assert plan.parameters["instanceCount"] == {"type": "Int", "value": 3}


def test_the_example_scale_set_rolls_automatic_os_upgrades_behind_the_probe() -> None:
    plan = planned(load(EXAMPLE / "azuredeploy.json"), load(EXAMPLE / "azuredeploy.parameters.json")["parameters"])
    lb, scale_set = plan.resources[2], plan.resources[3]
    body = plan.body(scale_set, no_reference)
    probe_id = rid("Microsoft.Network/loadBalancers/probes", lb.name, lb.name.removesuffix("lb") + "probe")
    profile = body["properties"]["virtualMachineProfile"]
    assert profile["networkProfile"]["healthProbe"]["id"] == probe_id
    policy = body["properties"]["upgradePolicy"]
    assert policy["mode"] == "Rolling" and policy["automaticOSUpgradePolicy"]["enableAutomaticOSUpgrade"] is True
    assert policy["rollingUpgradePolicy"]["maxBatchInstancePercent"] == 20
    assert profile["storageProfile"]["imageReference"] == {"publisher": "Canonical", "offer": "UbuntuServer",
                                                           "sku": "16.04-LTS", "version": "latest"}
    assert profile["storageProfile"]["dataDisks"][0]["lun"] == 0
    extension = profile["extensionProfile"]["extensions"][0]["properties"]
    assert (extension["publisher"], extension["type"]) == ("Microsoft.Azure.Extensions", "CustomScript")
    assert "fileUris" not in extension["settings"] and "marker.txt" in extension["settings"]["commandToExecute"]
    assert body["sku"]["capacity"] == 3
    probe = plan.body(lb, no_reference)["properties"]["probes"][0]
    assert probe["properties"]["protocol"] == "Http"
    assert probe["properties"]["port"] == 8080 and probe["properties"]["requestPath"] == "/"


def test_azures_automatic_rolling_upgrades_template_is_accepted_verbatim() -> None:
    plan = planned(load(FIXTURES / "quickstart-automatic-os-upgrades.json"),
                   values(vmssNamePrefix="Upgrade1", instanceCount="3", adminUsername="azureuser",
                          adminPassword="Passw0rd!"))
    assert [[r.name for r in layer] for layer in plan.layers()] == [["upgrade1vnet"], ["upgrade1lb"], ["Upgrade1"]]
    body = plan.body(plan.resources[2], no_reference)
    assert body["sku"]["capacity"] == 3
    assert body["properties"]["virtualMachineProfile"]["networkProfile"]["healthProbe"]["id"] == \
        rid("Microsoft.Network/loadBalancers", "upgrade1lb") + "/probes/sshProbe"
    assert plan.resources[0].api_version == "2017-04-01"


def test_azures_health_probe_quickstart_is_accepted_verbatim() -> None:
    plan = planned(load(FIXTURES / "quickstart-automatic-repairs-slb-health-probe.json"),
                   values(vmssName="repairs", adminUsername="azureuser", adminPassword="Passw0rd!",
                          _artifactsLocation="https://example.com/artifacts/"))
    assert [r.type.rsplit("/", 1)[1] for r in plan.resources] == ["virtualNetworks", "loadBalancers",
                                                                 "virtualMachineScaleSets"]
    body = plan.body(plan.resources[2], no_reference)
    settings = body["properties"]["virtualMachineProfile"]["extensionProfile"]["extensions"][0]["properties"]["settings"]
    assert settings["fileUris"] == ["https://example.com/artifacts/install_apache.sh"]
    assert body["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]["sku"] == "18.04-LTS"
