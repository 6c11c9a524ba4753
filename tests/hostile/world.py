"""A small world on a sim-driver server for hostile input to land in: a published image, a resource
group with a load balancer and a scale set of two instances behind its probe, a deployment and a
principal. Hostile tests aim at these names, so requests reach past "not found" into real handlers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import API, Server, publish
from tests.images import sim_image

GROUP, SCALE_SET, LOAD_BALANCER, DEPLOYMENT = "rg", "web", "lb", "empty"
SCRATCH = "scratch"
LOCATION = "westus"
IMAGE = {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "1.0.0"}
PASSWORD = "Pw-hostile-7f3c2a9e51!"
PROTECTED = "protected-hostile-0b8d4e6a"


@dataclass
class World:
    server: Server
    tenant: str
    app_id: str

    @property
    def sub(self) -> str:
        return self.server.subscription

    @property
    def group(self) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{GROUP}"

    @property
    def scale_set(self) -> str:
        return f"{self.group}/providers/Microsoft.Compute/virtualMachineScaleSets/{SCALE_SET}"


def scale_set_body(sub: str, *, capacity: int = 2, group: str = GROUP) -> dict[str, Any]:
    probe = (f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Network/loadBalancers/"
             f"{LOAD_BALANCER}/probes/http")
    return {
        "location": LOCATION,
        "sku": {"name": "Standard_D1_v2", "tier": "Standard", "capacity": capacity},
        "properties": {
            "overprovision": False,
            "upgradePolicy": {"mode": "Manual"},
            "virtualMachineProfile": {
                "storageProfile": {"imageReference": {**IMAGE, "version": "latest"}},
                "osProfile": {"computerNamePrefix": "web", "adminUsername": "azureuser", "adminPassword": PASSWORD},
                "networkProfile": {"healthProbe": {"id": probe}},
                "extensionProfile": {"extensions": [{"name": "setup", "properties": {
                    "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
                    "settings": {"skipDos2Unix": True}, "protectedSettings": {"commandToExecute": PROTECTED}}}]},
            },
        },
    }


def build(server: Server, folder: Path) -> World:
    """The world in GROUP, and the same again in SCRATCH, for calls that destroy what they name."""
    params = {"api-version": API}
    with server.client() as client:
        created = publish(client, server.subscription, sim_image(folder / "sim.json"), version=IMAGE["version"])
        assert created.status_code == 201, created.text
        world = World(server, tenant="", app_id="")
        for group in (GROUP, SCRATCH):
            _group(client, server.subscription, group)
        principal = client.post("/providers/Scaleset.Identity/principals", params=params,
                                json={"subscriptions": [server.subscription]})
        _ok(principal)
        world.tenant, world.app_id = principal.json()["tenant"], principal.json()["appId"]
        wait_until_settled(client, world)
    return world


def _group(client: httpx.Client, sub: str, name: str) -> None:
    params = {"api-version": API}
    group = f"/subscriptions/{sub}/resourceGroups/{name}"
    _ok(client.put(group, params=params, json={"location": LOCATION}))
    _ok(client.put(f"{group}/providers/Microsoft.Network/loadBalancers/{LOAD_BALANCER}", params=params, json={
        "location": LOCATION, "properties": {"probes": [
            {"name": "http", "properties": {"protocol": "Http", "port": 8080, "requestPath": "/"}}]}}))
    _ok(client.put(f"{group}/providers/Microsoft.Compute/virtualMachineScaleSets/{SCALE_SET}", params=params,
                   json=scale_set_body(sub, group=name)))
    _ok(client.put(f"{group}/providers/Microsoft.Resources/deployments/{DEPLOYMENT}", params=params, json={
        "properties": {"mode": "Incremental", "template": {
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0", "resources": []}}}))
def _ok(response: httpx.Response) -> None:
    assert response.status_code in (200, 201), f"{response.request.method} {response.request.url}: {response.text}"


def wait_until_settled(client: httpx.Client, world: World, *, timeout: float = 30) -> None:
    """Until no operation of the scale set is in progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = client.get(world.scale_set, params={"api-version": API})
        if got.status_code == 404 or got.json()["properties"]["provisioningState"] in ("Succeeded", "Failed"):
            return
        time.sleep(0.05)
    raise AssertionError(f"the scale set did not settle: {got.text}")
