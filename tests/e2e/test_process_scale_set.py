"""A scale set on the process driver, end to end through the ARM API: real processes, real HTTP."""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API, Server, publish, remove_machines, start_server, stop_server

V = {"api-version": API}


def wait_operation(client: httpx.Client, response: httpx.Response, *, timeout: float = 60) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), response.text
    url = response.headers["Azure-AsyncOperation"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(url).json()
        if status["status"] != "InProgress":
            return status
        time.sleep(0.1)
    raise AssertionError(f"operation {url} still running after {timeout} s")


def scale_set_body(*, capacity: int, custom_data: str | None = None, extensions: list[dict[str, Any]] | None = None,
                   data_disks: int = 0) -> dict[str, Any]:
    os_profile: dict[str, Any] = {"computerNamePrefix": "web", "adminUsername": "azureuser"}
    if custom_data is not None:
        os_profile["customData"] = base64.b64encode(custom_data.encode()).decode()
    profile: dict[str, Any] = {
        "osProfile": os_profile,
        "storageProfile": {
            "imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"},
            "osDisk": {"createOption": "FromImage"},
            "dataDisks": [{"lun": lun, "createOption": "Empty", "diskSizeGB": 1} for lun in range(data_disks)],
        },
    }
    if extensions:
        profile["extensionProfile"] = {"extensions": extensions}
    return {"location": "westus", "sku": {"name": "Standard_DS1_v2", "capacity": capacity},
            "properties": {"upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": profile}}


def setup_group(client: httpx.Client, server: Server, artifact: Path) -> str:
    assert client.put(f"/subscriptions/{server.subscription}/resourcegroups/rg", params=V, json={"location": "westus"}).status_code in (200, 201)
    assert publish(client, server.subscription, artifact, version="1.0.0").status_code == 201
    return f"/subscriptions/{server.subscription}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets"


def vms(client: httpx.Client, scale_set: str) -> list[dict[str, Any]]:
    return client.get(f"{scale_set}/virtualMachines", params={**V, "$expand": "instanceView"}).json()["value"]


def private_ip(vm: dict[str, Any]) -> str:
    nic = vm["properties"]["networkProfile"]["networkInterfaces"][0]
    return nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]


def get_app(ip: str, *, timeout: float = 15) -> httpx.Response:
    """GET the instance's app, waiting for it to bind: a running machine may still be starting its app."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(f"http://{ip}:8080/", timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def codes(vm: dict[str, Any]) -> list[str]:
    return [s["code"] for s in vm["properties"]["instanceView"]["statuses"]]


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving a folder, for CustomScript fileUris."""
    root = tmp_path / "files"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def test_each_instance_serves_http_on_its_own_private_ip(server: Server, image_artifact: Path) -> None:
    with server.client() as client:
        base = setup_group(client, server, image_artifact)
        wait_operation(client, client.put(f"{base}/web", params=V, json=scale_set_body(capacity=3)))
        found = vms(client, f"{base}/web")
        assert len(found) == 3
        addresses = {private_ip(vm) for vm in found}
        assert len(addresses) == 3
        for vm in found:
            assert "PowerState/running" in codes(vm)
            answer = get_app(private_ip(vm)).json()
            assert answer == {"version": "1.0.0", "instance": vm["instanceId"]}


def test_data_disk_survives_reimage_while_custom_data_and_custom_script_run_again(
        server: Server, image_artifact: Path, file_server: tuple[str, Path]) -> None:
    url, files = file_server
    (files / "hello.sh").write_text('echo "script $SCALESET_INSTANCE_ID" >> "$SCALESET_DATA_DISK_0/runs.log"\n')
    custom_data = '#!/bin/sh\necho "custom-data $SCALESET_IMAGE" >> "$SCALESET_DATA_DISK_0/runs.log"\n'
    extension = {"name": "hello", "properties": {
        "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
        "settings": {"fileUris": [f"{url}/hello.sh"]}, "protectedSettings": {"commandToExecute": "sh hello.sh"}}}
    with server.client() as client:
        base = setup_group(client, server, image_artifact)
        body = scale_set_body(capacity=1, custom_data=custom_data, extensions=[extension], data_disks=1)
        assert wait_operation(client, client.put(f"{base}/disks", params=V, json=body))["status"] == "Succeeded"
        disk = next((server.data_dir / "machines").iterdir()) / "data" / "0"
        (disk / "precious.txt").write_text("keep me")
        assert (disk / "runs.log").read_text().splitlines() == ["custom-data Canonical:UbuntuServer:18.04-LTS:1.0.0", "script 0"]

        status = wait_operation(client, client.post(f"{base}/disks/virtualMachines/0/reimage", params=V))
        assert status["status"] == "Succeeded"
        assert (disk / "precious.txt").read_text() == "keep me"
        assert (disk / "runs.log").read_text().splitlines() == [
            "custom-data Canonical:UbuntuServer:18.04-LTS:1.0.0", "script 0",
            "custom-data Canonical:UbuntuServer:18.04-LTS:1.0.0", "script 0"]
        extensions = vms(client, f"{base}/disks")[0]["properties"]["instanceView"]["extensions"]
        assert [(e["name"], e["statuses"][0]["code"]) for e in extensions] == [("hello", "ProvisioningState/succeeded")]


