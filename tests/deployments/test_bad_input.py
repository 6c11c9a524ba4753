"""Bad deployments: what can be known before deploying is a 400 naming the place in the request,
with nothing recorded or created; what only deploying finds fails the deployment, with the
resource's own error, and nothing that depends on it is attempted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import API
from tests.deployments.conftest import BROKEN_SKU, LOCATION, SCALE_SETS, SCHEMA, Arm, template, values

NETWORK_API = "2023-09-01"


def vnet(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Microsoft.Network/virtualNetworks", "apiVersion": NETWORK_API, "name": name, "location": LOCATION,
            "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}, **extra}


def public_ip(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Microsoft.Network/publicIPAddresses", "apiVersion": NETWORK_API, "name": name,
            "location": LOCATION, **extra}


def load_balancer(name: str, probe_port: int, **extra: Any) -> dict[str, Any]:
    probe = {"name": "http", "properties": {"protocol": "Http", "port": probe_port, "requestPath": "/"}}
    return {"type": "Microsoft.Network/loadBalancers", "apiVersion": NETWORK_API, "name": name, "location": LOCATION,
            "properties": {"probes": [probe]}, **extra}


def scale_set(name: str, capacity: int, **extra: Any) -> dict[str, Any]:
    image = {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "16.04-LTS", "version": "latest"}
    return {"type": SCALE_SETS, "apiVersion": "2023-09-01", "name": name, "location": LOCATION,
            "sku": {"name": "Standard_DS1_v2", "capacity": capacity},
            "properties": {"upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": {
                "storageProfile": {"imageReference": image},
                "osProfile": {"computerNamePrefix": "web", "adminUsername": "azureuser"}}}, **extra}


def with_parameter(definition: dict[str, Any]) -> dict[str, Any]:
    return template([vnet("[parameters('p')]")], parameters={"p": definition})


REFUSED = {
    "resources not an array": (
        {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": {"net": vnet("net")}}, {},
        "InvalidTemplate", "properties.template.resources"),
    "no $schema": (
        {"contentVersion": "1.0.0.0", "resources": [vnet("net")]}, {},
        "InvalidTemplate", "properties.template.$schema"),
    "unknown function": (
        template([vnet("net", properties={"addressSpace": {"addressPrefixes": ["[noSuchFunction('x')]"]}})]), {},
        "InvalidTemplate", "properties.template.resources[0].properties.addressSpace.addressPrefixes[0]"),
    "missing parameter": (
        with_parameter({"type": "string"}), {},
        "InvalidTemplateDeployment", "properties.template.parameters.p"),
    "value not allowed": (
        with_parameter({"type": "string", "allowedValues": ["net1", "net2"]}), values(p="net3"),
        "InvalidTemplateDeployment", "properties.parameters.p"),
    "below minValue": (
        template([vnet("[concat('net', parameters('p'))]")], parameters={"p": {"type": "int", "minValue": 1}}),
        values(p=0), "InvalidTemplateDeployment", "properties.parameters.p"),
    "over maxLength": (
        with_parameter({"type": "string", "maxLength": 4}), values(p="network"),
        "InvalidTemplateDeployment", "properties.parameters.p"),
    "parameter the template lacks": (
        template([vnet("net")]), values(extra="x"),
        "InvalidTemplate", "properties.parameters.extra"),
    "type without a provider": (
        template([vnet("net"), {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01",
                                "name": "logs", "location": LOCATION, "kind": "StorageV2"}]), {},
        "NoRegisteredProviderFound", "properties.template.resources[1].type"),
    "dependsOn cycle": (
        template([vnet("a", dependsOn=["b"]), vnet("b", dependsOn=["c"]), vnet("c", dependsOn=["a"])]), {},
        "InvalidTemplate", "properties.template.resources[0]"),
    "dependsOn naming nothing": (
        template([vnet("a"), vnet("b", dependsOn=["a", "nothing"])]), {},
        "InvalidTemplate", "properties.template.resources[1].dependsOn[1]"),
}


@pytest.mark.parametrize(("template_", "parameters", "code", "target"), REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_template_or_parameter_is_a_400_naming_the_place_and_changes_nothing(
        arm: Arm, template_: dict[str, Any], parameters: dict[str, Any], code: str, target: str) -> None:
    group = arm.group()
    response = arm.put_deployment(group, "bad", template_, parameters)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["target"]) == (code, target), error
    assert arm.contents(group) == []
    assert arm.http.get(arm.deployment_path(group, "bad"), params={"api-version": API}).status_code == 404


@pytest.mark.parametrize(("properties", "code", "target"), [
    ({"templateLink": {"uri": "https://example.com/azuredeploy.json"}}, "InvalidTemplate", "properties.templateLink"),
    ({"mode": "Complete"}, "InvalidDeploymentMode", "properties.mode"),
], ids=["templateLink", "Complete mode"])
def test_what_this_server_does_not_offer_is_a_400_naming_the_property(
        arm: Arm, properties: dict[str, Any], code: str, target: str) -> None:
    group = arm.group()
    response = arm.put_deployment(group, "bad", template([vnet("net")]), **properties)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["target"]) == (code, target), error
    assert arm.contents(group) == []


def test_a_reference_to_a_resource_that_does_not_exist_fails_the_deployment(arm: Arm) -> None:
    group = arm.group()
    missing = arm.resource_id(group, "Microsoft.Network/publicIPAddresses", "nowhere")
    uses_it = vnet("net", tags={"ip": f"[reference('{missing}', '{NETWORK_API}').ipAddress]"})

    response = arm.put_deployment(group, "dangling", template([uses_it]))
    assert response.status_code == 201, response.text  # reference() is only known at deployment
    assert arm.wait(response)["status"] == "Failed"

    props = arm.get(arm.deployment_path(group, "dangling"))["properties"]
    assert props["provisioningState"] == "Failed"
    (detail,) = props["error"]["details"]
    assert detail["code"] == "InvalidTemplateDeployment"
    assert f"The resource '{missing}' is not defined in the template and does not exist" in detail["message"]
    assert detail["target"] == "properties.template.resources[0].tags.ip"
    assert arm.contents(group) == [arm.deployment_path(group, "dangling")]


def test_a_resource_its_provider_refuses_fails_the_deployment_with_its_own_error(arm: Arm) -> None:
    group = arm.group()
    too_big = scale_set("web", 5000)
    after_it = public_ip("afterweb", dependsOn=[f"[resourceId('{SCALE_SETS}', 'web')]"])

    deployment = arm.deploy(group, "toobig", template([vnet("net"), too_big, after_it]))

    props = deployment["properties"]
    assert (props["provisioningState"], props["error"]["code"]) == ("Failed", "DeploymentFailed")
    (detail,) = props["error"]["details"]
    assert (detail["code"], detail["target"]) == ("InvalidParameter", "sku.capacity")
    operations = {op["properties"]["targetResource"]["resourceName"]: op["properties"]
                  for op in arm.operations(group, "toobig")}
    assert operations["web"]["provisioningState"] == "Failed"
    assert operations["web"]["statusCode"] == "BadRequest"
    assert operations["web"]["statusMessage"]["error"] == detail
    assert operations["net"]["provisioningState"] == "Succeeded"  # it did not depend on the scale set
    assert "afterweb" not in operations
    net = arm.resource_id(group, "Microsoft.Network/virtualNetworks", "net")
    assert sorted(arm.contents(group)) == sorted([deployment["id"], net])


def test_a_probe_on_port_0_fails_the_deployment_and_the_scale_set_behind_it_is_not_created(arm: Arm) -> None:
    group = arm.group()
    lb_id = arm.resource_id(group, "Microsoft.Network/loadBalancers", "lb")
    behind = scale_set("web", 1, dependsOn=[lb_id])

    deployment = arm.deploy(group, "port0", template([load_balancer("lb", 0), behind]))

    error = deployment["properties"]["error"]
    assert (deployment["properties"]["provisioningState"], error["code"]) == ("Failed", "DeploymentFailed")
    (detail,) = error["details"]
    assert (detail["code"], detail["target"]) == ("InvalidParameter", "properties.probes[0].properties.port")
    assert [op["properties"]["targetResource"]["resourceName"] for op in arm.operations(group, "port0")] == ["lb"]
    assert arm.contents(group) == [deployment["id"]]


def test_a_resource_whose_provisioning_fails_fails_the_deployment_with_the_operation_error(arm: Arm) -> None:
    group = arm.group()
    broken = scale_set("web", 2)
    broken["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]["sku"] = BROKEN_SKU
    after_it = public_ip("afterweb", dependsOn=[f"[resourceId('{SCALE_SETS}', 'web')]"])

    deployment = arm.deploy(group, "broken", template([broken, after_it]))

    props = deployment["properties"]
    assert (props["provisioningState"], props["error"]["code"]) == ("Failed", "DeploymentFailed")
    (detail,) = props["error"]["details"]
    web_id = arm.resource_id(group, SCALE_SETS, "web")
    assert detail["target"] == web_id
    assert detail["code"] == "VMOperationFailed" and "simulated failure" in detail["message"]
    (operation,) = arm.operations(group, "broken")
    assert operation["properties"]["provisioningState"] == "Failed"
    assert operation["properties"]["statusMessage"]["error"] == detail
    assert arm.get(web_id, api=API)["properties"]["provisioningState"] == "Failed"
