"""Fixtures of the compatibility suite: servers driven by the official SDK, unchanged.

- `proc`: one `scaleset serve` on the process driver (real processes) for the whole package, with
  the app image Canonical/UbuntuServer/18.04-LTS 1.0.0 published. Tests make their own resource
  groups and scale sets with unique names, so they do not depend on one another.
- `sim`: one server on the simulator driver with `--page-size 2`, for paging and for states that
  must last (a slow image keeps a create in flight).

Resource groups and load balancers have no method in azure-mgmt-compute: they are made with
httpx, as a user would with azure-mgmt-resource / azure-mgmt-network.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as m

from tests.conftest import Server, publish, remove_machines, start_server, stop_server
from tests.images import boot_image, sim_image
from tests.sdk import compute_client

API = "2024-03-01"  # api-version of the raw httpx calls
GROUP_API = "2021-04-01"  # what azure-mgmt-resource sends for resource groups
NETWORK_API = "2023-09-01"  # what azure-mgmt-network sends
SDK_API = "2026-04-01"  # azure-mgmt-compute 39's default
LOCATION = "westus"
PUBLISHER, OFFER, SKU = "Canonical", "UbuntuServer", "18.04-LTS"
APP_VERSION = "1.0.0"
COMPUTE = "Microsoft.Compute/virtualMachineScaleSets"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Env:
    """A running server, the SDK client on it, and a raw httpx client for what the SDK hides."""

    server: Server
    compute: ComputeManagementClient
    http: httpx.Client
    tmp: Path

    @property
    def sub(self) -> str:
        return self.server.subscription

    def group_path(self, group: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{group}"

    def vmss_path(self, group: str, name: str) -> str:
        return f"{self.group_path(group)}/providers/{COMPUTE}/{name}"

    def vmss_id(self, group: str, name: str) -> str:
        return self.vmss_path(group, name)

    def group(self, prefix: str = "rg") -> str:
        """A new resource group (PUT through httpx, as azure-mgmt-resource would)."""
        name = unique(prefix)
        response = self.http.put(self.group_path(name), params={"api-version": GROUP_API}, json={"location": LOCATION})
        assert response.status_code == 201, response.text
        return name

    def load_balancer(self, group: str, name: str, probe: str = "http") -> str:
        """A load balancer with one HTTP probe; returns the probe's id."""
        body = {"location": LOCATION, "properties": {"probes": [
            {"name": probe, "properties": {"protocol": "Http", "port": 8080, "requestPath": "/", "intervalInSeconds": 5}}]}}
        path = f"{self.group_path(group)}/providers/Microsoft.Network/loadBalancers/{name}"
        response = self.http.put(path, params={"api-version": NETWORK_API}, json=body)
        assert response.status_code in (200, 201), response.text
        return f"/subscriptions/{self.sub}/resourceGroups/{group}/providers/Microsoft.Network/loadBalancers/{name}/probes/{probe}"

    def get_raw(self, path: str, *, api: str = API, **params: str) -> httpx.Response:
        return self.http.get(path, params={"api-version": api, **params})

    def put_raw(self, path: str, body: dict[str, Any], *, api: str = API) -> httpx.Response:
        return self.http.put(path, params={"api-version": api}, json=body)

    def create(self, group: str, name: str, capacity: int, **kwargs: Any) -> m.VirtualMachineScaleSet:
        """Create through the SDK and wait for the LRO."""
        poller = self.compute.virtual_machine_scale_sets.begin_create_or_update(group, name, vmss_model(capacity, **kwargs))
        return poller.result()

    def create_raw(self, group: str, name: str, capacity: int = 0, **kwargs: Any) -> dict[str, Any]:
        """PUT without waiting; with capacity 0 there is nothing to wait for."""
        response = self.put_raw(self.vmss_path(group, name), vmss_json(capacity, **kwargs))
        assert response.status_code == 201, response.text
        return response.json()


def image_reference(*, version: str = "latest", publisher: str = PUBLISHER, offer: str = OFFER,
                    sku: str = SKU) -> dict[str, str]:
    return {"publisher": publisher, "offer": offer, "sku": sku, "version": version}


