"""ARM's leniency: templates written for old api-versions, with numbers and booleans as strings,
deploy as they do on Azure, and the scale set comes back typed."""

from __future__ import annotations

from tests.conftest import API
from tests.deployments.conftest import LOCATION, SCALE_SETS, Arm, template


def test_an_old_api_version_with_string_numbers_and_booleans_deploys_typed(arm: Arm) -> None:
    group = arm.group()
    old_style = {
        "type": SCALE_SETS, "apiVersion": "2017-03-30", "name": "legacy", "location": LOCATION,
        "sku": {"name": "Standard_DS1_v2", "tier": "Standard", "capacity": "2"},
        "properties": {
            "overprovision": "false",
            "upgradePolicy": {"mode": "Automatic", "automaticOSUpgrade": "true"},
            "virtualMachineProfile": {
                "storageProfile": {
                    "imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "16.04-LTS",
                                       "version": "latest"},
                    "osDisk": {"createOption": "FromImage", "caching": "ReadWrite"},
                    "dataDisks": [{"lun": "0", "diskSizeGB": "1023", "createOption": "Empty"}]},
                "osProfile": {"computerNamePrefix": "legacy", "adminUsername": "azureuser"}}}}
    automatic = "[reference('legacy').upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade]"
    outputs = {"VMSSCapacity": {"type": "int", "value": "[reference('legacy', '2017-03-30', 'Full').sku.capacity]"},
               "UpgradesAutomatically": {"type": "bool", "value": automatic}}

    deployment = arm.deploy(group, "legacy", template([old_style], outputs=outputs))

    assert deployment["properties"]["provisioningState"] == "Succeeded", deployment["properties"].get("error")
    # outputs are camel-cased as ARM does, and read the scale set as the provider stored it
    assert deployment["properties"]["outputs"] == {"vmssCapacity": {"type": "Int", "value": 2},
                                                   "upgradesAutomatically": {"type": "Bool", "value": True}}
    scale_set = arm.get(arm.resource_id(group, SCALE_SETS, "legacy"), api=API)
    assert scale_set["sku"]["capacity"] == 2
    props = scale_set["properties"]
    assert props["overprovision"] is False
    assert props["upgradePolicy"]["automaticOSUpgradePolicy"]["enableAutomaticOSUpgrade"] is True
    assert "automaticOSUpgrade" not in props["upgradePolicy"]
    disk = props["virtualMachineProfile"]["storageProfile"]["dataDisks"][0]
    assert (disk["lun"], disk["diskSizeGB"]) == (0, 1023)
    assert len(arm.get(scale_set["id"] + "/virtualMachines", api=API)["value"]) == 2
