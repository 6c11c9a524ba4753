"""Wire validation: a bad field becomes a 400 InvalidParameter whose target is its JSON path;
every field the models do not name passes untouched."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel

from scaleset.api import wire
from scaleset.service.errors import ArmError

PROFILE = "properties.virtualMachineProfile"


def scale_set(**profile: Any) -> dict[str, Any]:
    return {"location": "westus", "sku": {"capacity": 1}, "properties": {"virtualMachineProfile": {
        "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"}},
        **profile}}}


def probe(**props: Any) -> dict[str, Any]:
    return {"name": "p", "properties": {"protocol": "Http", "port": 80, "requestPath": "/", **props}}


def refused(model: type[BaseModel], body: Any) -> ArmError:
    with pytest.raises(ArmError) as raised:
        wire.validate(model, body)
    return raised.value


@pytest.mark.parametrize(
    ("model", "body", "target"),
    [
        pytest.param(wire.LoadBalancer, {"properties": {"probes": [probe(port=0)]}}, "properties.probes[0].properties.port", id="probe-port"),
        pytest.param(wire.LoadBalancer, {"properties": {"probes": [probe(), probe(port=70000)]}}, "properties.probes[1].properties.port",
                     id="second-probe-port"),
        pytest.param(wire.LoadBalancer, {"properties": {"probes": [probe(protocol="Udp")]}}, "properties.probes[0].properties.protocol",
                     id="probe-protocol"),
        pytest.param(wire.LoadBalancer, {"properties": {"probes": [probe(requestPath="health")]}},
                     "properties.probes[0].properties.requestPath", id="probe-path-without-slash"),
        pytest.param(wire.LoadBalancer, {"properties": {"probes": [probe(intervalInSeconds=4)]}},
                     "properties.probes[0].properties.intervalInSeconds", id="probe-interval"),
        pytest.param(wire.LoadBalancer, {"properties": {"probes": [{"properties": {"protocol": "Tcp", "port": 1}}]}},
                     "properties.probes[0].name", id="probe-name-missing"),
        pytest.param(wire.LoadBalancer, {"properties": {"probes": "not a list"}}, "properties.probes", id="probes-not-a-list"),
        pytest.param(wire.ScaleSet, {"location": "westus", "sku": {"capacity": "many"}}, "sku.capacity", id="capacity-not-a-number"),
        pytest.param(wire.ScaleSet, {"location": "westus", "sku": {"capacity": 2.5}}, "sku.capacity", id="capacity-fraction"),
        pytest.param(wire.ScaleSetCreate, {"location": "westus"}, "sku", id="create-without-sku"),
        pytest.param(wire.ScaleSet, {"sku": {"capacity": 1}}, "location", id="missing-location"),
        pytest.param(wire.ScaleSet, {"location": ""}, "location", id="empty-location"),
        pytest.param(wire.ScaleSetUpdate, {"properties": {"upgradePolicy": {"rollingUpgradePolicy": {"maxUnhealthyInstancePercent": 101}}}},
                     "properties.upgradePolicy.rollingUpgradePolicy.maxUnhealthyInstancePercent", id="nested-percent"),
        pytest.param(wire.ScaleSetUpdate, {"properties": {"upgradePolicy": {"automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": "perhaps"}}}},
                     "properties.upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade", id="bool"),
        pytest.param(wire.ScaleSetUpdate, {"properties": {"platformFaultDomainCount": 6}}, "properties.platformFaultDomainCount",
                     id="fault-domains"),
        pytest.param(wire.ScaleSet, scale_set(storageProfile={"dataDisks": [{"lun": 64, "createOption": "Empty"}]}),
                     f"{PROFILE}.storageProfile.dataDisks[0].lun", id="lun-range"),
        pytest.param(wire.ScaleSet, scale_set(storageProfile={"dataDisks": [{"lun": 1, "createOption": "Empty"}, {"createOption": "Empty"}]}),
                     f"{PROFILE}.storageProfile.dataDisks[1].lun", id="lun-missing"),
        pytest.param(wire.ScaleSet, scale_set(storageProfile={"osDisk": {"createOption": "FromImage", "caching": "Sometimes"}}),
                     f"{PROFILE}.storageProfile.osDisk.caching", id="os-disk-caching"),
        pytest.param(wire.ScaleSet, scale_set(extensionProfile={"extensions": [{"name": "a"}, {"name": ""}]}),
                     f"{PROFILE}.extensionProfile.extensions[1].name", id="extension-name"),
        pytest.param(wire.ScaleSet, scale_set(extensionProfile={"extensions": [{"name": "a", "properties": {"settings": "x"}}]}),
                     f"{PROFILE}.extensionProfile.extensions[0].properties.settings", id="extension-settings"),
        pytest.param(wire.ScaleSet, scale_set(osProfile={"computerNamePrefix": ""}), f"{PROFILE}.osProfile.computerNamePrefix",
                     id="empty-prefix"),
        pytest.param(wire.ScaleSet, scale_set(networkProfile={"healthProbe": {}}), f"{PROFILE}.networkProfile.healthProbe.id",
                     id="probe-reference-without-id"),
        pytest.param(wire.RequiredInstanceIds, {"instanceIds": []}, "instanceIds", id="empty-instance-ids"),
        pytest.param(wire.InstanceIds, {"instanceIds": ["0", 1.5]}, "instanceIds[1]", id="instance-id-type"),
        pytest.param(wire.ResourceGroup, {"location": "westus", "tags": {"a": ["b"]}}, "tags.a", id="tag-value"),
    ],
)
def test_targets_are_json_paths_of_the_field_at_fault(model: type[BaseModel], body: dict[str, Any], target: str) -> None:
    error = refused(model, body)
    assert (error.status, error.code, error.target) == (400, "InvalidParameter", target)
    assert target in error.message
    assert error.body()["error"]["target"] == target


def test_a_missing_field_says_required() -> None:
    error = refused(wire.ResourceGroup, {})
    assert error.message == "Required parameter 'location' is missing (null)."


def test_the_message_carries_the_reason_without_pydantic_prefixes() -> None:
    error = refused(wire.LoadBalancer, {"properties": {"probes": [probe(requestPath=None)]}})
    assert error.target == "properties.probes[0].properties"
    assert "needs a requestPath" in error.message
    assert "Value error" not in error.message


@pytest.mark.parametrize("body", [None, [], [{"location": "westus"}], "text", 42, True], ids=repr)
def test_a_body_that_is_not_an_object_is_invalid_content(body: Any) -> None:
    error = refused(wire.ScaleSet, body)
    assert (error.status, error.code, error.target) == (400, "InvalidRequestContent", None)


def test_a_valid_body_comes_back_unchanged_with_every_unknown_field() -> None:
    body = scale_set(futureProfile={"x": [1, {"y": None}]})
    body["properties"]["upgradePolicy"] = {"mode": "rolling", "rollingUpgradePolicy": {"maxBatchInstancePercent": 5,
                                                                                      "pauseTimeBetweenBatches": "PT0S", "newKnob": 1}}
    body["plan"] = {"name": "p"}
    before = copy.deepcopy(body)
    assert wire.validate(wire.ScaleSetCreate, body) is body
    assert body == before


@pytest.mark.parametrize(
    "rolling",
    [{"maxBatchInstancePercent": 5}, {"maxBatchInstancePercent": 100}, {"maxUnhealthyUpgradedInstancePercent": 0},
     {"pauseTimeBetweenBatches": "PT1.5S"}, {"pauseTimeBetweenBatches": "P1DT2H"}],
    ids=["batch-5", "batch-100", "upgraded-0", "pause-fraction", "pause-days"],
)
def test_boundary_values_pass(rolling: dict[str, Any]) -> None:
    wire.validate(wire.ScaleSetUpdate, {"properties": {"upgradePolicy": {"rollingUpgradePolicy": rolling}}})


def test_enum_values_are_case_insensitive() -> None:
    wire.validate(wire.ScaleSetUpdate, {"properties": {"upgradePolicy": {"mode": "AUTOMATIC"}}})
    wire.validate(wire.LoadBalancer, {"properties": {"probes": [probe(protocol="tcp", requestPath=None)]}})


def test_path_of_an_empty_location_is_none() -> None:
    assert wire._path(()) is None
    assert wire._path(("a", 0, "b", 12, 3)) == "a[0].b[12][3]"
