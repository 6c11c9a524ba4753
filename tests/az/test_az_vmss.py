"""The az commands an operator runs on scale sets, unchanged, against scaleset: each does what it
says, and a full automatic OS upgrade is observed through `az vmss get-os-upgrade-history`."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from tests.az.conftest import Az, dig, requires_az, unique, wait_for
from tests.conftest import Server, publish
from tests.images import boot_image

pytestmark = requires_az
IMAGE = "Canonical:UbuntuServer:18.04-LTS"
PASSWORD = "Sc4leset!Passw0rd"
NETWORK_API = "2023-09-01"
_builds = itertools.count(1)


def publish_next(server: Server, tmp_path: Path) -> str:
    """Publish a version newer than any before (every test and az version shares one catalogue)."""
    version = f"1.1.{next(_builds)}"
    with server.client() as admin:
        answer = publish(admin, server.subscription, boot_image(tmp_path / f"app-{version}", version=version), version=version)
    assert answer.status_code in (200, 201), answer.text
    return version


def create_scale_set(az: Az, group: str, name: str, *, count: int = 2, mode: str = "Automatic") -> dict:
    az("group", "create", "-n", group, "-l", "westus")
    created = az("vmss", "create", "-g", group, "-n", name, "--image", f"{IMAGE}:latest", "--instance-count", str(count),
                 "--upgrade-policy-mode", mode, "--admin-username", "azureuser", "--admin-password", PASSWORD)
    return created["vmss"]


def test_vmss_create_deploys_a_template_with_network_and_the_instances_run(az: Az, az_server: Server) -> None:
    group, name = unique("rg"), unique("ss")
    vmss = create_scale_set(az, group, name)
    assert vmss["provisioningState"] == "Succeeded"
    assert vmss["upgradePolicy"]["mode"] == "Automatic"
    # az deployed it through Microsoft.Resources/deployments, with a virtual network, public IP and load balancer
    deployments = az("deployment", "group", "list", "-g", group)
    assert [d["properties"]["provisioningState"] for d in deployments] == ["Succeeded"]
    with az_server.client() as admin:
        for kind in ("virtualNetworks", "publicIPAddresses", "loadBalancers"):
            listed = admin.get(f"/subscriptions/{az_server.subscription}/resourceGroups/{group}/providers/Microsoft.Network/{kind}",
                               params={"api-version": NETWORK_API}).json()["value"]
            assert len(listed) == 1, kind
    shown = az("vmss", "show", "-g", group, "-n", name)
    assert shown["sku"]["capacity"] == 2 and shown["virtualMachineProfile"]["storageProfile"]["imageReference"]["version"] == "latest"
    assert shown["virtualMachineProfile"]["osProfile"].get("adminPassword") is None
    assert PASSWORD not in json.dumps(shown) and PASSWORD not in json.dumps(deployments)
    instances = az("vmss", "list-instances", "-g", group, "-n", name)
    assert sorted(i["instanceId"] for i in instances) == ["0", "1"]
    assert {i["provisioningState"] for i in instances} == {"Succeeded"}


def test_vmss_reimage_and_delete(az: Az) -> None:
    group, name = unique("rg"), unique("ss")
    create_scale_set(az, group, name, mode="Manual")
    az("vmss", "reimage", "-g", group, "-n", name, "--instance-ids", "0")
    view = az("vmss", "get-instance-view", "-g", group, "-n", name, "--instance-id", "0")
    assert any(s["code"] == "PowerState/running" for s in view["statuses"])
    az("vmss", "delete", "-g", group, "-n", name)
    gone = az.fails("vmss", "show", "-g", group, "-n", name)
    assert gone.returncode == 3 and "ResourceNotFound" in gone.stderr


def test_update_set_turns_on_automatic_upgrades_and_history_shows_the_run(az: Az, az_server: Server, tmp_path: Path) -> None:
    group, name = unique("rg"), unique("ss")
    create_scale_set(az, group, name)
    if az.case_insensitive_set:  # the seed's own spelling
        updated = az("vmss", "update", "-g", group, "-n", name,
                     "--set", "UpgradePolicy.AutomaticOSUpgradePolicy.EnableAutomaticOSUpgrade=true")
    else:
        updated = az("vmss", "update", "-g", group, "-n", name, "--enable-auto-os-upgrade", "true")
    assert dig(updated, "upgradePolicy", "automaticOSUpgradePolicy", "enableAutomaticOSUpgrade") is True
    if not az.case_insensitive_set:  # and the camelCase --set form works on the latest az
        again = az("vmss", "update", "-g", group, "-n", name,
                   "--set", "upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade=true")
        assert dig(again, "upgradePolicy", "automaticOSUpgradePolicy", "enableAutomaticOSUpgrade") is True

    version = publish_next(az_server, tmp_path)

    def finished() -> list:
        history = az("vmss", "get-os-upgrade-history", "-g", group, "-n", name)
        return [h for h in history if h["properties"]["targetImageReference"]["exactVersion"] == version
                and h["properties"]["runningStatus"]["code"] == "Completed"]
    entry = wait_for(finished, timeout=180, what=f"an automatic upgrade to {version}", every=2)[0]["properties"]
    assert entry["startedBy"] == "Platform"
    assert entry["progress"]["successfulInstanceCount"] == 2 and entry["progress"]["failedInstanceCount"] == 0
    for instance in az("vmss", "list-instances", "-g", group, "-n", name):  # every instance runs it
        assert instance["storageProfile"]["imageReference"]["exactVersion"] == version


def test_rolling_upgrade_start_get_latest_and_cancel(az: Az, az_server: Server, tmp_path: Path) -> None:
    group, name = unique("rg"), unique("ss")
    create_scale_set(az, group, name, count=3, mode="Manual")
    publish_next(az_server, tmp_path)
    az("vmss", "rolling-upgrade", "start", "-g", group, "-n", name)
    latest = az("vmss", "rolling-upgrade", "get-latest", "-g", group, "-n", name)
    assert latest["runningStatus"]["code"] == "Completed"
    assert latest["progress"]["successfulInstanceCount"] == 3

    # a slow one, to cancel while it runs: half a minute between batches of one instance
    # (the JSON-object form: newer az cannot --set below a key the scale set does not have yet)
    az("vmss", "update", "-g", group, "-n", name, "--set", 'upgradePolicy.rollingUpgradePolicy={"pauseTimeBetweenBatches": "PT30S"}',
       "upgradePolicy.automaticOSUpgradePolicy.useRollingUpgradePolicy=true")
    publish_next(az_server, tmp_path)
    az("vmss", "rolling-upgrade", "start", "-g", group, "-n", name, "--no-wait")
    wait_for(lambda: az("vmss", "rolling-upgrade", "get-latest", "-g", group, "-n", name)["runningStatus"]["code"]
             == "RollingForward", timeout=60, what="the second run to start")
    az("vmss", "rolling-upgrade", "cancel", "-g", group, "-n", name)
    latest = wait_for(lambda: (lambda l: l if l["runningStatus"]["code"] != "RollingForward" else None)(
        az("vmss", "rolling-upgrade", "get-latest", "-g", group, "-n", name)), timeout=60, what="the cancel")
    assert latest["runningStatus"]["code"] == "Cancelled"
    assert latest["runningStatus"]["lastAction"] == "Cancel"


def test_vm_image_list_and_show(az: Az) -> None:
    listed = az("vm", "image", "list", "--location", "westus", "--publisher", "Canonical", "--offer", "UbuntuServer",
                "--sku", "18.04", "--all")
    assert any(i["urn"] == f"{IMAGE}:1.0.0" for i in listed)
    shown = az("vm", "image", "show", "--urn", f"{IMAGE}:1.0.0")
    assert shown["name"] == "1.0.0" and shown["osDiskImage"]["operatingSystem"] == "Linux"
