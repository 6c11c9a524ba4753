"""Errors as the SDK maps them: 404, 409, 400 and 401, with ARM CloudError codes and targets.

After every refused write, the test proves nothing was stored: a refused create leaves no scale
set (GET is 404), a refused update leaves the stored body as it was.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.compute import models as m

from tests.compat.conftest import (
    APP_VERSION,
    OFFER,
    SIM_BROKEN_SKU,
    SIM_SLOW_SKU,
    Env,
    compute_client,
    image_reference,
    sim_image_reference,
    unique,
    vmss_json,
    vmss_model,
)

IMAGE = "properties.virtualMachineProfile.storageProfile.imageReference"
PROBE = "properties.virtualMachineProfile.networkProfile.healthProbe.id"
ROLLING = "properties.upgradePolicy.rollingUpgradePolicy"


def _stable(body: dict[str, Any]) -> dict[str, Any]:
    """A GET body less what may change on its own (nothing should, but be fair)."""
    body = copy.deepcopy(body)
    body.get("properties", {}).pop("provisioningState", None)
    return body


# -- 404 ---------------------------------------------------------------------------------------

def test_get_of_an_unknown_scale_set_raises_resource_not_found(proc: Env) -> None:
    group = proc.group("nf")
    with pytest.raises(ResourceNotFoundError) as raised:
        proc.compute.virtual_machine_scale_sets.get(group, "no-such-scale-set")
    assert raised.value.status_code == 404
    assert raised.value.error.code == "ResourceNotFound"


def test_get_in_an_unknown_resource_group_raises_resource_not_found_with_code_resource_group_not_found(proc: Env) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        proc.compute.virtual_machine_scale_sets.get(unique("no-such-group"), "anything")
    assert raised.value.status_code == 404
    assert raised.value.error.code == "ResourceGroupNotFound"


def test_create_in_an_unknown_resource_group_raises_resource_not_found_with_code_resource_group_not_found(proc: Env) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        proc.compute.virtual_machine_scale_sets.begin_create_or_update(unique("no-such-group"), "anything", vmss_model(0))
    assert raised.value.error.code == "ResourceGroupNotFound"


def test_list_in_an_unknown_resource_group_raises_resource_not_found_with_code_resource_group_not_found(proc: Env) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        list(proc.compute.virtual_machine_scale_sets.list(unique("no-such-group")))
    assert raised.value.error.code == "ResourceGroupNotFound"


def test_delete_of_a_scale_set_that_does_not_exist_succeeds_with_nothing_to_do(proc: Env) -> None:
    group = proc.group("nf")
    response = proc.http.delete(proc.vmss_path(group, "no-such-scale-set"), params={"api-version": "2024-03-01"})
    assert response.status_code == 204
    assert proc.compute.virtual_machine_scale_sets.begin_delete(group, "no-such-scale-set").result() is None


def test_delete_in_an_unknown_resource_group_raises_resource_not_found_with_code_resource_group_not_found(proc: Env) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        proc.compute.virtual_machine_scale_sets.begin_delete(unique("no-such-group"), "anything")
    assert raised.value.error.code == "ResourceGroupNotFound"


def test_vm_list_of_an_unknown_scale_set_raises_resource_not_found(proc: Env) -> None:
    group = proc.group("nf")
    with pytest.raises(ResourceNotFoundError):
        list(proc.compute.virtual_machine_scale_set_vms.list(group, "no-such-scale-set"))


def test_vm_get_of_an_unknown_instance_raises_resource_not_found(proc: Env) -> None:
    group, name = proc.group("nf"), unique("nf")
    proc.create_raw(group, name, 0)
    with pytest.raises(ResourceNotFoundError) as raised:
        proc.compute.virtual_machine_scale_set_vms.get(group, name, "7")
    assert raised.value.error.code == "ResourceNotFound"


def test_action_on_an_unknown_scale_set_raises_resource_not_found(proc: Env) -> None:
    group = proc.group("nf")
    with pytest.raises(ResourceNotFoundError):
        proc.compute.virtual_machine_scale_sets.begin_restart(group, "no-such-scale-set")


def test_update_of_an_unknown_scale_set_raises_resource_not_found(proc: Env) -> None:
    group = proc.group("nf")
    with pytest.raises(ResourceNotFoundError):
        proc.compute.virtual_machine_scale_sets.begin_update(group, "no-such-scale-set", m.VirtualMachineScaleSetUpdate(sku=m.Sku(capacity=1)))


# -- 409 ---------------------------------------------------------------------------------------

def test_changing_image_offer_on_update_is_409_property_change_not_allowed_and_changes_nothing(proc: Env) -> None:
    group, name = proc.group("offer"), unique("offer")
    proc.create_raw(group, name, 0)
    path = proc.vmss_path(group, name)
    before = proc.get_raw(path).json()
    change = m.VirtualMachineScaleSetUpdate(virtual_machine_profile=m.VirtualMachineScaleSetUpdateVMProfile(
        storage_profile=m.VirtualMachineScaleSetUpdateStorageProfile(
            image_reference=m.ImageReference(image_reference(offer="SomeOtherOffer")))))
    with pytest.raises(HttpResponseError) as raised:
        proc.compute.virtual_machine_scale_sets.begin_update(group, name, change)
    assert raised.value.status_code == 409
    assert isinstance(raised.value, ResourceExistsError)
    assert raised.value.error.code == "PropertyChangeNotAllowed"
    assert "offer" in (raised.value.error.target or raised.value.error.message)
    assert _stable(proc.get_raw(path).json()) == _stable(before)


def test_changing_image_offer_in_a_full_put_is_409_property_change_not_allowed_and_changes_nothing(proc: Env) -> None:
    group, name = proc.group("offer"), unique("offer")
    proc.create_raw(group, name, 0)
    path = proc.vmss_path(group, name)
    before = proc.get_raw(path).json()
    with pytest.raises(HttpResponseError) as raised:
        proc.compute.virtual_machine_scale_sets.begin_create_or_update(
            group, name, vmss_model(0, image=image_reference(offer="SomeOtherOffer")))
    assert raised.value.status_code == 409
    assert raised.value.error.code == "PropertyChangeNotAllowed"
    assert _stable(proc.get_raw(path).json()) == _stable(before)
    assert before["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]["offer"] == OFFER


def _being_deleted(sim: Env) -> tuple[str, str]:
    """A scale set whose delete is under way: its instance is still booting (120 s) when DELETE comes."""
    group, name = sim.group("deleting"), unique("deleting")
    sim.create_raw(group, name, 1, image=sim_image_reference(SIM_SLOW_SKU))
    response = sim.http.delete(sim.vmss_path(group, name), params={"api-version": "2024-03-01"})
    assert response.status_code == 202, response.text
    return group, name


def test_action_on_a_scale_set_being_deleted_is_409_operation_not_allowed(sim: Env) -> None:
    group, name = _being_deleted(sim)
    with pytest.raises(HttpResponseError) as raised:
        sim.compute.virtual_machine_scale_sets.begin_restart(group, name)
    assert raised.value.status_code == 409
    assert raised.value.error.code == "OperationNotAllowed"


def test_update_of_a_scale_set_being_deleted_is_409_operation_not_allowed(sim: Env) -> None:
    group, name = _being_deleted(sim)
    with pytest.raises(HttpResponseError) as raised:
        sim.compute.virtual_machine_scale_sets.begin_update(group, name, m.VirtualMachineScaleSetUpdate(sku=m.Sku(capacity=3)))
    assert raised.value.status_code == 409
    assert raised.value.error.code == "OperationNotAllowed"
    got = sim.compute.virtual_machine_scale_sets.get(group, name)
    assert got.provisioning_state == "Deleting"
    assert got.sku.capacity == 1


# -- 400 ---------------------------------------------------------------------------------------

def _rolling(**policy: Any) -> dict[str, Any]:
    return {"mode": "Rolling", "rollingUpgradePolicy": policy}


# (id, body changes for vmss_json, expected target: the JSON path of the field)
INVALID_CREATES = [
    ("negative-capacity", {"capacity": -1}, "sku.capacity"),
    ("max-batch-101", {"upgrade_policy": _rolling(maxBatchInstancePercent=101)}, f"{ROLLING}.maxBatchInstancePercent"),
    ("bad-pause", {"upgrade_policy": _rolling(pauseTimeBetweenBatches="five minutes")}, f"{ROLLING}.pauseTimeBetweenBatches"),
    ("unknown-mode", {"upgrade_policy": {"mode": "Sometimes"}}, "properties.upgradePolicy.mode"),
    ("unknown-image", {"image": image_reference(publisher="NoSuchPublisher")}, IMAGE),
    ("unknown-version", {"image": image_reference(version="9.9.9")}, IMAGE),
    ("unknown-probe", {"health_probe": "PROBE"}, PROBE),
]


@pytest.mark.parametrize(("changes", "target"), [pytest.param(c, t, id=i) for i, c, t in INVALID_CREATES])
def test_invalid_create_is_400_invalid_parameter_naming_the_field_and_stores_nothing(proc: Env, changes: dict[str, Any], target: str) -> None:
    group, name = proc.group("bad"), unique("bad")
    changes = dict(changes)
    capacity = changes.pop("capacity", 1)
    if changes.get("health_probe") == "PROBE":
        changes["health_probe"] = (f"/subscriptions/{proc.sub}/resourceGroups/{group}/providers/Microsoft.Network"
                                   "/loadBalancers/no-such-lb/probes/http")
    with pytest.raises(HttpResponseError) as raised:
        proc.compute.virtual_machine_scale_sets.begin_create_or_update(group, name, vmss_model(capacity, **changes))
    error = raised.value
    assert error.status_code == 400
    assert error.error.code == "InvalidParameter"
    assert error.error.target is not None and error.error.target.lower().startswith(target.lower()), error.error.target
    with pytest.raises(ResourceNotFoundError):
        proc.compute.virtual_machine_scale_sets.get(group, name)
    assert list(proc.compute.virtual_machine_scale_sets.list(group)) == []


def test_a_health_probe_that_resolves_is_accepted(proc: Env) -> None:
    group, name = proc.group("probe"), unique("probe")
    probe = proc.load_balancer(group, unique("lb"))
    created = proc.compute.virtual_machine_scale_sets.begin_create_or_update(group, name, vmss_model(0, health_probe=probe)).result()
    assert created.virtual_machine_profile.network_profile.health_probe.id.lower() == probe.lower()


# (id, PATCH body, expected target)
INVALID_UPDATES = [
    ("negative-capacity", {"sku": {"capacity": -1}}, "sku.capacity"),
    ("max-batch-101", {"properties": {"upgradePolicy": _rolling(maxBatchInstancePercent=101)}}, f"{ROLLING}.maxBatchInstancePercent"),
    ("bad-pause", {"properties": {"upgradePolicy": _rolling(pauseTimeBetweenBatches="PT5")}}, f"{ROLLING}.pauseTimeBetweenBatches"),
    ("unknown-mode", {"properties": {"upgradePolicy": {"mode": "Sometimes"}}}, "properties.upgradePolicy.mode"),
    ("unknown-version", {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "9.9.9"}}}}}, IMAGE),
    ("unknown-probe", {"properties": {"virtualMachineProfile": {"networkProfile": {"healthProbe": {"id": "PROBE"}}}}}, PROBE),
]


@pytest.fixture(scope="module")
def target(proc: Env) -> tuple[str, str]:
    """A scale set that the invalid updates are sent to (none should change it)."""
    group, name = proc.group("badupdate"), unique("badupdate")
    proc.create_raw(group, name, 0, image=image_reference(version=APP_VERSION))
    return group, name


def _replace_probe(body: Any, probe: str) -> Any:
    if isinstance(body, dict):
        return {k: (probe if v == "PROBE" else _replace_probe(v, probe)) for k, v in body.items()}
    return body


@pytest.mark.parametrize(("patch", "field"), [pytest.param(p, t, id=i) for i, p, t in INVALID_UPDATES])
def test_invalid_update_is_400_invalid_parameter_naming_the_field_and_changes_nothing(
        proc: Env, target: tuple[str, str], patch: dict[str, Any], field: str) -> None:
    group, name = target
    path = proc.vmss_path(group, name)
    before = proc.get_raw(path).json()
    patch = _replace_probe(patch, f"/subscriptions/{proc.sub}/resourceGroups/{group}/providers/Microsoft.Network"
                                  "/loadBalancers/no-such-lb/probes/http")
    with pytest.raises(HttpResponseError) as raised:
        proc.compute.virtual_machine_scale_sets.begin_update(group, name, m.VirtualMachineScaleSetUpdate(patch))
    error = raised.value
    assert error.status_code == 400
    assert error.error.code == "InvalidParameter"
    assert error.error.target is not None and error.error.target.lower().startswith(field.lower()), error.error.target
    assert _stable(proc.get_raw(path).json()) == _stable(before)


def test_manual_upgrade_of_an_unknown_instance_is_400_invalid_parameter(proc: Env, target: tuple[str, str]) -> None:
    group, name = target
    with pytest.raises(HttpResponseError) as raised:
        proc.compute.virtual_machine_scale_sets.begin_update_instances(
            group, name, m.VirtualMachineScaleSetVMInstanceRequiredIDs(instance_ids=["42"]))
    assert raised.value.status_code == 400
    assert raised.value.error.code == "InvalidParameter"


def test_vm_list_with_an_unsupported_filter_is_400_invalid_parameter(proc: Env, target: tuple[str, str]) -> None:
    group, name = target
    with pytest.raises(HttpResponseError) as raised:
        list(proc.compute.virtual_machine_scale_set_vms.list(group, name, filter="properties/vmId eq 'x'"))
    assert raised.value.status_code == 400
    assert raised.value.error.code == "InvalidParameter"


def test_create_without_location_is_400_invalid_parameter_and_stores_nothing(proc: Env) -> None:
    group, name = proc.group("bad"), unique("bad")
    body = vmss_json(0)
    del body["location"]
    response = proc.put_raw(proc.vmss_path(group, name), body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidParameter"
    assert response.json()["error"]["target"] == "location"
    assert proc.get_raw(proc.vmss_path(group, name)).status_code == 404


# -- a long-running operation that fails -------------------------------------------------------

def test_a_create_whose_instances_fail_raises_from_the_poller_and_leaves_the_scale_set_failed(sim: Env) -> None:
    group, name = sim.group("broken"), unique("broken")
    poller = sim.compute.virtual_machine_scale_sets.begin_create_or_update(
        group, name, vmss_model(1, image=sim_image_reference(SIM_BROKEN_SKU)))
    with pytest.raises(HttpResponseError) as raised:
        poller.result()
    assert raised.value.error is not None and raised.value.error.code
    assert poller.status().lower() == "failed"
    got = sim.compute.virtual_machine_scale_sets.get(group, name)
    assert got.provisioning_state == "Failed"
    view = sim.compute.virtual_machine_scale_set_vms.get_instance_view(group, name, "0")
    assert any(code.startswith("ProvisioningState/failed") for code in [s.code for s in view.statuses])


# -- 401 ---------------------------------------------------------------------------------------

def test_a_wrong_token_raises_client_authentication_error(proc: Env) -> None:
    with compute_client(proc.server, token="not-the-token") as client:
        with pytest.raises(ClientAuthenticationError) as raised:
            list(client.virtual_machine_scale_sets.list_all())
        assert raised.value.status_code == 401
        with pytest.raises(ClientAuthenticationError):
            client.virtual_machine_scale_sets.get(proc.group("auth"), "anything")


def test_a_request_without_authorization_is_401(proc: Env) -> None:
    response = proc.http.get(f"/subscriptions/{proc.sub}/providers/Microsoft.Compute/virtualMachineScaleSets",
                             params={"api-version": "2024-03-01"}, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["error"]["code"]