def test_failing_extension_shows_failed_with_its_output(server: Server, image_artifact: Path) -> None:
    extension = {"name": "broken", "properties": {
        "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
        "settings": {"commandToExecute": "echo could not configure the app >&2; exit 3"}}}
    with server.client() as client:
        base = setup_group(client, server, image_artifact)
        status = wait_operation(client, client.put(f"{base}/bad", params=V, json=scale_set_body(capacity=1, extensions=[extension])))
        assert status["status"] == "Failed"
        assert "broken" in status["error"]["message"]
        vm = vms(client, f"{base}/bad")[0]
        extension_status = vm["properties"]["instanceView"]["extensions"][0]["statuses"][0]
        assert extension_status["code"] == "ProvisioningState/failed"
        assert extension_status["level"] == "Error"
        assert "could not configure the app" in extension_status["message"]
        assert vm["properties"]["provisioningState"] == "Failed"
        assert "PowerState/running" in codes(vm)  # the machine runs; only its provisioning failed
        assert client.get(f"{base}/bad", params=V).json()["properties"]["provisioningState"] == "Failed"


def test_power_state_follows_stop_start_and_deallocate(server: Server, image_artifact: Path) -> None:
    with server.client() as client:
        base = setup_group(client, server, image_artifact)
        wait_operation(client, client.put(f"{base}/power", params=V, json=scale_set_body(capacity=1)))
        ip = private_ip(vms(client, f"{base}/power")[0])
        assert get_app(ip).status_code == 200
        wait_operation(client, client.post(f"{base}/power/poweroff", params=V))
        assert "PowerState/stopped" in codes(vms(client, f"{base}/power")[0])
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://{ip}:8080/", timeout=2)
        wait_operation(client, client.post(f"{base}/power/start", params=V))
        assert "PowerState/running" in codes(vms(client, f"{base}/power")[0])
        assert get_app(ip).status_code == 200
        wait_operation(client, client.post(f"{base}/power/deallocate", params=V))
        assert "PowerState/deallocated" in codes(vms(client, f"{base}/power")[0])


def test_scaling_in_removes_the_highest_instances_and_their_disks(server: Server, image_artifact: Path) -> None:
    with server.client() as client:
        base = setup_group(client, server, image_artifact)
        wait_operation(client, client.put(f"{base}/scale", params=V, json=scale_set_body(capacity=3, data_disks=1)))
        wait_operation(client, client.patch(f"{base}/scale", params=V, json={"sku": {"capacity": 1}}))
        assert [vm["instanceId"] for vm in vms(client, f"{base}/scale")] == ["0"]
        assert len(list((server.data_dir / "machines").iterdir())) == 1
        wait_operation(client, client.patch(f"{base}/scale", params=V, json={"sku": {"capacity": 2}}))
        assert [vm["instanceId"] for vm in vms(client, f"{base}/scale")] == ["0", "3"]


def test_instances_outlive_the_server_and_a_restarted_server_adopts_them(tmp_path: Path, image_artifact: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir)
    try:
        with first.client() as client:
            base = setup_group(client, first, image_artifact)
            wait_operation(client, client.put(f"{base}/keep", params=V, json=scale_set_body(capacity=2)))
            addresses = [private_ip(vm) for vm in vms(client, f"{base}/keep")]
        stop_server(first, kill=True)
        for ip in addresses:  # the server is gone; the instances are not
            assert get_app(ip).status_code == 200
        second = start_server(data_dir)
        try:
            with second.client() as client:
                assert all("PowerState/running" in codes(vm) for vm in vms(client, f"{base}/keep"))
                status = wait_operation(client, client.delete(f"{base}/keep", params=V))
                assert status["status"] == "Succeeded"
                assert client.get(f"{base}/keep", params=V).status_code == 404
            for ip in addresses:
                with pytest.raises(httpx.TransportError):
                    httpx.get(f"http://{ip}:8080/", timeout=2)
        finally:
            stop_server(second)
    finally:
        stop_server(first)
        remove_machines(data_dir)
