"""Fixtures of the deployment suite: a simulator server shared by the package, and the calls a client
of Microsoft.Resources/deployments makes (PUT, poll the Azure-AsyncOperation, read what it made).

Every test works in resource groups of its own, so tests sharing a server do not see each other.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API, Server, publish, start_server, stop_server
from tests.images import sim_image

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "automatic-rolling-upgrades"
FIXTURES = ROOT / "tests" / "templates" / "fixtures"
SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
DEPLOYMENTS_API = "2021-04-01"  # what az deployment group create sends
LOCATION = "westus"
SCALE_SETS = "Microsoft.Compute/virtualMachineScaleSets"
NETWORK_TYPES = ("loadBalancers", "virtualNetworks", "publicIPAddresses", "networkSecurityGroups")


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def template(resources: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": resources, **sections}


def values(**named: Any) -> dict[str, dict[str, Any]]:
    """Deployment parameters as a client sends them."""
    return {name: {"value": value} for name, value in named.items()}


@dataclass
class Arm:
    """A client of one server's ARM API, with the calls deployments need."""

    server: Server
    http: httpx.Client

    @property
    def sub(self) -> str:
        return self.server.subscription

    def group(self, prefix: str = "rg") -> str:
        name = unique(prefix)
        response = self.http.put(self.group_path(name), params={"api-version": API}, json={"location": LOCATION})
        assert response.status_code == 201, response.text
        return name

    def group_path(self, group: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{group}"

    def resource_id(self, group: str, type_: str, *names: str) -> str:
        namespace, *types = type_.split("/")
        segments = [namespace] + [part for pair in zip(types, names) for part in pair]
        return f"{self.group_path(group)}/providers/{'/'.join(segments)}"

    def deployment_path(self, group: str, name: str) -> str:
        return f"{self.group_path(group)}/providers/Microsoft.Resources/deployments/{name}"

    def put_deployment(self, group: str, name: str, template_: dict[str, Any],
                       parameters: dict[str, Any] | None = None, **properties: Any) -> httpx.Response:
        """PUT a deployment; `properties` add to or replace what az sends (mode, templateLink...)."""
        body = {"properties": {"mode": "Incremental", "template": template_, "parameters": parameters or {},
                               **properties}}
        return self.http.put(self.deployment_path(group, name), params={"api-version": DEPLOYMENTS_API}, json=body)

    def validate(self, group: str, name: str, template_: dict[str, Any],
                 parameters: dict[str, Any] | None = None) -> httpx.Response:
        body = {"properties": {"mode": "Incremental", "template": template_, "parameters": parameters or {}}}
        return self.http.post(self.deployment_path(group, name) + "/validate", params={"api-version": DEPLOYMENTS_API},
                              json=body)

    def deploy(self, group: str, name: str, template_: dict[str, Any], parameters: dict[str, Any] | None = None,
               *, timeout: float = 60) -> dict[str, Any]:
        """PUT the deployment, wait for it to end; its final GET."""
        response = self.put_deployment(group, name, template_, parameters)
        assert response.status_code in (200, 201), response.text
        self.wait(response, timeout=timeout)
        return self.get(self.deployment_path(group, name))

    def wait(self, response: httpx.Response, *, timeout: float = 60) -> dict[str, Any]:
        """Poll the response's Azure-AsyncOperation until it ends; the final status."""
        url = response.headers["Azure-AsyncOperation"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.http.get(url)
            assert status.status_code == 200, status.text
            if status.json()["status"] not in ("InProgress", "Accepted", "Running"):
                return status.json()
            time.sleep(0.05)
        raise AssertionError(f"{url} still running after {timeout} s")

    def get(self, path: str, api: str = DEPLOYMENTS_API, **params: str) -> dict[str, Any]:
        response = self.http.get(path, params={"api-version": api, **params})
        assert response.status_code == 200, response.text
        return response.json()

    def operations(self, group: str, name: str) -> list[dict[str, Any]]:
        return self.get(self.deployment_path(group, name) + "/operations")["value"]

    def contents(self, group: str) -> list[str]:
        """The ids of every deployment and resource in the group."""
        paths = [f"{self.group_path(group)}/providers/Microsoft.Resources/deployments",
                 f"{self.group_path(group)}/providers/{SCALE_SETS}",
                 *(f"{self.group_path(group)}/providers/Microsoft.Network/{kind}" for kind in NETWORK_TYPES)]
        return [item["id"] for path in paths for item in self.get(path, api=API)["value"]]


SIM_PUBLISHER, SIM_OFFER = "Canonical", "UbuntuServer"
# The example's image boots at once; `slow` never within a test; every create from `broken` fails.
FAST_SKU, SLOW_SKU, BROKEN_SKU = "16.04-LTS", "slow", "broken"


def publish_sim_images(http: httpx.Client, sub: str, folder: Path) -> None:
    images = {FAST_SKU: {"bootSeconds": 0.05}, SLOW_SKU: {"bootSeconds": 600.0}, BROKEN_SKU: {"failCreate": True}}
    for sku, knobs in images.items():
        artifact = sim_image(folder / f"{sku}.json", **knobs)
        response = publish(http, sub, artifact, version="1.0.0", publisher=SIM_PUBLISHER, offer=SIM_OFFER, sku=sku)
        assert response.status_code == 201, response.text


@pytest.fixture(scope="package")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arm]:
    """A simulator server for the package, with the example's image (and a slow and a broken one) published."""
    tmp = tmp_path_factory.mktemp("deployments-sim")
    server = start_server(tmp / "data", driver="sim")
    http = server.client()
    try:
        publish_sim_images(http, server.subscription, tmp)
        yield Arm(server, http)
    finally:
        http.close()
        stop_server(server)
