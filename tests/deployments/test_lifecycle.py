"""A deployment's life through the API: validate, cancel, delete, show, and deploying it again."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import API
from tests.deployments.conftest import (
    DEPLOYMENTS_API, FAST_SKU, LOCATION, SCALE_SETS, SIM_OFFER, SIM_PUBLISHER, SLOW_SKU, Arm, template, values)


def web_template(image_sku: str = FAST_SKU) -> dict[str, Any]:
    """A public IP and a scale set whose size and tag are parameters."""
    image = {"publisher": SIM_PUBLISHER, "offer": SIM_OFFER, "sku": image_sku, "version": "latest"}
    ip = {"type": "Microsoft.Network/publicIPAddresses", "apiVersion": "2023-09-01", "name": "webip",
          "location": LOCATION, "tags": {"release": "[parameters('release')]"}}
    web = {"type": SCALE_SETS, "apiVersion": "2023-09-01", "name": "web", "location": LOCATION,
           "tags": {"release": "[parameters('release')]"},
           "sku": {"name": "Standard_DS1_v2", "capacity": "[parameters('count')]"},
           "properties": {"upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": {
               "storageProfile": {"imageReference": image},
               "osProfile": {"computerNamePrefix": "web", "adminUsername": "azureuser"}}}}
    return template([ip, web], parameters={"count": {"type": "int"}, "release": {"type": "string"}})


def test_validate_answers_the_resources_and_deploys_nothing(arm: Arm) -> None:
    group = arm.group()
    response = arm.validate(group, "web", web_template(), values(count=1, release="one"))
    assert response.status_code == 200, response.text
    props = response.json()["properties"]
    assert sorted(r["id"] for r in props["validatedResources"]) == sorted([
        arm.resource_id(group, "Microsoft.Network/publicIPAddresses", "webip"), arm.resource_id(group, SCALE_SETS, "web")])
    assert props["parameters"]["count"] == {"type": "Int", "value": 1}
    assert arm.contents(group) == []

    refused = arm.validate(group, "web", web_template(), values(count="many", release="one"))
    assert refused.status_code == 400 and refused.json()["error"]["target"] == "properties.parameters.count"


def test_a_finished_deployment_is_listed_cannot_be_canceled_and_deleting_it_leaves_its_resources(arm: Arm) -> None:
    group = arm.group()
    deployment = arm.deploy(group, "web", web_template(), values(count=1, release="one"))
    assert deployment["properties"]["provisioningState"] == "Succeeded", deployment["properties"].get("error")
    path = arm.deployment_path(group, "web")

    assert [d["name"] for d in arm.get(path.rsplit("/", 1)[0])["value"]] == ["web"]
    assert arm.http.head(path, params={"api-version": DEPLOYMENTS_API}).status_code == 204
    operation = arm.operations(group, "web")[0]
    assert arm.get(operation["id"]) == operation
    legacy = f"{arm.group_path(group)}/deployments/web"  # az deployment operation uses the older path
    assert arm.get(legacy) == arm.get(path)

    cancel = arm.http.post(f"{path}/cancel", params={"api-version": DEPLOYMENTS_API})
    assert cancel.status_code == 409, cancel.text
    assert cancel.json()["error"]["code"] == "DeploymentCannotBeCancelled"
    assert arm.get(path)["properties"]["provisioningState"] == "Succeeded"

    assert arm.http.delete(path, params={"api-version": DEPLOYMENTS_API}).status_code == 200
    gone = arm.http.get(path, params={"api-version": DEPLOYMENTS_API})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "DeploymentNotFound"
    assert arm.http.head(path, params={"api-version": DEPLOYMENTS_API}).status_code == 404
    assert sorted(arm.contents(group)) == sorted(r["id"] for r in deployment["properties"]["outputResources"])
    assert arm.get(arm.resource_id(group, SCALE_SETS, "web"), api=API)["properties"]["provisioningState"] == "Succeeded"


def test_a_running_deployment_is_kept_until_canceled_and_canceling_ends_what_it_was_deploying(arm: Arm) -> None:
    group = arm.group()
    response = arm.put_deployment(group, "slow", web_template(SLOW_SKU), values(count=1, release="one"))
    assert response.status_code == 201, response.text
    deadline = time.monotonic() + 10
    while [op["properties"]["provisioningState"] for op in arm.operations(group, "slow")] != ["Succeeded", "Running"]:
        assert time.monotonic() < deadline, arm.operations(group, "slow")
        time.sleep(0.02)

    path = arm.deployment_path(group, "slow")
    busy = [arm.http.delete(path, params={"api-version": DEPLOYMENTS_API}),
            arm.put_deployment(group, "slow", web_template(SLOW_SKU), values(count=1, release="two"))]
    assert [(r.status_code, r.json()["error"]["code"]) for r in busy] == [(409, "DeploymentActive")] * 2

    cancel = arm.http.post(f"{path}/cancel", params={"api-version": DEPLOYMENTS_API})
    assert cancel.status_code == 204, cancel.text
    assert arm.wait(response)["status"] == "Canceled"
    props = arm.get(path)["properties"]
    assert (props["provisioningState"], props["error"]["code"]) == ("Canceled", "DeploymentCanceled")
    assert [op["properties"]["provisioningState"] for op in arm.operations(group, "slow")] == ["Succeeded", "Canceled"]


def test_an_unknown_deployment_is_404_deployment_not_found(arm: Arm) -> None:
    group = arm.group()
    for suffix in ("", "/operations"):
        response = arm.http.get(arm.deployment_path(group, "never") + suffix, params={"api-version": DEPLOYMENTS_API})
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "DeploymentNotFound"
    nowhere = arm.put_deployment("no-such-group", "web", web_template(), values(count=1, release="one"))
    assert (nowhere.status_code, nowhere.json()["error"]["code"]) == (404, "ResourceGroupNotFound")


def test_deploying_again_with_a_changed_parameter_updates_the_resources_in_place(arm: Arm) -> None:
    group = arm.group()
    first = arm.deploy(group, "web", web_template(), values(count=1, release="one"))
    assert first["properties"]["provisioningState"] == "Succeeded", first["properties"].get("error")
    web = arm.resource_id(group, SCALE_SETS, "web")
    before = arm.get(web, api=API)

    response = arm.put_deployment(group, "web", web_template(), values(count=3, release="two"))
    assert response.status_code == 200, response.text  # the same deployment, run again
    assert arm.wait(response)["status"] == "Succeeded"

    again = arm.get(arm.deployment_path(group, "web"))
    assert again["properties"]["parameters"]["count"] == {"type": "Int", "value": 3}
    after = arm.get(web, api=API)
    assert after["properties"]["uniqueId"] == before["properties"]["uniqueId"]  # updated, not made anew
    assert (after["sku"]["capacity"], after["tags"]) == (3, {"release": "two"})
    assert len(arm.get(f"{web}/virtualMachines", api=API)["value"]) == 3
    ip = arm.get(arm.resource_id(group, "Microsoft.Network/publicIPAddresses", "webip"), api=API)
    assert ip["tags"] == {"release": "two"}
    assert {op["properties"]["statusCode"] for op in arm.operations(group, "web")} == {"OK"}
    assert sorted(arm.contents(group)) == sorted([again["id"], ip["id"], web])
