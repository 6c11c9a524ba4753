"""What templates commonly use, deployed for real: copy loops, child resources (nested and
top-level), conditions, and outputs built from what was deployed."""

from __future__ import annotations

from tests.conftest import API
from tests.deployments.conftest import LOCATION, Arm, template, values

NETWORK_API = "2023-09-01"
NSG = "Microsoft.Network/networkSecurityGroups"
VNET = "Microsoft.Network/virtualNetworks"
IP = "Microsoft.Network/publicIPAddresses"


def test_copy_loops_children_and_conditions_deploy_as_arm_does(arm: Arm) -> None:
    group = arm.group()
    ips = {"type": IP, "apiVersion": NETWORK_API, "name": "[concat('ip', copyIndex(1))]", "location": LOCATION,
           "copy": {"name": "ips", "count": "[parameters('ipCount')]"}}
    nsg = {"type": NSG, "apiVersion": NETWORK_API, "name": "nsg", "location": LOCATION, "resources": [
        {"type": "securityRules", "apiVersion": NETWORK_API, "name": "ssh", "dependsOn": ["nsg"],
         "properties": {"priority": 100, "access": "Allow", "direction": "Inbound", "protocol": "Tcp",
                        "destinationPortRange": "22"}}]}
    vnet = {"type": VNET, "apiVersion": NETWORK_API, "name": "vnet", "location": LOCATION,
            "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}
    subnet = {"type": f"{VNET}/subnets", "apiVersion": NETWORK_API, "name": "vnet/apps",
              "dependsOn": ["vnet", "ips"], "properties": {"addressPrefix": "10.0.1.0/24"}}
    skipped = {"type": IP, "apiVersion": NETWORK_API, "name": "unwanted", "location": LOCATION, "condition": False}
    ip_id = f"[resourceId('{IP}', concat('ip', copyIndex(1)))]"
    outputs = {"IPs": {"type": "array", "copy": {"count": "[parameters('ipCount')]", "input": ip_id}},
               "subnetPrefix": {"type": "string", "value": "[reference('vnet').subnets[0].properties.addressPrefix]"}}
    body = template([ips, nsg, vnet, subnet, skipped], parameters={"ipCount": {"type": "int"}}, outputs=outputs)

    deployment = arm.deploy(group, "features", body, values(ipCount=3))

    props = deployment["properties"]
    assert props["provisioningState"] == "Succeeded", props.get("error")
    ip_ids = [arm.resource_id(group, IP, f"ip{n}") for n in (1, 2, 3)]
    assert props["outputs"] == {"iPs": {"type": "Array", "value": ip_ids},
                                "subnetPrefix": {"type": "String", "value": "10.0.1.0/24"}}
    rule_id = arm.resource_id(group, f"{NSG}/securityRules", "nsg", "ssh")
    subnet_id = arm.resource_id(group, f"{VNET}/subnets", "vnet", "apps")
    assert sorted(r["id"] for r in props["outputResources"]) == sorted(
        [*ip_ids, arm.resource_id(group, NSG, "nsg"), rule_id, arm.resource_id(group, VNET, "vnet"), subnet_id])
    assert arm.get(rule_id, api=API)["properties"]["destinationPortRange"] == "22"
    assert arm.get(subnet_id, api=API)["properties"]["addressPrefix"] == "10.0.1.0/24"
    assert arm.resource_id(group, IP, "unwanted") not in arm.contents(group)
    finished = {op["properties"]["targetResource"]["id"]: op["properties"]["provisioningState"]
                for op in arm.operations(group, "features")}
    assert finished == {rid: "Succeeded" for rid in [r["id"] for r in props["outputResources"]]}
