"""`az deployment group create` deploys ARM templates unchanged, and a bad one fails readably."""

from __future__ import annotations

import json
from pathlib import Path

from tests.az.conftest import Az, dig, requires_az, unique

pytestmark = requires_az
EXAMPLE = Path(__file__).parents[2] / "examples" / "automatic-rolling-upgrades"


def test_the_example_template_deploys(az: Az) -> None:
    group = unique("rg")
    az("group", "create", "-n", group, "-l", "westus")
    deployed = az("deployment", "group", "create", "-g", group, "--name", "upgrades",
                  "--template-file", str(EXAMPLE / "azuredeploy.json"),
                  "--parameters", f"@{EXAMPLE / 'azuredeploy.parameters.json'}",
                  "--parameters", "vmssName=web", "instanceCount=2", "imageSku=18.04-LTS")
    assert deployed["properties"]["provisioningState"] == "Succeeded"
    assert "Sc4leset-Example!" not in json.dumps(deployed)
    shown = az("deployment", "group", "show", "-g", group, "-n", "upgrades")
    assert shown["properties"]["outputResources"]
    operations = az("deployment", "operation", "group", "list", "-g", group, "-n", "upgrades")
    assert {op["properties"]["provisioningState"] for op in operations} == {"Succeeded"}
    vmss = az("vmss", "show", "-g", group, "-n", "web")
    assert vmss["upgradePolicy"]["mode"] == "Rolling"
    assert dig(vmss, "upgradePolicy", "automaticOSUpgradePolicy", "enableAutomaticOSUpgrade") is True
    assert len(az("vmss", "list-instances", "-g", group, "-n", "web")) == 2


def test_a_bad_template_fails_with_an_error_naming_the_place(az: Az, tmp_path: Path) -> None:
    group = unique("rg")
    az("group", "create", "-n", group, "-l", "westus")
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0",
                "resources": [{"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2023-09-01",
                               "name": "[noSuchFunction('ip')]", "location": "westus"}]}
    (tmp_path / "bad.json").write_text(json.dumps(template))
    failed = az.fails("deployment", "group", "create", "-g", group, "--template-file", str(tmp_path / "bad.json"))
    assert "InvalidTemplate" in failed.stderr
    assert "noSuchFunction" in failed.stderr and "resources[0]" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert az("deployment", "group", "list", "-g", group) == []