def vmss_json(capacity: int, *, image: dict[str, str] | None = None, upgrade_policy: dict[str, Any] | None = None,
              os_profile: dict[str, Any] | None = None, extensions: list[dict[str, Any]] | None = None,
              health_probe: str | None = None) -> dict[str, Any]:
    """A scale set body as a client sends it (2018-10-01 field names)."""
    profile: dict[str, Any] = {
        "storageProfile": {"imageReference": image or image_reference(),
                           "osDisk": {"createOption": "FromImage", "caching": "ReadWrite",
                                      "managedDisk": {"storageAccountType": "Standard_LRS"}}},
        "osProfile": os_profile or {"computerNamePrefix": "compat", "adminUsername": "azureuser"},
    }
    if health_probe:
        profile["networkProfile"] = {"healthProbe": {"id": health_probe}}
    if extensions:
        profile["extensionProfile"] = {"extensions": extensions}
    props: dict[str, Any] = {"overprovision": False, "virtualMachineProfile": profile}
    if upgrade_policy is not None:
        props["upgradePolicy"] = upgrade_policy
    return {"location": LOCATION, "sku": {"name": "Standard_D1_v2", "tier": "Standard", "capacity": capacity},
            "properties": props}


def vmss_model(capacity: int, **kwargs: Any) -> m.VirtualMachineScaleSet:
    """The same body as an SDK model (the SDK serialises it to the JSON above)."""
    return m.VirtualMachineScaleSet(vmss_json(capacity, **kwargs))


def statuses(instance_view: Any) -> list[str]:
    return [status.code for status in instance_view.statuses or []]


def power_state(instance_view: Any) -> str | None:
    return next((code for code in statuses(instance_view) if code.startswith("PowerState/")), None)


def vms_by_id(env: Env, group: str, name: str, **kwargs: Any) -> dict[str, m.VirtualMachineScaleSetVM]:
    return {vm.instance_id: vm for vm in env.compute.virtual_machine_scale_set_vms.list(group, name, **kwargs)}


def power_states(env: Env, group: str, name: str) -> dict[str, str | None]:
    vms = vms_by_id(env, group, name, expand="instanceView")
    return {instance_id: power_state(vm.instance_view) for instance_id, vm in vms.items()}


def _close(env: Env | None, http: httpx.Client) -> None:
    """Close every client connection first: `scaleset serve` does not exit on SIGTERM while an idle
    keep-alive connection is open (it waits for the client to hang up; see the suite's report).
    Responses held by exceptions the tests caught still hold their connections: collect them."""
    gc.collect()
    if env is not None:
        env.compute.close()
    http.close()


def _start(tmp: Path, *, driver: str, extra: tuple[str, ...] = ()) -> tuple[Server, httpx.Client]:
    server = start_server(tmp / "data", driver=driver, extra=extra)
    return server, server.client()


@pytest.fixture(scope="package")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """The process-driver server of the package, with the app image published."""
    tmp = tmp_path_factory.mktemp("compat-process")
    server, http = _start(tmp, driver="process")
    env: Env | None = None
    try:
        response = publish(http, server.subscription, boot_image(tmp / "app-v1", version=APP_VERSION),
                           version=APP_VERSION, publisher=PUBLISHER, offer=OFFER, sku=SKU)
        assert response.status_code == 201, response.text
        env = Env(server, compute_client(server), http, tmp)
        yield env
    finally:
        _close(env, http)
        stop_server(server)
        remove_machines(server.data_dir)


SIM_FAST_SKU, SIM_SLOW_SKU, SIM_STEADY_SKU, SIM_BROKEN_SKU = "fast", "slow", "steady", "broken"


@pytest.fixture(scope="package")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A simulator-driver server with --page-size 2 and four images of CompatSim/Sim: `fast` (boots
    in 0.05 s), `steady` (boots in 1 s), `slow` (boots in 120 s) and `broken` (every create fails)."""
    tmp = tmp_path_factory.mktemp("compat-sim")
    server, http = _start(tmp, driver="sim", extra=("--page-size", "2"))
    env: Env | None = None
    try:
        images = {SIM_FAST_SKU: {"bootSeconds": 0.05}, SIM_STEADY_SKU: {"bootSeconds": 1.0, "reimageSeconds": 1.0},
                  SIM_SLOW_SKU: {"bootSeconds": 120.0}, SIM_BROKEN_SKU: {"failCreate": True}}
        for sku, knobs in images.items():
            artifact = sim_image(tmp / f"{sku}.json", **knobs)
            response = publish(http, server.subscription, artifact, version="1.0.0", publisher="CompatSim", offer="Sim", sku=sku)
            assert response.status_code == 201, response.text
        env = Env(server, compute_client(server), http, tmp)
        yield env
    finally:
        _close(env, http)
        stop_server(server)


def sim_image_reference(sku: str) -> dict[str, str]:
    return image_reference(publisher="CompatSim", offer="Sim", sku=sku, version="latest")
