"""InstanceSpec as JSON, for drivers that keep specs on disk to act again after a restart.

Protected settings are left out: they are secrets, and a driver needs them only while it runs
extensions, which it does with the spec the caller passed.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from scaleset.drivers.base import ExtensionSpec, ImageArtifact, InstanceSpec


def spec_to_document(spec: InstanceSpec) -> dict[str, Any]:
    return {
        "key": spec.key,
        "instance_id": spec.instance_id,
        "computer_name": spec.computer_name,
        "private_ip": spec.private_ip,
        "image": {"urn": spec.image.urn, "path": str(spec.image.path)},
        "custom_data": base64.b64encode(spec.custom_data).decode() if spec.custom_data is not None else None,
        "data_disk_luns": list(spec.data_disk_luns),
        "generation": spec.generation,
        "sku": spec.sku,
        "ports": list(spec.ports),
        "extensions": [
            {
                "name": e.name,
                "publisher": e.publisher,
                "type": e.type,
                "type_handler_version": e.type_handler_version,
                "settings": e.settings,
                "provision_after": list(e.provision_after),
            }
            for e in spec.extensions
        ],
    }


def spec_from_document(document: dict[str, Any]) -> InstanceSpec:
    """The spec back, with empty protected settings."""
    custom_data = document["custom_data"]
    return InstanceSpec(
        key=document["key"],
        instance_id=document["instance_id"],
        computer_name=document["computer_name"],
        private_ip=document["private_ip"],
        image=ImageArtifact(document["image"]["urn"], Path(document["image"]["path"])),
        custom_data=base64.b64decode(custom_data) if custom_data is not None else None,
        data_disk_luns=tuple(document["data_disk_luns"]),
        generation=int(document.get("generation", 0)),
        sku=str(document.get("sku", "")),
        ports=tuple(document.get("ports", ())),
        extensions=tuple(
            ExtensionSpec(**{**e, "provision_after": tuple(e["provision_after"])}) for e in document["extensions"]
        ),
    )
