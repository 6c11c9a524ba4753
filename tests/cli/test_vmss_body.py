from __future__ import annotations

import base64

from scaleset.cli.urn import parse_urn
from scaleset.cli.vmss_body import build_scale_set, default_computer_name_prefix

IMAGE = parse_urn("Canonical:UbuntuServer:16.04-LTS:latest")


def test_minimal_body_has_the_arm_shape() -> None:
    body = build_scale_set(name="web", location="westeurope", image=IMAGE, capacity=2)
    assert body == {
        "location": "westeurope",
        "sku": {"name": "Standard_DS1_v2", "tier": "Standard", "capacity": 2},
        "properties": {
            "upgradePolicy": {"mode": "Manual"},
            "virtualMachineProfile": {
                "osProfile": {"computerNamePrefix": "web", "adminUsername": "azureuser"},
                "storageProfile": {
                    "imageReference": {
                        "publisher": "Canonical",
                        "offer": "UbuntuServer",
                        "sku": "16.04-LTS",
                        "version": "latest",
                    },
                    "osDisk": {"createOption": "FromImage"},
                    "dataDisks": [],
                },
                "networkProfile": {
                    "networkInterfaceConfigurations": [
                        {
                            "name": "webNic",
                            "properties": {
                                "primary": True,
                                "ipConfigurations": [{"name": "webIPConfig", "properties": {}}],
                            },
                        }
                    ]
                },
            },
        },
    }


def test_every_option_lands_in_its_place() -> None:
    body = build_scale_set(
        name="web",
        location="westeurope",
        image=IMAGE,
        capacity=5,
        vm_sku="Standard_B1s",
        upgrade_mode="Rolling",
        computer_name_prefix="w",
        admin_username="ops",
        admin_password="s3cret!",
        custom_data=b"#!/bin/sh\necho hi\n",
        health_probe="/subscriptions/s/probes/p",
        zones=["1", "3"],
        data_disk_sizes_gb=[8, 16],
        enable_auto_os_upgrade=True,
    )
    profile = body["properties"]["virtualMachineProfile"]
    assert body["sku"] == {"name": "Standard_B1s", "tier": "Standard", "capacity": 5}
    assert body["zones"] == ["1", "3"]
    assert body["properties"]["upgradePolicy"] == {
        "mode": "Rolling",
        "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True},
    }
    assert profile["osProfile"] == {
        "computerNamePrefix": "w",
        "adminUsername": "ops",
        "adminPassword": "s3cret!",
        "customData": base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
    }
    assert profile["storageProfile"]["dataDisks"] == [
        {"lun": 0, "createOption": "Empty", "diskSizeGB": 8},
        {"lun": 1, "createOption": "Empty", "diskSizeGB": 16},
    ]
    assert profile["networkProfile"]["healthProbe"] == {"id": "/subscriptions/s/probes/p"}


def test_auto_os_upgrade_false_is_sent_explicitly() -> None:
    body = build_scale_set(
        name="web", location="l", image=IMAGE, capacity=1, enable_auto_os_upgrade=False
    )
    assert body["properties"]["upgradePolicy"]["automaticOSUpgradePolicy"] == {
        "enableAutomaticOSUpgrade": False
    }


def test_default_computer_name_prefix_is_short_and_clean() -> None:
    assert default_computer_name_prefix("my_scale.set-number-one") == "myscalese"
    assert default_computer_name_prefix("___") == "vmss"
