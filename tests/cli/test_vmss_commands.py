"""`scaleset vmss ...` against a real local HTTP server: exact requests, outputs, exit codes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tests.cli.arm_server import ArmServer, Recorded, Reply
from tests.cli.conftest import SUB, Run

RG = f"/subscriptions/{SUB}/resourceGroups/rg1"
VMSS = f"{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/web"
OPERATION = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/operations/op1"


def scale_set(**properties: Any) -> dict[str, Any]:
    return {
        "id": VMSS,
        "name": "web",
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": "westeurope",
        "sku": {"name": "Standard_DS1_v2", "tier": "Standard", "capacity": 2},
        "zones": ["1"],
        "properties": {
            "provisioningState": "Succeeded",
            "upgradePolicy": {"mode": "Manual"},
            **properties,
        },
    }


def instance(instance_id: str, version: str, *, latest: bool = True) -> dict[str, Any]:
    return {
        "id": f"{VMSS}/virtualMachines/{instance_id}",
        "name": f"web_{instance_id}",
        "instanceId": instance_id,
        "zones": ["2"],
        "properties": {
            "provisioningState": "Succeeded",
            "latestModelApplied": latest,
            "storageProfile": {"imageReference": {"version": "latest", "exactVersion": version}},
        },
    }


def operation_route(server: ArmServer, *statuses: dict[str, Any]) -> str:
    """Routes the async-operation URL through `statuses`; returns its absolute URL."""
    server.on(
        "GET",
        OPERATION,
        *(Reply(200, status, headers={"x-ms-retry-after-ms": "5"}) for status in statuses),
    )
    return f"{server.url}{OPERATION}?api-version=2024-03-01"


# -- create ----------------------------------------------------------------------------------


def test_create_sends_the_full_body_polls_the_operation_then_prints_the_resource(
    server: ArmServer, run: Run, tmp_path: Path
) -> None:
    cloud_init = tmp_path / "cloud-init.yaml"
    cloud_init.write_bytes(b"#cloud-config\nruncmd: [echo hi]\n")
    status_url = operation_route(server, {"status": "InProgress"}, {"status": "Succeeded"})
    server.on("GET", f"/subscriptions/{SUB}/resourcegroups/rg1", Reply(200, {"name": "rg1", "location": "westeurope"}))
    server.on(
        "PUT",
        VMSS,
        Reply(
            201,
            scale_set(provisioningState="Creating"),
            headers={"Azure-AsyncOperation": status_url, "x-ms-retry-after-ms": "5"},
        ),
    )
    server.on("GET", VMSS, Reply(200, scale_set()))

    result = run(
        "vmss", "create", "-g", "rg1", "-n", "web",
        "--image", "Canonical:UbuntuServer:16.04-LTS:latest",
        "--instance-count", "3",
        "--upgrade-policy-mode", "rolling",
        "--custom-data", str(cloud_init),
        "--admin-username", "ops", "--admin-password", "Pa55w0rd!",
        "--health-probe", f"{RG}/providers/Microsoft.Network/loadBalancers/lb/probes/http",
        "--zones", "1", "2", "3",
        "--data-disk-sizes-gb", "8", "16",
        "--enable-auto-os-upgrade", "true",
    )

    assert result.exit_code == 0, result.output
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", f"/subscriptions/{SUB}/resourcegroups/rg1"),  # location from the group
        ("PUT", VMSS),
        ("GET", OPERATION),
        ("GET", OPERATION),
        ("GET", VMSS),
    ]
    put = server.calls("PUT")[0]
    assert put.api_version == "2024-03-01"
    assert server.requests[0].api_version == "2022-09-01"
    assert put.json() == {
        "location": "westeurope",
        "sku": {"name": "Standard_DS1_v2", "tier": "Standard", "capacity": 3},
        "zones": ["1", "2", "3"],
        "properties": {
            "upgradePolicy": {
                "mode": "Rolling",
                "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True},
            },
            "virtualMachineProfile": {
                "osProfile": {
                    "computerNamePrefix": "web",
                    "adminUsername": "ops",
                    "adminPassword": "Pa55w0rd!",
                    "customData": base64.b64encode(cloud_init.read_bytes()).decode(),
                },
                "storageProfile": {
                    "imageReference": {
                        "publisher": "Canonical",
                        "offer": "UbuntuServer",
                        "sku": "16.04-LTS",
                        "version": "latest",
                    },
                    "osDisk": {"createOption": "FromImage"},
                    "dataDisks": [
                        {"lun": 0, "createOption": "Empty", "diskSizeGB": 8},
                        {"lun": 1, "createOption": "Empty", "diskSizeGB": 16},
                    ],
                },
                "networkProfile": {
                    "healthProbe": {"id": f"{RG}/providers/Microsoft.Network/loadBalancers/lb/probes/http"},
                    "networkInterfaceConfigurations": [
                        {
                            "name": "webNic",
                            "properties": {
                                "primary": True,
                                "ipConfigurations": [{"name": "webIPConfig", "properties": {}}],
                            },
                        }
                    ],
                },
            },
        },
    }
    assert json.loads(result.stdout) == scale_set()


def test_create_with_location_skips_the_group_lookup_and_no_wait_skips_polling(
    server: ArmServer, run: Run
) -> None:
    server.on("PUT", VMSS, Reply(201, scale_set(), headers={"Azure-AsyncOperation": f"{server.url}{OPERATION}"}))
    result = run(
        "vmss", "create", "-g", "rg1", "-n", "web", "-l", "northeurope",
        "--image", "Canonical:UbuntuServer:16.04-LTS:16.04.201811140", "--no-wait",
    )
    assert result.exit_code == 0, result.output
    assert [r.method for r in server.requests] == ["PUT"]
    body = server.requests[0].json()
    assert body["location"] == "northeurope"
    assert body["sku"]["capacity"] == 2  # az's default instance count
    assert "zones" not in body
    assert result.stdout == ""


def test_create_rejects_an_image_that_is_not_a_urn(server: ArmServer, run: Run) -> None:
    result = run("vmss", "create", "-g", "rg1", "-n", "web", "-l", "x", "--image", "UbuntuLTS")
    assert result.exit_code == 2
    assert "PUBLISHER:OFFER:SKU:VERSION" in result.stderr
    assert server.requests == []


def test_create_reports_a_failed_operation_with_its_error(server: ArmServer, run: Run) -> None:
    status_url = operation_route(
        server,
        {"status": "Failed", "error": {"code": "ImageNotFound", "message": "No image Canonical:X:Y:latest."}},
    )
    server.on("PUT", VMSS, Reply(201, scale_set(), headers={"Azure-AsyncOperation": status_url}))
    result = run("vmss", "create", "-g", "rg1", "-n", "web", "-l", "x", "--image", "Canonical:X:Y:latest")
    assert result.exit_code == 1
    assert result.stderr.strip() == "(ImageNotFound) No image Canonical:X:Y:latest."
    assert server.calls("GET", VMSS) == []  # no final GET after a failure


def test_create_refused_by_the_server_prints_code_message_and_target(
    server: ArmServer, run: Run
) -> None:
    server.on(
        "PUT",
        VMSS,
        Reply(400, {"error": {"code": "InvalidParameter", "message": "Capacity too large.", "target": "sku.capacity"}}),
    )
    result = run("vmss", "create", "-g", "rg1", "-n", "web", "-l", "x", "--image", "a:b:c:d")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["(InvalidParameter) Capacity too large.", "Target: sku.capacity"]


# -- reading ---------------------------------------------------------------------------------


def test_show_missing_scale_set_exits_3(server: ArmServer, run: Run) -> None:
    server.on(
        "GET",
        VMSS,
        Reply(404, {"error": {"code": "ResourceNotFound", "message": "The Resource 'web' was not found."}}),
    )
    result = run("vmss", "show", "-g", "rg1", "-n", "web")
    assert result.exit_code == 3
    assert result.stderr.startswith("(ResourceNotFound) The Resource 'web' was not found.")


def test_show_as_table_and_tsv(server: ArmServer, run: Run) -> None:
    server.on("GET", VMSS, Reply(200, scale_set()))
    table = run("vmss", "show", "-g", "rg1", "-n", "web", "-o", "table").stdout.splitlines()
    tsv = run("vmss", "show", "-g", "rg1", "-n", "web", "--output", "tsv").stdout
    assert table[0].split() == [
        "Name", "ResourceGroup", "Location", "Zones", "Capacity", "UpgradePolicy", "ProvisioningState"
    ]
    assert table[2].split() == ["web", "rg1", "westeurope", "1", "2", "Manual", "Succeeded"]
    assert tsv == "web\trg1\twesteurope\t1\t2\tManual\tSucceeded\n"


def test_list_follows_next_links_across_pages(server: ArmServer, run: Run) -> None:
    collection = f"{RG}/providers/Microsoft.Compute/virtualMachineScaleSets"
    second_page = f"{server.url}{collection}?api-version=2024-03-01&$skiptoken=p2"

    def page(request: Recorded) -> Reply:
        if request.query.get("$skiptoken") == ["p2"]:
            return Reply(200, {"value": [dict(scale_set(), name="b")]})
        return Reply(200, {"value": [dict(scale_set(), name="a")], "nextLink": second_page})

    server.on("GET", collection, handler=page)
    result = run("vmss", "list", "-g", "rg1")

    assert result.exit_code == 0, result.output
    assert [item["name"] for item in json.loads(result.stdout)] == ["a", "b"]
    first, second = server.requests
    assert first.query == {"api-version": ["2024-03-01"]}
    assert second.query == {"api-version": ["2024-03-01"], "$skiptoken": ["p2"]}  # verbatim


def test_list_without_group_lists_the_subscription(server: ArmServer, run: Run) -> None:
    server.on("GET", f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachineScaleSets", Reply(200, {"value": []}))
    result = run("vmss", "list")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_list_instances_pages_and_shows_the_instance_columns(server: ArmServer, run: Run) -> None:
    next_link = f"{server.url}{VMSS}/virtualMachines?api-version=2024-03-01&page=2"

    def page(request: Recorded) -> Reply:
        if request.query.get("page") == ["2"]:
            return Reply(200, {"value": [instance("2", "16.04.201809120", latest=False)], "nextLink": None})
        return Reply(200, {"value": [instance("0", "16.04.201811140")], "nextLink": next_link})

    server.on("GET", f"{VMSS}/virtualMachines", handler=page)
    result = run("vmss", "list-instances", "-g", "rg1", "-n", "web", "-o", "table")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["InstanceId", "Name", "ProvisioningState", "LatestModelApplied", "Version", "Zone"]
    assert [line.split() for line in lines[2:]] == [
        ["0", "web_0", "Succeeded", "True", "16.04.201811140", "2"],
        ["2", "web_2", "Succeeded", "False", "16.04.201809120", "2"],
    ]


def test_get_instance_view_of_the_scale_set_and_of_one_instance(server: ArmServer, run: Run) -> None:
    summary = {"virtualMachine": {"statusesSummary": [{"code": "ProvisioningState/succeeded", "count": 3}]}}
    vm_view = {
        "statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info"},
            {"code": "PowerState/running", "level": "Info"},
        ],
        "vmHealth": {"status": {"code": "HealthState/healthy"}},
    }
    server.on("GET", f"{VMSS}/instanceView", Reply(200, summary))
    server.on("GET", f"{VMSS}/virtualMachines/3/instanceView", Reply(200, vm_view))

    whole = run("vmss", "get-instance-view", "-g", "rg1", "-n", "web")
    one = run("vmss", "get-instance-view", "-g", "rg1", "-n", "web", "--instance-id", "3", "-o", "tsv")

    assert json.loads(whole.stdout) == summary
    assert one.stdout == "succeeded\trunning\tHealthState/healthy\n"
    assert [r.api_version for r in server.requests] == ["2024-03-01", "2024-03-01"]


def test_get_instance_view_star_fetches_every_instance(server: ArmServer, run: Run) -> None:
    server.on("GET", f"{VMSS}/virtualMachines", Reply(200, {"value": [instance("0", "1"), instance("4", "1")]}))
    server.on(
        "GET",
        f"{VMSS}/virtualMachines/(\\d+)/instanceView",
        handler=lambda request: Reply(200, {"statuses": [{"code": f"PowerState/{'running' if '/0/' in request.path else 'stopped'}"}]}),
    )
    result = run("vmss", "get-instance-view", "-g", "rg1", "-n", "web", "--instance-id", "*", "-o", "tsv")
    assert result.exit_code == 0, result.output
    assert result.stdout == "0\t\trunning\t\n4\t\tstopped\t\n"


# -- actions ---------------------------------------------------------------------------------


def test_reimage_posts_instance_ids_and_waits_for_the_202_operation(server: ArmServer, run: Run) -> None:
    status_url = operation_route(server, {"status": "InProgress"}, {"status": "inprogress"}, {"status": "succeeded"})
    result_url = f"{server.url}{OPERATION}/result?monitor=true&api-version=2024-03-01"
    server.on("POST", f"{VMSS}/reimage", Reply(202, headers={"Azure-AsyncOperation": status_url, "Location": result_url}))
    server.on("GET", f"{OPERATION}/result", Reply(204))

    result = run("vmss", "reimage", "-g", "rg1", "-n", "web", "--instance-ids", "0", "2")

    assert result.exit_code == 0, result.output
    post = server.calls("POST")[0]
    assert post.json() == {"instanceIds": ["0", "2"]}
    assert post.api_version == "2024-03-01"
    assert len(server.calls("GET", "operations/op1")) == 4  # three status polls + the Location
    assert result.stdout == ""


def test_reimage_without_ids_sends_no_body(server: ArmServer, run: Run) -> None:
    server.on("POST", f"{VMSS}/reimage", Reply(200))
    result = run("vmss", "reimage", "-g", "rg1", "-n", "web")
    assert result.exit_code == 0, result.output
    assert server.requests[0].body == b""


def test_reimage_canceled_operation_exits_1(server: ArmServer, run: Run) -> None:
    status_url = operation_route(server, {"status": "Canceled", "name": "op1"})
    server.on("POST", f"{VMSS}/reimage", Reply(202, headers={"Azure-AsyncOperation": status_url}))
    result = run("vmss", "reimage", "-g", "rg1", "-n", "web")
    assert result.exit_code == 1
    assert result.stderr.startswith("(Canceled)")


def test_scale_patches_the_capacity_and_prints_the_result(server: ArmServer, run: Run) -> None:
    status_url = operation_route(server, {"status": "Succeeded"})
    server.on("PATCH", VMSS, Reply(200, scale_set(), headers={"Azure-AsyncOperation": status_url}))
    scaled = scale_set()
    scaled["sku"]["capacity"] = 5
    server.on("GET", VMSS, Reply(200, scaled))

    result = run("vmss", "scale", "-g", "rg1", "-n", "web", "--new-capacity", "5")

    assert result.exit_code == 0, result.output
    patch = server.calls("PATCH")[0]
    assert patch.json() == {"sku": {"capacity": 5}}
    assert patch.api_version == "2024-03-01"
    assert json.loads(result.stdout)["sku"]["capacity"] == 5


def test_put_without_lro_headers_polls_provisioning_state(server: ArmServer, run: Run) -> None:
    server.on("PATCH", VMSS, Reply(200, scale_set(provisioningState="Updating"), headers={"x-ms-retry-after-ms": "5"}))
    server.on("GET", VMSS, Reply(200, scale_set(provisioningState="Updating")), Reply(200, scale_set()))
    result = run("vmss", "scale", "-g", "rg1", "-n", "web", "--new-capacity", "2")
    assert result.exit_code == 0, result.output
    assert len(server.calls("GET")) == 2
    assert json.loads(result.stdout)["properties"]["provisioningState"] == "Succeeded"


def test_delete_waits_and_passes_force_deletion(server: ArmServer, run: Run) -> None:
    status_url = operation_route(server, {"status": "InProgress"}, {"status": "Succeeded"})
    server.on("DELETE", VMSS, Reply(202, headers={"Azure-AsyncOperation": status_url}))
    result = run("vmss", "delete", "-g", "rg1", "-n", "web", "--force-deletion")
    assert result.exit_code == 0, result.output
    delete = server.calls("DELETE")[0]
    assert delete.query == {"api-version": ["2024-03-01"], "forceDeletion": ["true"]}
    assert len(server.calls("GET")) == 2
    assert result.stdout == ""


def test_operation_status_without_status_is_reported(server: ArmServer, run: Run) -> None:
    status_url = operation_route(server, {"state": "done"})
    server.on("DELETE", VMSS, Reply(202, headers={"Azure-AsyncOperation": status_url}))
    result = run("vmss", "delete", "-g", "rg1", "-n", "web")
    assert result.exit_code == 1
    assert "has no 'status'" in result.stderr
