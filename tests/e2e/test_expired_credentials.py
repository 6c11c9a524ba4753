"""A CustomScript extension whose SAS token expires, against a real blob store (Azurite).

The seed's scenario: instances provision fine while the SAS is valid; once it has expired, the OS
upgrade's first reimage runs the extension again, the download is refused, and the run stops there,
Faulted, saying which extension failed and why. The documented recovery is a model with a fresh SAS
URL and a manual upgrade of every instance.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.azurite import Azurite, azurite  # noqa: F401 - the fixture
from tests.conftest import API, Server, publish, serving
from tests.e2e.test_process_scale_set import private_ip, scale_set_body, vms, wait_operation
from tests.images import boot_image

V = {"api-version": API}
CAPACITY = 10
V1, V2 = "1.0.0", "1.0.1"
CONTAINER, BLOB = "scripts", "setup.sh"
SCRIPT = 'echo "configured $SCALESET_INSTANCE_ID" > "$SCALESET_DATA_DISK_0/configured"\necho configured\n'
# Long enough for ten instances to provision while it holds, even on a slow machine.
SAS_SECONDS = 15


@pytest.fixture
def upgrade_server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "data", extra=("--probe-interval", "0.2", "--health-wait", "6")) as server:
        yield server


def extension(file_uri: str) -> dict[str, Any]:
    return {"name": "setup", "properties": {
        "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
        "settings": {"fileUris": [file_uri]}, "protectedSettings": {"commandToExecute": f"sh {BLOB}"}}}


def model(probe_id: str, file_uri: str) -> dict[str, Any]:
    body = scale_set_body(capacity=CAPACITY, extensions=[extension(file_uri)], data_disks=1)
    body["properties"]["upgradePolicy"] = {"mode": "Rolling", "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}}
    body["properties"]["virtualMachineProfile"]["networkProfile"] = {"healthProbe": {"id": probe_id}}
    return body


def extension_status(vm: dict[str, Any]) -> dict[str, Any]:
    (ext,) = vm["properties"]["instanceView"]["extensions"]
    assert ext["name"] == "setup"
    return ext["statuses"][0]


def wait_for_end(client: httpx.Client, scale_set: str, *, timeout: float = 40) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"{scale_set}/rollingUpgrades/latest", params=V)
        if response.status_code == 200:
            run = response.json()["properties"]
            if run["runningStatus"]["code"] not in ("RollingForward", "RollingBack"):
                return run
        assert time.monotonic() < deadline, f"the run did not end in {timeout} s: {response.text}"
        time.sleep(0.2)


def test_an_expired_sas_faults_the_upgrade_at_the_first_batch_and_a_fresh_one_recovers_every_instance(
        azurite: Azurite, upgrade_server: Server, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    from azure.storage.blob import BlobServiceClient

    started = time.monotonic()
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(CONTAINER)
    service.get_blob_client(CONTAINER, BLOB).upload_blob(SCRIPT.encode())
    expiring = azurite.sas_url(CONTAINER, BLOB, expires_in=SAS_SECONDS)
    expires_at = time.monotonic() + SAS_SECONDS
    assert httpx.get(expiring).text == SCRIPT  # valid now

    server = upgrade_server
    sub = server.subscription
    with server.client() as client:
        assert client.put(f"/subscriptions/{sub}/resourcegroups/rg", params=V, json={"location": "westus"}).status_code == 201
        assert publish(client, sub, boot_image(tmp_path / "v1", version=V1), version=V1).status_code == 201
        lb_path = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb"
        lb = {"location": "westus", "properties": {"probes": [{"name": "http", "properties": {
            "protocol": "Http", "port": 8080, "requestPath": "/health", "intervalInSeconds": 5, "numberOfProbes": 2}}]}}
        assert client.put(lb_path, params=V, json=lb).status_code == 201
        probe_id = f"{lb_path}/probes/http"
        scale_set = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web"

        # While the SAS holds, every instance provisions, its extension included.
        status = wait_operation(client, client.put(scale_set, params=V, json=model(probe_id, expiring)))
        assert status["status"] == "Succeeded", status
        assert time.monotonic() < expires_at, "provisioning outlived the SAS: raise SAS_SECONDS"
        for vm in vms(client, scale_set):
            assert vm["properties"]["provisioningState"] == "Succeeded"
            assert extension_status(vm)["code"] == "ProvisioningState/succeeded"
        disks = sorted((server.data_dir / "machines").iterdir())
        assert len(disks) == CAPACITY
        for machine in disks:
            assert (machine / "data" / "0" / "configured").exists()

        # The SAS expires; the blob store now refuses it.
        time.sleep(max(0.0, expires_at - time.monotonic()) + 1.5)
        refused = httpx.get(expiring)
        assert refused.status_code == 403, refused.text

        # The platform starts an OS upgrade; its first batch re-runs the extension, which fails.
        assert publish(client, sub, boot_image(tmp_path / "v2", version=V2), version=V2).status_code == 201
        run = wait_for_end(client, scale_set)
        assert run["runningStatus"]["code"] == "Faulted", run
        error = run["error"]
        assert error["code"] == "RollingUpgradeInProgressWithFailedUpgradedVMs", error
        assert error["message"].startswith("2 instance(s) of the batch failed to upgrade. Instance 0: "), error
        assert "extension 'setup'" in error["message"] and "failed to download" in error["message"], error
        first_batch = sorted(int(d["target"]) for d in error["details"])
        assert first_batch == [0, 1], error
        for detail in error["details"]:
            assert "extension 'setup'" in detail["message"], detail
            assert f"failed to download {azurite.blob_endpoint}/{CONTAINER}/{BLOB}" in detail["message"], detail
            assert "HTTP 403" in detail["message"], detail
            assert "sig=" not in detail["message"]  # the SAS token is a secret: never shown
        # Only the first batch was touched, and it stayed failed: nothing else was upgraded.
        assert run["progress"] == {"successfulInstanceCount": 0, "failedInstanceCount": 2,
                                   "inProgressInstanceCount": 0, "pendingInstanceCount": CAPACITY - 2}, run

        history = client.get(f"{scale_set}/osUpgradeHistory", params=V).json()["value"]
        assert len(history) == 1, history
        entry = history[0]["properties"]
        assert entry["runningStatus"]["code"] == "Faulted"
        assert entry["startedBy"] == "Platform"
        assert entry["targetImageReference"]["exactVersion"] == V2
        assert entry["error"] == error
        assert entry["progress"] == run["progress"]
        # A platform run rolls the failed batch back; the rollback runs the extension too, with
        # the same expired SAS, so it cannot succeed either.
        assert entry["rollbackInfo"]["successfullyRolledbackInstanceCount"] == 0, entry["rollbackInfo"]
        assert entry["rollbackInfo"]["failedRolledbackInstanceCount"] == 2, entry["rollbackInfo"]
        assert entry["rollbackInfo"]["rollbackError"]["code"] == "RollbackFailed"

        for vm in vms(client, scale_set):
            exact = vm["properties"]["storageProfile"]["imageReference"]["exactVersion"]
            if int(vm["instanceId"]) in first_batch:
                assert vm["properties"]["provisioningState"] == "Failed", vm["instanceId"]
                ext = extension_status(vm)
                assert ext["code"] == "ProvisioningState/failed"
                assert "failed to download" in ext["message"] and "HTTP 403" in ext["message"], ext
            else:
                assert vm["properties"]["provisioningState"] == "Succeeded", vm["instanceId"]
                assert exact == V1, vm["instanceId"]

        # The documented recovery: a model with a fresh SAS URL, then a manual upgrade of all.
        fresh = azurite.sas_url(CONTAINER, BLOB, expires_in=300)
        status = wait_operation(client, client.put(scale_set, params=V, json=model(probe_id, fresh)))
        assert status["status"] == "Succeeded", status
        assert not any(vm["properties"]["latestModelApplied"] for vm in vms(client, scale_set))
        for machine in disks:
            (machine / "data" / "0" / "configured").unlink()
        every = [str(i) for i in range(CAPACITY)]
        status = wait_operation(client, client.post(f"{scale_set}/manualupgrade", params=V, json={"instanceIds": every}))
        assert status["status"] == "Succeeded", status

        found = vms(client, scale_set)
        assert sorted(vm["instanceId"] for vm in found) == every
        for vm in found:
            assert vm["properties"]["provisioningState"] == "Succeeded", vm["instanceId"]
            assert vm["properties"]["latestModelApplied"] is True, vm["instanceId"]
            assert extension_status(vm)["code"] == "ProvisioningState/succeeded", vm["instanceId"]
            assert "PowerState/running" in [s["code"] for s in vm["properties"]["instanceView"]["statuses"]]
            assert httpx.get(f"http://{private_ip(vm)}:8080/", timeout=5).status_code == 200
        for machine in disks:  # the script really ran again, on every instance
            assert (machine / "data" / "0" / "configured").read_text().startswith("configured ")
        assert client.get(scale_set, params=V).json()["properties"]["provisioningState"] == "Succeeded"
    assert time.monotonic() - started < 60
