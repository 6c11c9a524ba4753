"""The domain view of a stored scale set body: defaults, case-insensitive enums, computer names."""

from __future__ import annotations

import base64

import pytest

from scaleset.model.image_reference import ImageReference
from scaleset.model.scale_set import ExtensionModel, ScaleSetModel, canonical, computer_name

FULL = {
    "location": "westus",
    "sku": {"name": "Standard_D1_v2", "tier": "Standard", "capacity": 3},
    "zones": ["1", 2],
    "properties": {
        "platformFaultDomainCount": 2,
        "upgradePolicy": {"mode": "rolling", "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}},
        "virtualMachineProfile": {
            "osProfile": {"computerNamePrefix": "web", "customData": base64.b64encode(b"#cloud-config\n").decode()},
            "storageProfile": {
                "imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "1.0.0"},
                "dataDisks": [{"lun": 3, "createOption": "Empty"}, {"lun": 1, "createOption": "Empty"}],
            },
            "networkProfile": {"healthProbe": {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/loadBalancers/lb/probes/p"}},
            "extensionProfile": {"extensions": [
                {"name": "health", "properties": {"publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
                                                   "typeHandlerVersion": "1.0", "settings": {"port": 80}}},
                {"name": "app", "properties": {"publisher": "Contoso", "type": "App", "provisionAfterExtensions": ["health"]}},
            ]},
        },
    },
}


def test_an_empty_body_reads_as_documented_defaults() -> None:
    model = ScaleSetModel.from_body("myvmss", {})
    assert model == ScaleSetModel(
        capacity=0, sku_name="Standard_DS1_v2", zones=(), upgrade_mode="Manual", automatic_os_upgrade=False,
        image=ImageReference("", "", "", "latest"), health_probe_id=None, computer_name_prefix="myvmss",
        custom_data=None, data_disk_luns=(), extensions=(), fault_domain_count=5,
    )


def test_null_sections_read_as_defaults_too() -> None:
    body = {"sku": None, "zones": None, "properties": {"upgradePolicy": None, "virtualMachineProfile": None}}
    model = ScaleSetModel.from_body("myvmss", body)
    assert (model.capacity, model.upgrade_mode, model.image.version, model.extensions) == (0, "Manual", "latest", ())


def test_a_full_body_is_read_field_by_field() -> None:
    model = ScaleSetModel.from_body("myvmss", FULL)
    assert model.capacity == 3
    assert model.sku_name == "Standard_D1_v2"
    assert model.zones == ("1", "2")
    assert model.upgrade_mode == "Rolling"  # canonical spelling of a case-insensitive enum
    assert model.automatic_os_upgrade is True
    assert model.image == ImageReference("Canonical", "UbuntuServer", "18.04-LTS", "1.0.0")
    assert model.health_probe_id.endswith("/probes/p")  # type: ignore[union-attr]
    assert model.computer_name_prefix == "web"
    assert model.custom_data == b"#cloud-config\n"
    assert model.data_disk_luns == (1, 3)  # sorted
    assert model.fault_domain_count == 2
    assert model.extensions == (
        ExtensionModel("health", "Microsoft.ManagedServices", "ApplicationHealthLinux", "1.0", {"port": 80}, ()),
        ExtensionModel("app", "Contoso", "App", "", {}, ("health",)),
    )


def test_reading_does_not_change_the_body() -> None:
    import copy

    before = copy.deepcopy(FULL)
    ScaleSetModel.from_body("myvmss", FULL)
    assert FULL == before


def test_the_default_prefix_is_the_name_cut_so_computer_names_fit_fifteen_characters() -> None:
    model = ScaleSetModel.from_body("averyveryverylongname", {})
    assert model.computer_name_prefix == "averyvery"
    assert len(computer_name(model.computer_name_prefix, 0)) == 15


def test_an_explicit_prefix_the_wire_accepts_is_kept_whole() -> None:
    """wire.OsProfile accepts a computerNamePrefix of up to 58 characters (64 minus the 6-digit suffix);
    whatever it accepts must name the machines, not a silently shortened copy."""
    body = {"properties": {"virtualMachineProfile": {"osProfile": {"computerNamePrefix": "a" * 20}}}}
    model = ScaleSetModel.from_body("web", body)
    assert computer_name(model.computer_name_prefix, 0) == "a" * 20 + "000000"


@pytest.mark.parametrize(("given", "expected"), [("automatic", "Automatic"), ("MANUAL", "Manual"), ("Rolling", "Rolling")])
def test_upgrade_modes_are_case_insensitive(given: str, expected: str) -> None:
    body = {"properties": {"upgradePolicy": {"mode": given}}}
    assert ScaleSetModel.from_body("s", body).upgrade_mode == expected


def test_canonical_keeps_an_unknown_value_as_given() -> None:
    assert canonical("Sometimes", ("Automatic", "Manual")) == "Sometimes"


@pytest.mark.parametrize(
    ("instance_id", "name"),
    [(0, "prefix000000"), (1, "prefix000001"), (10, "prefix00000a"), (35, "prefix00000z"), (36, "prefix000010"),
     (36 * 36, "prefix000100"), (36**6 - 1, "prefixzzzzzz")],
)
def test_computer_names_are_prefix_and_six_base36_digits(instance_id: int, name: str) -> None:
    assert computer_name("prefix", instance_id) == name


def test_computer_names_are_distinct_per_instance() -> None:
    names = {computer_name("vm", i) for i in range(5000)}
    assert len(names) == 5000
    assert all(len(n) == 8 for n in names)
