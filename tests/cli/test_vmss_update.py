"""`vmss update`: GET, apply --set/--remove, PUT the whole resource back."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.cli.arm_server import ArmServer, Recorded, Reply
from tests.cli.conftest import Run
from tests.cli.test_vmss_commands import VMSS, scale_set

STORED = scale_set(
    upgradePolicy={"mode": "Manual", "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": False}},
    virtualMachineProfile={
        "storageProfile": {
            "imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "16.04-LTS", "version": "latest"},
            "dataDisks": [{"lun": 0, "createOption": "Empty", "diskSizeGB": 8}],
        }
    },
)


def echo_put(server: ArmServer, stored: dict[str, Any]) -> None:
    """GET answers `stored`; PUT stores its body and answers it, as a server would."""
    state = {"resource": copy.deepcopy(stored)}

    def put(request: Recorded) -> Reply:
        state["resource"] = request.json()
        return Reply(200, state["resource"])

    server.on("GET", VMSS, handler=lambda request: Reply(200, state["resource"]))
    server.on("PUT", VMSS, handler=put)


def test_seed_casing_sets_the_existing_camel_case_property(server: ArmServer, run: Run) -> None:
    echo_put(server, STORED)

    result = run(
        "vmss", "update", "-g", "rg1", "-n", "web",
        "--set", "UpgradePolicy.AutomaticOSUpgradePolicy.EnableAutomaticOSUpgrade=true",
    )

    assert result.exit_code == 0, result.output
    assert [r.method for r in server.requests] == ["GET", "PUT"]  # a settled 200 needs no GET
    put = server.calls("PUT")[0]
    assert put.api_version == "2024-03-01"
    expected = copy.deepcopy(STORED)
    expected["properties"]["upgradePolicy"]["automaticOSUpgradePolicy"]["enableAutomaticOSUpgrade"] = True
    assert put.json() == expected
    assert json.loads(result.stdout) == expected


def test_several_sets_and_removes_in_one_call(server: ArmServer, run: Run) -> None:
    echo_put(server, STORED)

    result = run(
        "vmss", "update", "-g", "rg1", "-n", "web",
        "--set", "upgradePolicy.mode=Rolling", "sku.capacity=4",
        "--set", 'tags={"team": "web"}',
        "--set", "virtualMachineProfile.storageProfile.dataDisks[0].diskSizeGB=32",
        "--remove", "zones",
    )

    assert result.exit_code == 0, result.output
    body = server.calls("PUT")[0].json()
    assert body["properties"]["upgradePolicy"]["mode"] == "Rolling"
    assert body["sku"]["capacity"] == 4
    assert body["tags"] == {"team": "web"}
    assert body["properties"]["virtualMachineProfile"]["storageProfile"]["dataDisks"][0]["diskSizeGB"] == 32
    assert "zones" not in body


def test_remove_list_element_with_az_index_form(server: ArmServer, run: Run) -> None:
    echo_put(server, STORED)
    result = run(
        "vmss", "update", "-g", "rg1", "-n", "web",
        "--remove", "virtualMachineProfile.storageProfile.dataDisks", "0",
    )
    assert result.exit_code == 0, result.output
    body = server.calls("PUT")[0].json()
    assert body["properties"]["virtualMachineProfile"]["storageProfile"]["dataDisks"] == []


def test_enable_auto_os_upgrade_flag_creates_the_policy_with_wire_casing(server: ArmServer, run: Run) -> None:
    stored = scale_set()  # no automaticOSUpgradePolicy at all
    echo_put(server, stored)
    result = run("vmss", "update", "-g", "rg1", "-n", "web", "--enable-auto-os-upgrade", "true")
    assert result.exit_code == 0, result.output
    assert server.calls("PUT")[0].json()["properties"]["upgradePolicy"] == {
        "mode": "Manual",
        "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True},
    }


def test_a_path_that_does_not_fit_is_a_usage_error_and_nothing_is_put(server: ArmServer, run: Run) -> None:
    echo_put(server, STORED)
    result = run("vmss", "update", "-g", "rg1", "-n", "web", "--set", "sku.name.x=1")
    assert result.exit_code == 2
    assert "'sku.name.x'" in result.stderr
    assert server.calls("PUT") == []


def test_update_of_a_missing_scale_set_exits_3(server: ArmServer, run: Run) -> None:
    result = run("vmss", "update", "-g", "rg1", "-n", "web", "--set", "sku.capacity=1")
    assert result.exit_code == 3
    assert result.stderr.startswith("(ResourceNotFound)")
