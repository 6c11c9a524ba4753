"""Actions on scale sets and on single instances, through the SDK's `begin_*` methods.

Every test acts on a scale set of its own. They are created together up front (the SDK's pollers
run side by side), which costs one LRO instead of one per test.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute import models as m

from tests.compat.conftest import (
    APP_VERSION,
    Env,
    image_reference,
    power_state,
    power_states,
    statuses,
    unique,
    vms_by_id,
    vmss_model,
)

# test -> capacity of its scale set
CAPACITIES = {
    "reimage": 2, "reimage_all": 2, "update_instances": 2, "power_off_start": 2, "restart": 2, "deallocate": 2,
    "delete_instances": 3,
    "vm_reimage": 2, "vm_reimage_all": 2, "vm_power_off_start": 2, "vm_restart": 1, "vm_deallocate": 2, "vm_delete": 3,
}


@pytest.fixture(scope="module")
def sets(proc: Env) -> dict[str, tuple[str, str]]:
    """One running scale set per test: name -> (resource group, scale set name)."""
    group = proc.group("actions")
    pollers = {}
    for purpose, capacity in CAPACITIES.items():
        name = unique(purpose.replace("_", "-"))
        pollers[purpose] = (name, proc.compute.virtual_machine_scale_sets.begin_create_or_update(group, name, vmss_model(capacity)))
    made = {}
    for purpose, (name, poller) in pollers.items():
        assert poller.result().provisioning_state == "Succeeded"
        made[purpose] = (group, name)
    return made


def _all_running_and_succeeded(proc: Env, group: str, name: str) -> None:
    for instance_id, vm in vms_by_id(proc, group, name, expand="instanceView").items():
        assert "ProvisioningState/succeeded" in statuses(vm.instance_view), instance_id
        assert power_state(vm.instance_view) == "PowerState/running", instance_id
        assert vm.provisioning_state == "Succeeded", instance_id


# -- scale set actions -------------------------------------------------------------------------

def _vm_ids(proc: Env, group: str, name: str) -> dict[str, str]:
    return {instance_id: vm.vm_id for instance_id, vm in vms_by_id(proc, group, name).items()}


def test_reimage_of_the_scale_set_leaves_every_instance_provisioned_and_running(proc: Env, sets: dict) -> None:
    group, name = sets["reimage"]
    before = _vm_ids(proc, group, name)
    poller = proc.compute.virtual_machine_scale_sets.begin_reimage(group, name)
    assert poller.result() is None
    assert poller.status().lower() == "succeeded"
    _all_running_and_succeeded(proc, group, name)
    assert _vm_ids(proc, group, name) == before  # a reimage keeps the machines, only their OS disk is new
    assert {vm.storage_profile.image_reference.exact_version for vm in vms_by_id(proc, group, name).values()} == {APP_VERSION}


def test_reimage_of_named_instances_through_reimage_parameters_succeeds(proc: Env, sets: dict) -> None:
    group, name = sets["reimage"]
    poller = proc.compute.virtual_machine_scale_sets.begin_reimage(
        group, name, m.VirtualMachineScaleSetReimageParameters(instance_ids=["1"]))
    poller.result()
    assert poller.status().lower() == "succeeded"
    _all_running_and_succeeded(proc, group, name)


def test_reimage_all_of_the_scale_set_leaves_every_instance_provisioned_and_running(proc: Env, sets: dict) -> None:
    group, name = sets["reimage_all"]
    before = _vm_ids(proc, group, name)
    poller = proc.compute.virtual_machine_scale_sets.begin_reimage_all(group, name)
    assert poller.result() is None
    assert poller.status().lower() == "succeeded"
    _all_running_and_succeeded(proc, group, name)
    assert _vm_ids(proc, group, name) == before


def test_update_instances_brings_outdated_instances_to_the_latest_model(proc: Env, sets: dict) -> None:
    group, name = sets["update_instances"]
    vmss, vms = proc.compute.virtual_machine_scale_sets, proc.compute.virtual_machine_scale_set_vms
    outdated = "properties/latestModelApplied eq false"
    current = "properties/latestModelApplied eq true"
    assert list(vms.list(group, name, filter=outdated)) == []

    # A model change in Manual mode (pin the image version) leaves every instance outdated.
    change = m.VirtualMachineScaleSetUpdate(virtual_machine_profile=m.VirtualMachineScaleSetUpdateVMProfile(
        storage_profile=m.VirtualMachineScaleSetUpdateStorageProfile(
            image_reference=m.ImageReference(image_reference(version=APP_VERSION)))))
    vmss.begin_update(group, name, change).result()
    stale = list(vms.list(group, name, filter=outdated))
    assert sorted(vm.instance_id for vm in stale) == ["0", "1"]
    assert all(vm.latest_model_applied is False for vm in stale)
    assert list(vms.list(group, name, filter=current)) == []

    vmss.begin_update_instances(group, name, m.VirtualMachineScaleSetVMInstanceRequiredIDs(instance_ids=["0"])).result()
    assert [vm.instance_id for vm in vms.list(group, name, filter=outdated)] == ["1"]
    assert [vm.instance_id for vm in vms.list(group, name, filter=current)] == ["0"]

    vmss.begin_update_instances(group, name, m.VirtualMachineScaleSetVMInstanceRequiredIDs(instance_ids=["1"])).result()
    assert list(vms.list(group, name, filter=outdated)) == []
    assert all(vm.latest_model_applied is True for vm in vms.list(group, name))
    _all_running_and_succeeded(proc, group, name)


def test_power_off_stops_every_instance_and_start_runs_them_again(proc: Env, sets: dict) -> None:
    group, name = sets["power_off_start"]
    vmss = proc.compute.virtual_machine_scale_sets
    vmss.begin_power_off(group, name).result()
    assert set(power_states(proc, group, name).values()) == {"PowerState/stopped"}

    vmss.begin_start(group, name).result()
    assert set(power_states(proc, group, name).values()) == {"PowerState/running"}


def test_restart_leaves_every_instance_running(proc: Env, sets: dict) -> None:
    group, name = sets["restart"]
    poller = proc.compute.virtual_machine_scale_sets.begin_restart(group, name)
    poller.result()
    assert poller.status().lower() == "succeeded"
    assert set(power_states(proc, group, name).values()) == {"PowerState/running"}


def test_deallocate_leaves_every_instance_deallocated(proc: Env, sets: dict) -> None:
    group, name = sets["deallocate"]
    proc.compute.virtual_machine_scale_sets.begin_deallocate(group, name).result()
    assert set(power_states(proc, group, name).values()) == {"PowerState/deallocated"}
    view = proc.compute.virtual_machine_scale_sets.get_instance_view(group, name)
    assert sum(s.count for s in view.virtual_machine.statuses_summary if s.code == "ProvisioningState/succeeded") == 2


def test_delete_instances_removes_them_and_lowers_capacity(proc: Env, sets: dict) -> None:
    group, name = sets["delete_instances"]
    vmss = proc.compute.virtual_machine_scale_sets
    assert sorted(vms_by_id(proc, group, name)) == ["0", "1", "2"]
    vmss.begin_delete_instances(group, name, m.VirtualMachineScaleSetVMInstanceRequiredIDs(instance_ids=["1"])).result()
    assert sorted(vms_by_id(proc, group, name)) == ["0", "2"]
    assert vmss.get(group, name).sku.capacity == 2


# -- single-instance actions -------------------------------------------------------------------

def test_vm_reimage_reimages_one_instance_and_leaves_it_running(proc: Env, sets: dict) -> None:
    group, name = sets["vm_reimage"]
    before = _vm_ids(proc, group, name)
    poller = proc.compute.virtual_machine_scale_set_vms.begin_reimage(group, name, "1")
    assert poller.result() is None
    assert poller.status().lower() == "succeeded"
    _all_running_and_succeeded(proc, group, name)
    assert _vm_ids(proc, group, name) == before


def test_vm_reimage_all_reimages_one_instance_and_leaves_it_running(proc: Env, sets: dict) -> None:
    group, name = sets["vm_reimage_all"]
    poller = proc.compute.virtual_machine_scale_set_vms.begin_reimage_all(group, name, "0")
    assert poller.result() is None
    assert poller.status().lower() == "succeeded"
    _all_running_and_succeeded(proc, group, name)


def test_vm_power_off_stops_only_that_instance_and_vm_start_runs_it_again(proc: Env, sets: dict) -> None:
    group, name = sets["vm_power_off_start"]
    vms = proc.compute.virtual_machine_scale_set_vms
    vms.begin_power_off(group, name, "1").result()
    assert power_states(proc, group, name) == {"0": "PowerState/running", "1": "PowerState/stopped"}
    assert power_state(vms.get_instance_view(group, name, "1")) == "PowerState/stopped"

    vms.begin_start(group, name, "1").result()
    assert power_states(proc, group, name) == {"0": "PowerState/running", "1": "PowerState/running"}


def test_vm_restart_leaves_the_instance_running(proc: Env, sets: dict) -> None:
    group, name = sets["vm_restart"]
    poller = proc.compute.virtual_machine_scale_set_vms.begin_restart(group, name, "0")
    poller.result()
    assert poller.status().lower() == "succeeded"
    assert power_states(proc, group, name) == {"0": "PowerState/running"}


def test_vm_deallocate_deallocates_only_that_instance(proc: Env, sets: dict) -> None:
    group, name = sets["vm_deallocate"]
    proc.compute.virtual_machine_scale_set_vms.begin_deallocate(group, name, "0").result()
    assert power_states(proc, group, name) == {"0": "PowerState/deallocated", "1": "PowerState/running"}


def test_vm_action_on_an_unknown_instance_raises_resource_not_found(proc: Env, sets: dict) -> None:
    group, name = sets["vm_restart"]
    with pytest.raises(ResourceNotFoundError):
        proc.compute.virtual_machine_scale_set_vms.begin_restart(group, name, "99")
    with pytest.raises(ResourceNotFoundError):
        proc.compute.virtual_machine_scale_set_vms.begin_delete(group, name, "99")


def test_vm_delete_removes_the_instance_and_lowers_capacity(proc: Env, sets: dict) -> None:
    group, name = sets["vm_delete"]
    proc.compute.virtual_machine_scale_set_vms.begin_delete(group, name, "2").result()
    assert sorted(vms_by_id(proc, group, name)) == ["0", "1"]
    assert proc.compute.virtual_machine_scale_sets.get(group, name).sku.capacity == 2
