"""The parts of a scale set the control plane acts on, read from the stored ARM body.

The body itself keeps every property the client sent (round-trip fidelity); this view is what the
domain needs, typed. Enum values compare case-insensitively, as ARM does.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from scaleset.model.image_reference import ImageReference

UPGRADE_MODES = ("Automatic", "Manual", "Rolling")


@dataclass(frozen=True)
class ExtensionModel:
    name: str
    publisher: str
    type: str
    type_handler_version: str
    settings: dict[str, Any]
    provision_after: tuple[str, ...]


@dataclass(frozen=True)
class ScaleSetModel:
    capacity: int
    sku_name: str
    zones: tuple[str, ...]
    upgrade_mode: str
    automatic_os_upgrade: bool
    image: ImageReference
    health_probe_id: str | None
    computer_name_prefix: str
    custom_data: bytes | None
    data_disk_luns: tuple[int, ...]
    extensions: tuple[ExtensionModel, ...]
    fault_domain_count: int

    @property
    def has_application_health(self) -> bool:
        return any(e.publisher.lower() == "microsoft.managedservices" and e.type.lower().startswith("applicationhealth")
                   for e in self.extensions)

    @classmethod
    def from_body(cls, name: str, body: dict[str, Any]) -> ScaleSetModel:
        props = body.get("properties") or {}
        profile = props.get("virtualMachineProfile") or {}
        os_profile = profile.get("osProfile") or {}
        storage = profile.get("storageProfile") or {}
        ref = storage.get("imageReference") or {}
        policy = props.get("upgradePolicy") or {}
        auto = policy.get("automaticOSUpgradePolicy") or {}
        probe = (profile.get("networkProfile") or {}).get("healthProbe") or {}
        custom = os_profile.get("customData")
        return cls(
            capacity=int((body.get("sku") or {}).get("capacity") or 0),
            sku_name=str((body.get("sku") or {}).get("name") or "Standard_DS1_v2"),
            zones=tuple(str(z) for z in body.get("zones") or ()),
            upgrade_mode=canonical(policy.get("mode") or "Manual", UPGRADE_MODES),
            automatic_os_upgrade=bool(auto.get("enableAutomaticOSUpgrade", False)),
            image=ImageReference(
                str(ref.get("publisher", "")), str(ref.get("offer", "")), str(ref.get("sku", "")),
                str(ref.get("version", "latest")),
            ),
            health_probe_id=probe.get("id"),
            computer_name_prefix=str(os_profile.get("computerNamePrefix") or name[:9]),
            custom_data=base64.b64decode(custom) if custom else None,
            data_disk_luns=tuple(sorted(int(d["lun"]) for d in storage.get("dataDisks") or ())),
            extensions=tuple(_extension(e) for e in (profile.get("extensionProfile") or {}).get("extensions") or ()),
            fault_domain_count=int(props.get("platformFaultDomainCount") or 5),
        )


def _extension(ext: dict[str, Any]) -> ExtensionModel:
    props = ext.get("properties") or {}
    return ExtensionModel(
        name=str(ext.get("name", "")),
        publisher=str(props.get("publisher", "")),
        type=str(props.get("type", "")),
        type_handler_version=str(props.get("typeHandlerVersion", "")),
        settings=dict(props.get("settings") or {}),
        provision_after=tuple(props.get("provisionAfterExtensions") or ()),
    )


def canonical(value: str, choices: tuple[str, ...]) -> str:
    """The canonical spelling of a case-insensitive enum value (value itself when unknown)."""
    for choice in choices:
        if choice.lower() == str(value).lower():
            return choice
    return value


def computer_name(prefix: str, instance_id: int) -> str:
    """prefix + six base-36 digits, as Azure names scale set VMs (myvmss000000, myvmss00000a)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    suffix = ""
    value = instance_id
    for _ in range(6):
        value, rest = divmod(value, 36)
        suffix = digits[rest] + suffix
    return prefix + suffix
