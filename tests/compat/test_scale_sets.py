"""Scale set lifecycle through the SDK: create, read, list, instance views, scale, delete.

Read-only tests share one scale set of three real instances (`fleet`); tests that change a scale
set make their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute import models as m

from tests.compat.conftest import (
    APP_VERSION,
    COMPUTE,
    LOCATION,
    OFFER,
    PUBLISHER,
    SKU,
    Env,
    image_reference,
    power_state,
    statuses,
    unique,
    vms_by_id,
)

FLEET_CAPACITY = 3


@dataclass
class Fleet:
    group: str
    name: str
    created: m.VirtualMachineScaleSet  # what begin_create_or_update(...).result() returned


@pytest.fixture(scope="module")
def fleet(proc: Env) -> Fleet:
    group = proc.group("fleet")
    name = unique("fleet")
    created = proc.create(group, name, FLEET_CAPACITY)
    return Fleet(group, name, created)


# -- create and read ---------------------------------------------------------------------------

def test_create_or_update_result_is_a_succeeded_scale_set_with_the_requested_model(proc: Env, fleet: Fleet) -> None:
    created = fleet.created
    assert isinstance(created, m.VirtualMachineScaleSet)
    assert created.provisioning_state == "Succeeded"
    assert created.name == fleet.name
    assert created.id.lower() == proc.vmss_id(fleet.group, fleet.name).lower()
    assert created.type == COMPUTE
    assert created.location == LOCATION
    assert created.sku.capacity == FLEET_CAPACITY
    ref = created.virtual_machine_profile.storage_profile.image_reference
    assert (ref.publisher, ref.offer, ref.sku, ref.version) == (PUBLISHER, OFFER, SKU, "latest")
    assert created.unique_id


def test_vm_list_gives_every_instance_named_after_the_scale_set_on_the_exact_image_and_latest_model(proc: Env, fleet: Fleet) -> None:
    vms = list(proc.compute.virtual_machine_scale_set_vms.list(fleet.group, fleet.name))
    assert len(vms) == FLEET_CAPACITY
    assert len({vm.instance_id for vm in vms}) == FLEET_CAPACITY
    for vm in vms:
        assert isinstance(vm.instance_id, str)
        assert vm.name == f"{fleet.name}_{vm.instance_id}"
        assert vm.id.lower() == f"{proc.vmss_id(fleet.group, fleet.name)}/virtualMachines/{vm.instance_id}".lower()
        assert vm.type == f"{COMPUTE}/virtualMachines"
        assert vm.storage_profile.image_reference.exact_version == APP_VERSION
        assert vm.latest_model_applied is True
        assert vm.provisioning_state == "Succeeded"


def test_vm_list_with_expand_instance_view_shows_provisioning_succeeded_power_running_and_int_domains(proc: Env, fleet: Fleet) -> None:
    vms = list(proc.compute.virtual_machine_scale_set_vms.list(fleet.group, fleet.name, expand="instanceView"))
    assert len(vms) == FLEET_CAPACITY
    for vm in vms:
        view = vm.instance_view
        assert view is not None
        assert "ProvisioningState/succeeded" in statuses(view)
        assert power_state(view) == "PowerState/running"
        assert type(view.platform_update_domain) is int
        assert type(view.platform_fault_domain) is int


def test_vm_list_without_expand_carries_no_instance_view(proc: Env, fleet: Fleet) -> None:
    vms = list(proc.compute.virtual_machine_scale_set_vms.list(fleet.group, fleet.name))
    assert all(vm.instance_view is None for vm in vms)


def test_get_returns_the_scale_set_with_typed_time_created_and_capacity(proc: Env, fleet: Fleet) -> None:
    got = proc.compute.virtual_machine_scale_sets.get(fleet.group, fleet.name)
    assert got.name == fleet.name
    assert got.provisioning_state == "Succeeded"
    assert type(got.sku.capacity) is int and got.sku.capacity == FLEET_CAPACITY
    assert isinstance(got.time_created, datetime)
    raw = proc.get_raw(proc.vmss_path(fleet.group, fleet.name)).json()
    assert type(raw["sku"]["capacity"]) is int
    assert isinstance(raw["properties"]["timeCreated"], str)
    assert datetime.fromisoformat(raw["properties"]["timeCreated"]).tzinfo is not None


def test_get_shows_automatic_os_upgrade_disabled_when_the_client_never_set_it(proc: Env, fleet: Fleet) -> None:
    got = proc.compute.virtual_machine_scale_sets.get(fleet.group, fleet.name)
    assert got.upgrade_policy.automatic_os_upgrade_policy.enable_automatic_os_upgrade is False
    raw = proc.get_raw(proc.vmss_path(fleet.group, fleet.name)).json()
    assert raw["properties"]["upgradePolicy"]["automaticOSUpgradePolicy"]["enableAutomaticOSUpgrade"] is False


def test_get_instance_view_of_the_scale_set_counts_every_instance_as_provisioned(proc: Env, fleet: Fleet) -> None:
    view = proc.compute.virtual_machine_scale_sets.get_instance_view(fleet.group, fleet.name)
    assert isinstance(view, m.VirtualMachineScaleSetInstanceView)
    summary = {item.code: item.count for item in view.virtual_machine.statuses_summary}
    assert summary.get("ProvisioningState/succeeded") == FLEET_CAPACITY
    assert all(type(count) is int for count in summary.values())
    assert sum(n for code, n in summary.items() if code.startswith("ProvisioningState/")) == FLEET_CAPACITY
    assert "ProvisioningState/succeeded" in statuses(view)


def test_vm_get_returns_one_instance_with_a_string_instance_id(proc: Env, fleet: Fleet) -> None:
    first = next(iter(proc.compute.virtual_machine_scale_set_vms.list(fleet.group, fleet.name)))
    vm = proc.compute.virtual_machine_scale_set_vms.get(fleet.group, fleet.name, first.instance_id)
    assert isinstance(vm, m.VirtualMachineScaleSetVM)
    assert type(vm.instance_id) is str and vm.instance_id == first.instance_id
    assert vm.name == f"{fleet.name}_{vm.instance_id}"
    assert vm.storage_profile.image_reference.exact_version == APP_VERSION
    raw = proc.get_raw(f"{proc.vmss_path(fleet.group, fleet.name)}/virtualMachines/{vm.instance_id}").json()
    assert type(raw["instanceId"]) is str


def test_vm_get_instance_view_shows_running_instance_with_int_update_and_fault_domains(proc: Env, fleet: Fleet) -> None:
    vm_ids = sorted(vms_by_id(proc, fleet.group, fleet.name))
    for instance_id in vm_ids:
        view = proc.compute.virtual_machine_scale_set_vms.get_instance_view(fleet.group, fleet.name, instance_id)
        assert isinstance(view, m.VirtualMachineScaleSetVMInstanceView)
        assert statuses(view)[0] == "ProvisioningState/succeeded"
        assert power_state(view) == "PowerState/running"
        assert type(view.platform_update_domain) is int
        assert type(view.platform_fault_domain) is int
        raw = proc.get_raw(f"{proc.vmss_path(fleet.group, fleet.name)}/virtualMachines/{instance_id}/instanceView").json()
        assert type(raw["platformUpdateDomain"]) is int
        assert type(raw["platformFaultDomain"]) is int


def test_vm_get_with_expand_instance_view_includes_the_instance_view(proc: Env, fleet: Fleet) -> None:
    vm = proc.compute.virtual_machine_scale_set_vms.get(fleet.group, fleet.name, "0", expand="instanceView")
    assert vm.instance_view is not None
    assert power_state(vm.instance_view) == "PowerState/running"


def test_vm_created_time_is_a_datetime(proc: Env, fleet: Fleet) -> None:
    vm = proc.compute.virtual_machine_scale_set_vms.get(fleet.group, fleet.name, "0")
    assert isinstance(vm.time_created, datetime)
    raw = proc.get_raw(f"{proc.vmss_path(fleet.group, fleet.name)}/virtualMachines/0").json()
    assert datetime.fromisoformat(raw["properties"]["timeCreated"]).tzinfo is not None


def test_paths_and_names_match_case_insensitively(proc: Env, fleet: Fleet) -> None:
    got = proc.compute.virtual_machine_scale_sets.get(fleet.group.upper(), fleet.name.upper())
    assert got.name == fleet.name
    path = (f"/SUBSCRIPTIONS/{proc.sub}/RESOURCEGROUPS/{fleet.group.upper()}/providers/microsoft.compute"
            f"/VIRTUALMACHINESCALESETS/{fleet.name.upper()}/VIRTUALMACHINES/0")
    response = proc.get_raw(path)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == f"{fleet.name}_0"


# -- lists -------------------------------------------------------------------------------------

def test_list_in_a_resource_group_gives_only_that_groups_scale_sets(proc: Env, fleet: Fleet) -> None:
    names = [s.name for s in proc.compute.virtual_machine_scale_sets.list(fleet.group)]
    assert names == [fleet.name]
    empty = proc.group("empty")
    assert list(proc.compute.virtual_machine_scale_sets.list(empty)) == []


def test_list_all_gives_the_scale_sets_of_every_group_in_the_subscription(proc: Env, fleet: Fleet) -> None:
    other_group, other_name = proc.group("other"), unique("other")
    proc.create_raw(other_group, other_name, 0)
    found = {s.id.lower(): s for s in proc.compute.virtual_machine_scale_sets.list_all()}
    assert proc.vmss_id(fleet.group, fleet.name).lower() in found
    assert proc.vmss_id(other_group, other_name).lower() in found
    assert all(isinstance(s, m.VirtualMachineScaleSet) for s in found.values())


# -- update (PATCH) and full PUT ----------------------------------------------------------------

def test_update_of_capacity_scales_out_then_in_removing_the_highest_instance_ids(proc: Env) -> None:
    group, name = proc.group("scale"), unique("scale")
    proc.create(group, name, 1)
    sets = proc.compute.virtual_machine_scale_sets

    grown = sets.begin_update(group, name, m.VirtualMachineScaleSetUpdate(sku=m.Sku(capacity=3))).result()
    assert grown.sku.capacity == 3
    assert grown.provisioning_state == "Succeeded"
    vms = vms_by_id(proc, group, name, expand="instanceView")
    assert sorted(vms) == ["0", "1", "2"]
    assert all(power_state(vm.instance_view) == "PowerState/running" for vm in vms.values())

    shrunk = sets.begin_update(group, name, m.VirtualMachineScaleSetUpdate(sku=m.Sku(capacity=1))).result()
    assert shrunk.sku.capacity == 1
    assert sorted(vms_by_id(proc, group, name)) == ["0"]
    assert sets.get(group, name).sku.capacity == 1


def test_put_without_image_reference_keeps_the_stored_image_reference(proc: Env) -> None:
    """`az vmss update` GETs the scale set and PUTs it back without storageProfile.imageReference."""
    group, name = proc.group("keepimg"), unique("keepimg")
    proc.create_raw(group, name, 0, image=image_reference(version=APP_VERSION))
    path = proc.vmss_path(group, name)
    before = proc.get_raw(path).json()
    stored_ref = before["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]

    body = before
    del body["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]
    body.setdefault("tags", {})["touched"] = "yes"
    response = proc.put_raw(path, body)
    assert response.status_code == 200, response.text

    after = proc.get_raw(path).json()
    assert after["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"] == stored_ref
    assert after["tags"] == {"touched": "yes"}
    via_sdk = proc.compute.virtual_machine_scale_sets.get(group, name).virtual_machine_profile.storage_profile.image_reference
    assert (via_sdk.publisher, via_sdk.offer, via_sdk.sku, via_sdk.version) == (PUBLISHER, OFFER, SKU, APP_VERSION)


def test_put_on_an_existing_scale_set_through_the_sdk_updates_it(proc: Env) -> None:
    group, name = proc.group("reput"), unique("reput")
    proc.create_raw(group, name, 0)
    sets = proc.compute.virtual_machine_scale_sets
    current = sets.get(group, name)
    current.tags = {"env": "compat"}
    updated = sets.begin_create_or_update(group, name, current).result()
    assert updated.tags == {"env": "compat"}
    assert updated.provisioning_state == "Succeeded"
    assert sets.get(group, name).tags == {"env": "compat"}


# -- delete ------------------------------------------------------------------------------------

def test_delete_removes_the_scale_set_and_its_instances(proc: Env) -> None:
    group, name = proc.group("delete"), unique("delete")
    proc.create(group, name, 2)
    proc.compute.virtual_machine_scale_sets.begin_delete(group, name).result()

    with pytest.raises(ResourceNotFoundError):
        proc.compute.virtual_machine_scale_sets.get(group, name)
    with pytest.raises(ResourceNotFoundError):
        list(proc.compute.virtual_machine_scale_set_vms.list(group, name))
    assert list(proc.compute.virtual_machine_scale_sets.list(group)) == []
