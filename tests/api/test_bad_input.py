"""Bad input, table-driven, against a real server: each bad request gets the ARM error a client
expects (status, code, and the JSON path of the field at fault as `target`), and nothing is stored
or started: resources a create names stay absent, resources an update names read back
byte-identical, the instance list is unchanged, and so is every row of the store.

One sim-driver server serves the table (a scale set of two instances behind an Http probe, set up
once); a small process-driver server serves the rows about boot artifacts, which only that driver
inspects.
"""

from __future__ import annotations

import copy
import io
import json
import sqlite3
import ssl
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API, Server, publish, remove_machines, start_server, stop_server
from tests.images import sim_image

IMAGE_TARGET = "properties.virtualMachineProfile.storageProfile.imageReference"
PROBE_TARGET = "properties.virtualMachineProfile.networkProfile.healthProbe.id"
PROFILE = "properties.virtualMachineProfile"
CATALOGUE = "/subscriptions/{sub}/providers/Microsoft.Compute/locations/westus/publishers/Canonical/artifacttypes/vmimage" \
            "/offers/UbuntuServer/skus/18.04-LTS/versions"

PATHS = {
    "rg": "/subscriptions/{sub}/resourceGroups/rg",
    "nogroup": "/subscriptions/{sub}/resourceGroups/nogroup",
    "vmss": "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web",
    # a name of each row's own, so a create wrongly accepted by one row does not spill into the next
    "fresh": "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/fresh-{row}",
    "lb": "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb",
    "newlb": "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/newlb",
    "versions": CATALOGUE,
}


def path(template: str, sub: str, row: str = "") -> str:
    for name, value in PATHS.items():
        template = template.replace("{" + name + "}", value)
    return template.replace("{sub}", sub).replace("{row}", row)


# -- bodies -----------------------------------------------------------------------------------

REMOVE = object()


def changed(base: dict[str, Any], **edits: Any) -> dict[str, Any]:
    """A copy of `base` with dotted paths set (`a__b__c=v`: a.b.c = v), or removed with REMOVE."""
    body = copy.deepcopy(base)
    for dotted, value in edits.items():
        *parents, last = dotted.split("__")
        node = body
        for key in parents:
            node = node.setdefault(key, {})
        if value is REMOVE:
            node.pop(last, None)
        else:
            node[last] = value
    return body


def probe_id(sub: str, lb: str = "lb", probe: str = "http") -> str:
    return f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/{lb}/probes/{probe}"


