"""The ARM body `vmss create` sends: a pure function of the flags, so it can be tested alone."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

from scaleset.cli.urn import ImageUrn

UPGRADE_MODES = ("Manual", "Automatic", "Rolling")
DEFAULT_VM_SKU = "Standard_DS1_v2"
DEFAULT_ADMIN_USERNAME = "azureuser"


def default_computer_name_prefix(scale_set_name: str) -> str:
    # Windows allows 15 characters for a computer name and the scale set appends 6: keep 9.
    cleaned = re.sub(r"[^A-Za-z0-9-]", "", scale_set_name)
    return cleaned[:9] or "vmss"


def build_scale_set(
    *,
    name: str,
    location: str,
    image: ImageUrn,
    capacity: int,
    vm_sku: str = DEFAULT_VM_SKU,
    upgrade_mode: str = "Manual",
    computer_name_prefix: str | None = None,
    admin_username: str = DEFAULT_ADMIN_USERNAME,
    admin_password: str | None = None,
    custom_data: bytes | None = None,
    health_probe: str | None = None,
    zones: Sequence[str] = (),
    data_disk_sizes_gb: Sequence[int] = (),
    enable_auto_os_upgrade: bool | None = None,
) -> dict[str, Any]:
    prefix = computer_name_prefix or default_computer_name_prefix(name)

    upgrade_policy: dict[str, Any] = {"mode": upgrade_mode}
    if enable_auto_os_upgrade is not None:
        upgrade_policy["automaticOSUpgradePolicy"] = {
            "enableAutomaticOSUpgrade": enable_auto_os_upgrade
        }

    os_profile: dict[str, Any] = {"computerNamePrefix": prefix, "adminUsername": admin_username}
    if admin_password is not None:
        os_profile["adminPassword"] = admin_password
    if custom_data is not None:
        # ARM carries custom data base64-encoded; the server hands the decoded bytes to the machine.
        os_profile["customData"] = base64.b64encode(custom_data).decode("ascii")

    network_profile: dict[str, Any] = {
        "networkInterfaceConfigurations": [
            {
                "name": f"{prefix}Nic",
                "properties": {
                    "primary": True,
                    "ipConfigurations": [{"name": f"{prefix}IPConfig", "properties": {}}],
                },
            }
        ]
    }
    if health_probe:
        network_profile["healthProbe"] = {"id": health_probe}

    body: dict[str, Any] = {
        "location": location,
        "sku": {"name": vm_sku, "tier": "Standard", "capacity": capacity},
        "properties": {
            "upgradePolicy": upgrade_policy,
            "virtualMachineProfile": {
                "osProfile": os_profile,
                "storageProfile": {
                    "imageReference": image.image_reference(),
                    "osDisk": {"createOption": "FromImage"},
                    "dataDisks": [
                        {"lun": lun, "createOption": "Empty", "diskSizeGB": size}
                        for lun, size in enumerate(data_disk_sizes_gb)
                    ],
                },
                "networkProfile": network_profile,
            },
        },
    }
    if zones:
        body["zones"] = list(zones)
    return body