UBUNTU = {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"}
PROBE_PLACEHOLDER = "<probe>"  # replaced with the real probe id, which names the subscription

CREATE: dict[str, Any] = {
    "location": "westus",
    "sku": {"name": "Standard_D1_v2", "tier": "Standard", "capacity": 2},
    "properties": {
        "overprovision": False,
        "upgradePolicy": {"mode": "Manual"},
        "virtualMachineProfile": {
            "storageProfile": {"imageReference": UBUNTU, "osDisk": {"createOption": "FromImage"}},
            "osProfile": {"computerNamePrefix": "web", "adminUsername": "azureuser", "adminPassword": "P@ssw0rd!"},
            "networkProfile": {"healthProbe": {"id": PROBE_PLACEHOLDER}},
        },
    },
}
LOAD_BALANCER = {"location": "westus", "properties": {"probes": [
    {"name": "http", "properties": {"protocol": "Http", "port": 8080, "requestPath": "/"}}]}}


def create(**edits: Any) -> dict[str, Any]:
    return changed(CREATE, **edits)


def rolling(**policy: Any) -> dict[str, Any]:
    return {"properties": {"upgradePolicy": {"rollingUpgradePolicy": policy}}}


def profile_patch(**profile: Any) -> dict[str, Any]:
    return {"properties": {"virtualMachineProfile": profile}}


def image_patch(**ref: Any) -> dict[str, Any]:
    return profile_patch(storageProfile={"imageReference": ref})


def probes(**props: Any) -> dict[str, Any]:
    probe = {"protocol": "Http", "port": 8080, "requestPath": "/", **props}
    return {"location": "westus", "properties": {"probes": [{"name": "http", "properties": {k: v for k, v in probe.items() if v is not REMOVE}}]}}


# -- the table --------------------------------------------------------------------------------

NO_API_VERSION: dict[str, str] = {}


@dataclass(frozen=True)
class Bad:
    method: str
    path: str
    status: int
    code: str
    target: str | None = None  # None: the error names no field
    json: Any = field(default=None, repr=False)
    content: bytes | None = field(default=None, repr=False)
    params: dict[str, str] = field(default_factory=lambda: {"api-version": API})
    headers: dict[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()  # paths that must still answer 404 afterwards
    id: str = ""


def row(id: str, *args: Any, **kwargs: Any) -> Any:  # noqa: A002 - pytest's word
    return pytest.param(Bad(*args, **kwargs, id=id), id=id)


ROWS = [
    # The request itself
    row("malformed-json", "PUT", "{fresh}", 400, "InvalidRequestContent", content=b'{"location": "westus", "sku": ', absent=("{fresh}",)),
    row("body-not-an-object", "PUT", "{fresh}", 400, "InvalidRequestContent", json=[CREATE], absent=("{fresh}",)),
    row("body-null", "PUT", "{fresh}", 400, "InvalidRequestContent", content=b"null", absent=("{fresh}",)),
    row("body-empty", "PUT", "{fresh}", 400, "InvalidRequestContent", content=b"", absent=("{fresh}",)),
    row("body-over-4-mb", "PUT", "{fresh}", 413, "RequestEntityTooLarge",
        content=json.dumps({**CREATE, "tags": {"padding": "x" * (4 * 1024 * 1024)}}).encode(), absent=("{fresh}",)),
    row("deeply-nested-json", "PUT", "{fresh}", 400, "InvalidRequestContent", content=b"[" * 100_000 + b"]" * 100_000,
        absent=("{fresh}",)),
    row("body-not-utf8", "PUT", "{fresh}", 400, "InvalidRequestContent", content=b'{"location": "\xff\xfe"}', absent=("{fresh}",)),
    row("patch-malformed-json", "PATCH", "{vmss}", 400, "InvalidRequestContent", content=b"{'sku': {'capacity': 5}}"),
    row("patch-body-a-string", "PATCH", "{vmss}", 400, "InvalidRequestContent", json="capacity=5"),
    # api-version
    row("no-api-version-get", "GET", "{vmss}", 400, "MissingApiVersionParameter", "api-version", params=NO_API_VERSION),
    row("no-api-version-create", "PUT", "{fresh}", 400, "MissingApiVersionParameter", "api-version", json=CREATE,
        params=NO_API_VERSION, absent=("{fresh}",)),
    row("empty-api-version", "PATCH", "{vmss}", 400, "MissingApiVersionParameter", "api-version", json={"sku": {"capacity": 5}},
        params={"api-version": ""}),
    row("api-version-2017", "PUT", "{fresh}", 400, "InvalidApiVersionParameter", "api-version", json=CREATE,
        params={"api-version": "2017-01-01"}, absent=("{fresh}",)),
    row("api-version-banana", "PATCH", "{vmss}", 400, "InvalidApiVersionParameter", "api-version", json={"sku": {"capacity": 5}},
        params={"api-version": "banana"}),
    row("api-version-not-a-date", "PUT", "{fresh}", 400, "InvalidApiVersionParameter", "api-version", json=CREATE,
        params={"api-version": "2019-99-99"}, absent=("{fresh}",)),
    row("api-version-future", "GET", "{vmss}", 400, "InvalidApiVersionParameter", "api-version", params={"api-version": "2099-01-01"}),
    row("delete-without-api-version", "DELETE", "{vmss}", 400, "MissingApiVersionParameter", "api-version", params=NO_API_VERSION),
    row("action-without-api-version", "POST", "{vmss}/reimageall", 400, "MissingApiVersionParameter", "api-version", json={},
        params=NO_API_VERSION),
    # Auth, checked before anything else
    row("no-authorization", "PUT", "{fresh}", 401, "AuthenticationFailed", json=CREATE, headers={"Authorization": ""},
        absent=("{fresh}",)),
    row("not-bearer", "PATCH", "{vmss}", 401, "AuthenticationFailed", json={"sku": {"capacity": 5}},
        headers={"Authorization": "Basic dGVzdDp0ZXN0"}),
    row("wrong-token", "PUT", "{fresh}", 401, "InvalidAuthenticationToken", json=CREATE, headers={"Authorization": "Bearer wrong"},
        absent=("{fresh}",)),
    row("wrong-token-before-bad-body", "PUT", "{fresh}", 401, "InvalidAuthenticationToken", content=b"{not json",
        headers={"Authorization": "Bearer wrong"}, absent=("{fresh}",)),
    row("delete-wrong-token", "DELETE", "{vmss}", 401, "InvalidAuthenticationToken", headers={"Authorization": "Bearer wrong"}),
    row("action-no-authorization", "POST", "{vmss}/restart", 401, "AuthenticationFailed", json={}, headers={"Authorization": ""}),
    # Lookups
    row("unknown-scale-set", "GET", "{vmss}-nope", 404, "ResourceNotFound"),
    row("unknown-group", "GET", "{nogroup}/providers/Microsoft.Compute/virtualMachineScaleSets/web", 404, "ResourceGroupNotFound"),
    row("create-in-unknown-group", "PUT", "{nogroup}/providers/Microsoft.Compute/virtualMachineScaleSets/web", 404,
        "ResourceGroupNotFound", json=CREATE, absent=("{nogroup}",)),
    row("patch-unknown-scale-set", "PATCH", "{vmss}-nope", 404, "ResourceNotFound", json={"sku": {"capacity": 1}},
        absent=("{vmss}-nope",)),
    row("unknown-instance", "GET", "{vmss}/virtualMachines/999", 404, "ResourceNotFound"),
    row("reimage-unknown-instance", "POST", "{vmss}/virtualMachines/999/reimage", 404, "ResourceNotFound"),
    row("unknown-path", "GET", "{vmss}/nothingHere", 404, "NotFound"),
    row("method-not-allowed", "POST", "{vmss}", 405, "MethodNotAllowed", json={}),
    # Create: what to run
    row("create-without-location", "PUT", "{fresh}", 400, "InvalidParameter", "location", json=create(location=REMOVE),
        absent=("{fresh}",)),
    row("create-without-image-reference", "PUT", "{fresh}", 400, "InvalidParameter", IMAGE_TARGET,
        json=create(properties__virtualMachineProfile__storageProfile__imageReference=REMOVE), absent=("{fresh}",)),
    row("create-without-properties", "PUT", "{fresh}", 400, "InvalidParameter", IMAGE_TARGET, json=create(properties=REMOVE),
        absent=("{fresh}",)),
    row("create-unpublished-sku", "PUT", "{fresh}", 400, "InvalidParameter", IMAGE_TARGET,
        json=create(properties__virtualMachineProfile__storageProfile__imageReference={**UBUNTU, "sku": "22.04-LTS"}),
        absent=("{fresh}",)),
    row("create-unpublished-version", "PUT", "{fresh}", 400, "InvalidParameter", IMAGE_TARGET,
        json=create(properties__virtualMachineProfile__storageProfile__imageReference={**UBUNTU, "version": "9.9.9"}),
        absent=("{fresh}",)),
    row("create-version-1.2", "PUT", "{fresh}", 400, "InvalidParameter", f"{IMAGE_TARGET}.version",
        json=create(properties__virtualMachineProfile__storageProfile__imageReference={**UBUNTU, "version": "1.2"}),
        absent=("{fresh}",)),
    row("create-missing-probe", "PUT", "{fresh}", 400, "InvalidParameter", PROBE_TARGET,
        json=create(properties__virtualMachineProfile__networkProfile__healthProbe={"id": "<probe:lb/nope>"}), absent=("{fresh}",)),
    row("create-probe-of-missing-lb", "PUT", "{fresh}", 400, "InvalidParameter", PROBE_TARGET,
        json=create(properties__virtualMachineProfile__networkProfile__healthProbe={"id": "<probe:nolb/http>"}), absent=("{fresh}",)),
    row("create-malformed-probe-id", "PUT", "{fresh}", 400, "InvalidParameter", PROBE_TARGET,
        json=create(properties__virtualMachineProfile__networkProfile__healthProbe={"id": "loadBalancers/lb/probes/http"}),
        absent=("{fresh}",)),
    row("create-custom-data-not-base64", "PUT", "{fresh}", 400, "InvalidParameter", f"{PROFILE}.osProfile.customData",
        json=create(properties__virtualMachineProfile__osProfile__customData="#cloud-config: not base64!"), absent=("{fresh}",)),
    row("create-duplicate-luns", "PUT", "{fresh}", 400, "InvalidParameter", f"{PROFILE}.storageProfile.dataDisks",
        json=create(properties__virtualMachineProfile__storageProfile__dataDisks=[
            {"lun": 1, "createOption": "Empty", "diskSizeGB": 1}, {"lun": 1, "createOption": "Empty", "diskSizeGB": 2}]),
        absent=("{fresh}",)),
    row("create-provision-after-unknown", "PUT", "{fresh}", 400, "InvalidParameter", f"{PROFILE}.extensionProfile.extensions",
        json=create(properties__virtualMachineProfile__extensionProfile={"extensions": [
            {"name": "app", "properties": {"publisher": "Contoso", "type": "App", "provisionAfterExtensions": ["ghost"]}}]}),
        absent=("{fresh}",)),
    row("create-duplicate-extension-names", "PUT", "{fresh}", 400, "InvalidParameter", f"{PROFILE}.extensionProfile.extensions",
        json=create(properties__virtualMachineProfile__extensionProfile={"extensions": [
            {"name": "app", "properties": {"publisher": "Contoso", "type": "App"}},
            {"name": "APP", "properties": {"publisher": "Contoso", "type": "App"}}]}),
        absent=("{fresh}",)),
    row("create-negative-capacity", "PUT", "{fresh}", 400, "InvalidParameter", "sku.capacity", json=create(sku__capacity=-1),
        absent=("{fresh}",)),
    row("create-capacity-true", "PUT", "{fresh}", 400, "InvalidParameter", "sku.capacity", json=create(sku__capacity=True),
        absent=("{fresh}",)),
    row("create-provision-after-cycle", "PUT", "{fresh}", 400, "InvalidParameter", f"{PROFILE}.extensionProfile.extensions",
        json=create(properties__virtualMachineProfile__extensionProfile={"extensions": [
            {"name": "a", "properties": {"publisher": "Contoso", "type": "A", "provisionAfterExtensions": ["b"]}},
            {"name": "b", "properties": {"publisher": "Contoso", "type": "B", "provisionAfterExtensions": ["a"]}}]}),
        absent=("{fresh}",)),
    row("create-provision-after-itself", "PUT", "{fresh}", 400, "InvalidParameter", f"{PROFILE}.extensionProfile.extensions",
        json=create(properties__virtualMachineProfile__extensionProfile={"extensions": [
            {"name": "a", "properties": {"publisher": "Contoso", "type": "A", "provisionAfterExtensions": ["a"]}}]}),
        absent=("{fresh}",)),
    # API.md 3.1 and 10: Rolling mode needs a health signal (a load balancer probe or the Application Health extension)
    row("create-rolling-without-health-signal", "PUT", "{fresh}", 400, "InvalidParameter", "properties.upgradePolicy.mode",
        json=create(properties__upgradePolicy__mode="Rolling", properties__virtualMachineProfile__networkProfile=REMOVE),
        absent=("{fresh}",)),
    row("create-unknown-mode", "PUT", "{fresh}", 400, "InvalidParameter", "properties.upgradePolicy.mode",
        json=create(properties__upgradePolicy__mode="Eventually"), absent=("{fresh}",)),
    # Update: policies and ranges
    row("mode-unknown", "PATCH", "{vmss}", 400, "InvalidParameter", "properties.upgradePolicy.mode",
        json={"properties": {"upgradePolicy": {"mode": "Sometimes"}}}),
    row("capacity-negative", "PATCH", "{vmss}", 400, "InvalidParameter", "sku.capacity", json={"sku": {"capacity": -1}}),
    row("capacity-true", "PATCH", "{vmss}", 400, "InvalidParameter", "sku.capacity", json={"sku": {"capacity": True}}),
    row("capacity-1001", "PATCH", "{vmss}", 400, "InvalidParameter", "sku.capacity", json={"sku": {"capacity": 1001}}),
    row("max-batch-4", "PATCH", "{vmss}", 400, "InvalidParameter", "properties.upgradePolicy.rollingUpgradePolicy.maxBatchInstancePercent",
        json=rolling(maxBatchInstancePercent=4)),
    row("max-batch-101", "PATCH", "{vmss}", 400, "InvalidParameter", "properties.upgradePolicy.rollingUpgradePolicy.maxBatchInstancePercent",
        json=rolling(maxBatchInstancePercent=101)),
    row("max-unhealthy-upgraded-minus-1", "PATCH", "{vmss}", 400, "InvalidParameter",
        "properties.upgradePolicy.rollingUpgradePolicy.maxUnhealthyUpgradedInstancePercent",
        json=rolling(maxUnhealthyUpgradedInstancePercent=-1)),
    row("pause-5-minutes", "PATCH", "{vmss}", 400, "InvalidParameter", "properties.upgradePolicy.rollingUpgradePolicy.pauseTimeBetweenBatches",
        json=rolling(pauseTimeBetweenBatches="5 minutes")),
    row("grace-period-PT", "PATCH", "{vmss}", 400, "InvalidParameter", "properties.automaticRepairsPolicy.gracePeriod",
        json={"properties": {"automaticRepairsPolicy": {"enabled": True, "gracePeriod": "PT"}}}),
    row("patch-custom-data-not-base64", "PATCH", "{vmss}", 400, "InvalidParameter", f"{PROFILE}.osProfile.customData",
        json=profile_patch(osProfile={"customData": "%%%"})),
    # Update: references and immutable properties
    row("patch-offer", "PATCH", "{vmss}", 409, "PropertyChangeNotAllowed", f"{IMAGE_TARGET}.offer", json=image_patch(offer="Debian")),
    row("patch-publisher", "PATCH", "{vmss}", 409, "PropertyChangeNotAllowed", f"{IMAGE_TARGET}.publisher",
        json=image_patch(publisher="OpenLogic")),
    row("patch-location", "PATCH", "{vmss}", 409, "PropertyChangeNotAllowed", "location", json={"location": "eastus"}),
    row("patch-unpublished-sku", "PATCH", "{vmss}", 400, "InvalidParameter", IMAGE_TARGET, json=image_patch(sku="22.04-LTS")),
    row("patch-version-1.2", "PATCH", "{vmss}", 400, "InvalidParameter", f"{IMAGE_TARGET}.version", json=image_patch(version="1.2")),
    row("patch-missing-probe", "PATCH", "{vmss}", 400, "InvalidParameter", PROBE_TARGET,
        json=profile_patch(networkProfile={"healthProbe": {"id": "<probe:lb/nope>"}})),
    row("patch-malformed-probe-id", "PATCH", "{vmss}", 400, "InvalidParameter", PROBE_TARGET,
        json=profile_patch(networkProfile={"healthProbe": {"id": "not-an-id"}})),
    row("put-update-without-location", "PUT", "{vmss}", 400, "InvalidParameter", "location", json=create(location=REMOVE)),
    row("put-update-missing-probe", "PUT", "{vmss}", 400, "InvalidParameter", PROBE_TARGET,
        json=create(properties__virtualMachineProfile__networkProfile__healthProbe={"id": "<probe:lb/nope>"})),
    # Actions on instances
    row("manualupgrade-without-body", "POST", "{vmss}/manualupgrade", 400, "InvalidParameter", "instanceIds"),
    row("manualupgrade-without-instance-ids", "POST", "{vmss}/manualupgrade", 400, "InvalidParameter", "instanceIds", json={}),
    row("manualupgrade-empty-instance-ids", "POST", "{vmss}/manualupgrade", 400, "InvalidParameter", "instanceIds",
        json={"instanceIds": []}),
    row("delete-instances-without-ids", "POST", "{vmss}/delete", 400, "InvalidParameter", "instanceIds", json={}),
    row("reimage-instance-999", "POST", "{vmss}/reimage", 400, "InvalidParameter", "instanceIds", json={"instanceIds": ["999"]}),
    row("reimage-0-and-999", "POST", "{vmss}/reimage", 400, "InvalidParameter", "instanceIds", json={"instanceIds": ["0", "999"]}),
    row("manualupgrade-instance-999", "POST", "{vmss}/manualupgrade", 400, "InvalidParameter", "instanceIds",
        json={"instanceIds": ["999"]}),
    row("restart-ids-not-a-list", "POST", "{vmss}/restart", 400, "InvalidParameter", "instanceIds", json={"instanceIds": "0"}),
    row("reimage-body-a-list", "POST", "{vmss}/reimage", 400, "InvalidRequestContent", json=["0"]),
    row("vm-list-unsupported-filter", "GET", "{vmss}/virtualMachines", 400, "InvalidParameter", "$filter",
        params={"api-version": API, "$filter": "name eq 'x'"}),
    # Load balancers
    row("probe-http-without-path", "PUT", "{newlb}", 400, "InvalidParameter", "properties.probes[0].properties",
        json=probes(requestPath=REMOVE), absent=("{newlb}",)),
    row("probe-port-0", "PUT", "{newlb}", 400, "InvalidParameter", "properties.probes[0].properties.port", json=probes(port=0),
        absent=("{newlb}",)),
    row("probe-protocol-udp", "PUT", "{newlb}", 400, "InvalidParameter", "properties.probes[0].properties.protocol",
        json=probes(protocol="Udp"), absent=("{newlb}",)),
    row("probe-update-port-0", "PUT", "{lb}", 400, "InvalidParameter", "properties.probes[0].properties.port", json=probes(port=0)),
    row("lb-in-unknown-group", "PUT", "{nogroup}/providers/Microsoft.Network/loadBalancers/lb", 404, "ResourceGroupNotFound",
        json=LOAD_BALANCER, absent=("{nogroup}",)),
    row("unknown-network-type", "PUT", "{rg}/providers/Microsoft.Network/flyingCarpets/c", 400, "InvalidResourceType",
        json={"location": "westus"}),
    # Resource groups
    row("group-without-location", "PUT", "{rg}2", 400, "InvalidParameter", "location", json={"tags": {}}, absent=("{rg}2",)),
    row("group-body-not-an-object", "PUT", "{rg}2", 400, "InvalidRequestContent", json="westus", absent=("{rg}2",)),
    row("group-tag-not-a-string", "PUT", "{rg}2", 400, "InvalidParameter", "tags.owner",
        json={"location": "westus", "tags": {"owner": {"name": "x"}}}, absent=("{rg}2",)),
    row("group-in-malformed-subscription", "PUT", "/subscriptions/not-a-guid/resourceGroups/rg", 400, "InvalidSubscriptionId",
        json={"location": "westus"}),
    row("group-moved", "PUT", "{rg}", 409, "InvalidResourceGroupLocation", "location", json={"location": "eastus"}),
    # Images
    row("publish-version-1.0", "PUT", "{versions}/1.0", 400, "InvalidParameter", "version", content=b'{"bootSeconds": 0.05}',
        params={"api-version": API, "osType": "Linux"}, headers={"Content-Type": "application/json"}, absent=("{versions}/1.0",)),
    row("publish-version-latest", "PUT", "{versions}/latest", 400, "InvalidParameter", "version", content=b'{"bootSeconds": 0.05}',
        params={"api-version": API, "osType": "Linux"}, headers={"Content-Type": "application/json"}),
    row("versions-top-negative", "GET", "{versions}", 400, "InvalidParameter", "$top", params={"api-version": API, "$top": "-1"}),
    row("republish-other-bytes", "PUT", "{versions}/1.0.0", 409, "Conflict", "version", content=b'{"bootSeconds": 0.07}',
        params={"api-version": API, "osType": "Linux"}, headers={"Content-Type": "application/json"}),
    row("publish-empty-artifact", "PUT", "{versions}/2.0.0", 400, "InvalidArtifact", "artifact", content=b"",
        params={"api-version": API, "osType": "Linux"}, headers={"Content-Type": "application/json"}, absent=("{versions}/2.0.0",)),
    row("publish-sim-image-not-json", "PUT", "{versions}/2.0.0", 400, "InvalidArtifact", "artifact", content=b"bootSeconds=1",
        params={"api-version": API, "osType": "Linux"}, headers={"Content-Type": "application/json"}, absent=("{versions}/2.0.0",)),
    row("publish-unknown-os-type", "PUT", "{versions}/2.0.0", 400, "InvalidParameter", "osType", content=b'{"bootSeconds": 0.05}',
        params={"api-version": API, "osType": "Solaris"}, headers={"Content-Type": "application/json"}, absent=("{versions}/2.0.0",)),
]


# -- the servers ------------------------------------------------------------------------------

@dataclass
class Arm:
    server: Server
    client: httpx.Client

    @property
    def sub(self) -> str:
        return self.server.subscription

    def path(self, template: str, row: str = "") -> str:
        return path(template, self.sub, row)


def _wait_until_settled(arm: Arm, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        scale_set = arm.client.get(arm.path("{vmss}"), params={"api-version": API}).json()
        vms = arm.client.get(arm.path("{vmss}/virtualMachines"), params={"api-version": API}).json()["value"]
        if scale_set["properties"]["provisioningState"] == "Succeeded" and len(vms) == count and all(
                vm["properties"]["provisioningState"] == "Succeeded" for vm in vms):
            return
        time.sleep(0.05)
    raise AssertionError(f"the scale set did not settle: {scale_set}")


@pytest.fixture(scope="module")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arm]:
    folder = tmp_path_factory.mktemp("bad-input")
    server = start_server(folder / "data", driver="sim")
    try:
        with server.client() as client:
            arm = Arm(server, client)
            params = {"api-version": API}
            assert publish(client, arm.sub, sim_image(folder / "sim.json"), version="1.0.0").status_code == 201
            assert client.put(arm.path("{rg}"), params=params, json={"location": "westus"}).status_code == 201
            assert client.put(arm.path("{lb}"), params=params, json=LOAD_BALANCER).status_code == 201
            created = client.put(arm.path("{vmss}"), params=params, json=with_probe(CREATE, arm.sub))
            assert created.status_code == 201, created.text
            _wait_until_settled(arm, 2)
            yield arm
    finally:
        stop_server(server)


def with_probe(body: Any, sub: str) -> Any:
    """Fill in probe ids: <probe> is the real one, <probe:lb/name> another in the same group."""
    text = json.dumps(body)
    text = text.replace(PROBE_PLACEHOLDER, probe_id(sub))
    for lb, name in (("lb", "nope"), ("nolb", "http")):
        text = text.replace(f"<probe:{lb}/{name}>", probe_id(sub, lb, name))
    return json.loads(text)


# -- what "nothing stored, nothing started" means ---------------------------------------------

# Rewritten on a timer whatever the requests do: the replica's heartbeat and its leases' expiry.
LIVENESS_TABLES = {"replicas", "leases"}


def store_rows(data_dir: Path) -> dict[str, list[str]]:
    """Every row of every table but the liveness ones, read straight from the server's SQLite file."""
    connection = sqlite3.connect(f"file:{data_dir / 'scaleset.db'}?mode=ro", uri=True, timeout=10)
    try:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                  if name not in LIVENESS_TABLES]
        return {table: sorted(repr(r) for r in connection.execute(f'SELECT * FROM "{table}"')) for table in sorted(tables)}
    finally:
        connection.close()


def stored_files(data_dir: Path) -> dict[str, list[str]]:
    """The artifact store and the upload area: a refused artifact leaves neither behind."""
    return {folder: sorted(p.name for p in (data_dir / folder).iterdir()) if (data_dir / folder).is_dir() else []
            for folder in ("images", "uploads")}


def api_views(arm: Arm) -> dict[str, str]:
    """The resources as a client reads them, byte for byte."""
    views = {}
    for name in ("{vmss}", "{vmss}/virtualMachines", "{vmss}/instanceView", "{lb}", "{rg}", "{versions}"):
        response = arm.client.get(arm.path(name), params={"api-version": API})
        assert response.status_code == 200, f"GET {name}: {response.status_code} {response.text}"
        views[name] = response.text
    return views


def assert_an_arm_error(response: httpx.Response, bad: Bad) -> None:
    assert (response.status_code, _code(response)) == (bad.status, bad.code), response.text
    error = response.json()["error"]
    assert error.get("target") == bad.target, f"target {error.get('target')!r}, expected {bad.target!r}: {response.text}"
    assert isinstance(error.get("message"), str) and error["message"]
    assert response.headers["content-type"].startswith("application/json")
    for header in ("Retry-After", "x-ms-retry-after-ms", "Azure-AsyncOperation", "Location"):
        assert header not in response.headers, f"an error response carries {header}: {response.headers[header]}"


def _code(response: httpx.Response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def send(arm: Arm, bad: Bad) -> httpx.Response:
    request: dict[str, Any] = {"params": bad.params, "headers": bad.headers}
    if bad.content is not None:
        request["content"] = bad.content
    elif bad.json is not None:
        request["json"] = with_probe(bad.json, arm.sub)
    target = arm.path(bad.path, bad.id)
    if "Authorization" in bad.headers:
        # a client of its own, so the fixture's default Authorization header does not apply
        headers = {k: v for k, v in bad.headers.items() if v}
        verify = ssl.create_default_context(cafile=arm.server.ca) if arm.server.ca else False
        with httpx.Client(base_url=arm.server.url, verify=verify, timeout=30) as bare:
            return bare.request(bad.method, target, **{**request, "headers": headers})
    return arm.client.request(bad.method, target, **request)


def _quiesce(arm: Arm) -> None:
    """Wait until nothing is in flight, so a row wrongly accepted cannot disturb the next row."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{arm.server.data_dir / 'scaleset.db'}?mode=ro", uri=True, timeout=10) as connection:
            busy = connection.execute("SELECT count(*) FROM operations WHERE status = 'InProgress'").fetchone()[0] + \
                connection.execute("SELECT count(*) FROM instances WHERE pending_action IS NOT NULL").fetchone()[0]
        if not busy:
            return
        time.sleep(0.05)


@pytest.mark.parametrize("bad", ROWS)
def test_bad_request_is_refused_and_changes_nothing(arm: Arm, bad: Bad) -> None:
    views, rows, files = api_views(arm), store_rows(arm.server.data_dir), stored_files(arm.server.data_dir)
    try:
        response = send(arm, bad)

        assert_an_arm_error(response, bad)
        for absent in bad.absent:
            check = arm.client.get(arm.path(absent, bad.id), params={"api-version": API})
            assert check.status_code == 404, f"{absent} exists after the refused request: {check.text}"
        assert api_views(arm) == views, "a resource reads differently after the refused request"
        assert store_rows(arm.server.data_dir) == rows, "the store changed"
        assert stored_files(arm.server.data_dir) == files, "files were left in the artifact store or upload area"
    finally:
        _quiesce(arm)


def test_a_405_names_the_methods_the_path_allows(arm: Arm) -> None:
    """HTTP requires an Allow header on every 405 (RFC 9110, 15.5.6)."""
    response = arm.client.post(arm.path("{vmss}"), params={"api-version": API}, json={})
    assert response.status_code == 405
    allowed = {m.strip().upper() for m in response.headers.get("Allow", "").split(",") if m.strip()}
    assert allowed >= {"GET", "PUT", "PATCH", "DELETE"}, f"Allow: {response.headers.get('Allow')!r}"


# -- boot artifacts, which the process driver inspects ----------------------------------------

@pytest.fixture(scope="module")
def process_arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arm]:
    server = start_server(tmp_path_factory.mktemp("bad-artifacts") / "data", driver="process")
    try:
        with server.client() as client:
            yield Arm(server, client)
    finally:
        stop_server(server)
        remove_machines(server.data_dir)


def tarball(members: dict[str, tuple[bytes, int]]) -> bytes:
    """A .tar.gz in memory: name -> (content, mode)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, (content, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


BOOT = b"#!/bin/sh\nexec sleep 3600\n"
ARTIFACTS = [
    pytest.param(b"this is not a tarball at all\n", id="not-a-tarball"),
    pytest.param(b"\x1f\x8b\x08\x00truncated gzip", id="truncated-gzip"),
    pytest.param(tarball({"README": (b"no boot here\n", 0o644)}), id="no-boot"),
    pytest.param(tarball({"boot": (BOOT, 0o644)}), id="boot-not-executable"),
    pytest.param(tarball({"image/bin/boot": (BOOT, 0o755)}), id="boot-not-at-the-top"),
    pytest.param(tarball({"boot": (BOOT, 0o755), "../escape": (b"x", 0o644)}), id="member-outside"),
    pytest.param(tarball({"boot": (BOOT, 0o755), "/etc/evil": (b"x", 0o644)}), id="absolute-member"),
]


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_a_bad_boot_artifact_is_refused_and_not_listed(process_arm: Arm, artifact: bytes) -> None:
    data_dir = process_arm.server.data_dir
    files, rows = stored_files(data_dir), store_rows(data_dir)
    versions = process_arm.path("{versions}")

    response = process_arm.client.put(f"{versions}/1.0.0", params={"api-version": API, "osType": "Linux"}, content=artifact,
                                      headers={"Content-Type": "application/gzip"})

    assert_an_arm_error(response, Bad("PUT", "", 400, "InvalidArtifact", "artifact"))
    listed = process_arm.client.get(versions, params={"api-version": API})
    assert listed.status_code == 200 and listed.json() == []
    assert process_arm.client.get(f"{versions}/1.0.0", params={"api-version": API}).status_code == 404
    assert store_rows(data_dir) == rows
    assert stored_files(data_dir) == files
    assert not (data_dir / "escape").exists() and not (data_dir.parent / "escape").exists()
