"""Responses in ARM's JSON shapes, from stored rows. Secrets are never in what is rendered: they
are not in the stored body to begin with (see service/bodies.py)."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scaleset.api.api_versions import at_least
from scaleset.health.verdicts import Verdict
from scaleset.model import resource_ids
from scaleset.model.eligibility import Eligible, supports_automatic_os_upgrade
from scaleset.model.image_reference import ImageReference
from scaleset.model.scale_set import ScaleSetModel, computer_name
from scaleset.service.intents import instance_computer_name

_POWER_DISPLAY = {
    "starting": "VM starting", "running": "VM running", "stopping": "VM stopping", "stopped": "VM stopped",
    "deallocating": "VM deallocating", "deallocated": "VM deallocated", "unknown": "VM status unknown",
}


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def status(code: str, display: str, *, level: str = "Info", message: str | None = None, time: datetime | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"code": code, "level": level, "displayStatus": display}
    if message:
        item["message"] = message
    if time is not None:
        item["time"] = iso(time)
    return item


# -- subscriptions, groups -------------------------------------------------------------------

def location(sub: str, name: str) -> dict[str, Any]:
    return {"id": f"{resource_ids.subscription_id(sub)}/locations/{name}", "name": name, "type": "Region",
            "displayName": name, "regionalDisplayName": name,
            "metadata": {"regionType": "Physical", "regionCategory": "Recommended"}}


def subscription(row: sa.Row[Any], tenant: str) -> dict[str, Any]:
    return {
        "id": resource_ids.subscription_id(row.id), "subscriptionId": row.id, "tenantId": tenant,
        "displayName": row.display_name, "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
        "authorizationSource": "RoleBased",
    }


def group(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": resource_ids.group_id(row.subscription_id, row.name), "name": row.name,
        "type": "Microsoft.Resources/resourceGroups", "location": row.location, "tags": row.tags or {},
        "properties": {"provisioningState": row.state},
    }


# -- scale sets ------------------------------------------------------------------------------

def scale_set_id(row: sa.Row[Any]) -> str:
    return resource_ids.scale_set_id(row.subscription_id, row.group_name, row.name)


def scale_set(row: sa.Row[Any], api_version: str) -> dict[str, Any]:
    body = copy.deepcopy(row.body)
    rid = scale_set_id(row)
    body.update(id=rid, name=row.name, type=resource_ids.SCALE_SET_TYPE, location=row.location)
    props = body.setdefault("properties", {})
    props["provisioningState"] = row.provisioning_state
    props["uniqueId"] = row.unique_id
    if at_least(api_version, "2021-03-01"):
        props["timeCreated"] = iso(row.created_at)
    policy = props.setdefault("upgradePolicy", {})
    policy.setdefault("mode", "Manual")
    automatic = policy.setdefault("automaticOSUpgradePolicy", {})
    automatic.setdefault("enableAutomaticOSUpgrade", False)
    automatic.setdefault("disableAutomaticRollback", False)
    profile = props.get("virtualMachineProfile") or {}
    for extension in (profile.get("extensionProfile") or {}).get("extensions") or []:
        extension["id"] = f"{rid}/extensions/{extension.get('name')}"
        extension.setdefault("properties", {})["provisioningState"] = "Succeeded"
        if at_least(api_version, "2019-07-01"):
            extension["type"] = "Microsoft.Compute/virtualMachineScaleSets/extensions"
    return body


def scale_set_instance_view(row: sa.Row[Any], instance_rows: list[sa.Row[Any]]) -> dict[str, Any]:
    codes: Counter[str] = Counter()
    extensions: dict[str, Counter[str]] = {}
    for instance in instance_rows:
        codes[f"ProvisioningState/{instance.provisioning_state.lower()}"] += 1
        codes[f"PowerState/{instance.power_state}"] += 1
        for ext in instance.extensions or []:
            extensions.setdefault(ext["name"], Counter())[f"ProvisioningState/{ext['state']}"] += 1
    return {
        "virtualMachine": {"statusesSummary": [{"code": c, "count": n} for c, n in sorted(codes.items())]},
        "extensions": [{"name": name, "statusesSummary": [{"code": c, "count": n} for c, n in sorted(counts.items())]}
                       for name, counts in extensions.items()],
        "statuses": [_provisioning(row.provisioning_state, None, row.created_at)],
    }


def _provisioning(state: str, error: str | None, time: datetime | None) -> dict[str, Any]:
    if state == "Failed":
        return status("ProvisioningState/failed", "Provisioning failed", level="Error", message=error, time=time)
    return status(f"ProvisioningState/{state.lower()}", f"Provisioning {state.lower()}", time=time)


# -- instances -------------------------------------------------------------------------------

def vm(scale_set_row: sa.Row[Any], row: sa.Row[Any], api_version: str, *, with_instance_view: bool = False,
       health: Verdict | None = None, model: ScaleSetModel | None = None) -> dict[str, Any]:
    """`model`: the scale set's, when the caller has it parsed already (a page renders many VMs)."""
    model = model or ScaleSetModel.from_body(scale_set_row.name, scale_set_row.body)
    rid = f"{scale_set_id(scale_set_row)}/virtualMachines/{row.instance_id}"
    profile = (scale_set_row.body.get("properties") or {}).get("virtualMachineProfile") or {}
    storage = copy.deepcopy(profile.get("storageProfile") or {})
    running = ImageReference.from_urn(row.image_urn) if row.image_urn else None
    image = dict(storage.get("imageReference") or {})
    if running is not None:
        image.update(publisher=running.publisher, offer=running.offer, sku=running.sku)
        image["exactVersion"] = running.version
        if not model.image.is_latest:
            image["version"] = running.version
    storage["imageReference"] = image
    os_disk = storage.setdefault("osDisk", {})
    os_disk.update(name=f"{scale_set_row.name}_{row.instance_id}_OsDisk", osType="Linux")
    os_disk.setdefault("createOption", "FromImage")  # required in a VM's OSDisk; a scale set's may leave it out
    os_profile = {k: v for k, v in (profile.get("osProfile") or {}).items() if k not in ("customData", "computerNamePrefix")}
    os_profile["computerName"] = computer_name(model.computer_name_prefix, row.instance_id)
    nic_id = f"{rid}/networkInterfaces/{scale_set_row.name}-nic"
    body: dict[str, Any] = {
        "id": rid, "name": f"{scale_set_row.name}_{row.instance_id}", "type": resource_ids.VM_TYPE,
        "location": scale_set_row.location, "instanceId": str(row.instance_id),
        "sku": {"name": model.sku_name, "tier": "Standard"},
        "properties": {
            "latestModelApplied": row.model_version == scale_set_row.model_version,
            "vmId": row.vm_id,
            "provisioningState": row.provisioning_state,
            "hardwareProfile": {"vmSize": model.sku_name},
            "storageProfile": storage,
            "osProfile": os_profile,
            "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {
                "primary": True,
                "ipConfigurations": [{"name": "ipconfig1", "properties": {"privateIPAddress": row.private_ip}}]}}]},
        },
        "resources": [{"id": f"{rid}/extensions/{e.name}", "name": e.name, "type": "Microsoft.Compute/virtualMachines/extensions",
                       "location": scale_set_row.location,
                       "properties": {"publisher": e.publisher, "type": e.type, "typeHandlerVersion": e.type_handler_version,
                                      "provisioningState": _extension_state(row, e.name)}}
                      for e in model.extensions],
    }
    if at_least(api_version, "2021-03-01"):
        body["properties"]["timeCreated"] = iso(row.created_at)
    if row.zone is not None:
        body["zones"] = [row.zone]
    if with_instance_view:
        body["properties"]["instanceView"] = vm_instance_view(scale_set_row, row, health=health)
    return body


def _extension_state(row: sa.Row[Any], name: str) -> str:
    for ext in row.extensions or []:
        if ext["name"] == name:
            return {"succeeded": "Succeeded", "failed": "Failed"}.get(ext["state"], "Updating")
    return "Creating"


def vm_instance_view(scale_set_row: sa.Row[Any], row: sa.Row[Any], *, health: Verdict | None = None) -> dict[str, Any]:
    model = ScaleSetModel.from_body(scale_set_row.name, scale_set_row.body)
    types = {e.name: e for e in model.extensions}
    extensions = []
    for ext in row.extensions or []:
        known = types.get(ext["name"])
        level = "Error" if ext["state"] == "failed" else "Info"
        extensions.append({
            "name": ext["name"],
            "type": f"{known.publisher}.{known.type}" if known else None,
            "typeHandlerVersion": known.type_handler_version if known else None,
            "statuses": [status(f"ProvisioningState/{ext['state']}", f"Provisioning {ext['state']}", level=level,
                                message=ext.get("message") or None)],
        })
    power = row.power_state
    view: dict[str, Any] = {
        "platformUpdateDomain": row.update_domain,
        "platformFaultDomain": row.fault_domain,
        "computerName": instance_computer_name(scale_set_row, row.instance_id),
        "osName": "linux",
        "vmAgent": {"vmAgentVersion": "scaleset", "statuses": [status("ProvisioningState/succeeded", "Ready", message="Guest Agent is running")]},
        "disks": [{"name": f"{scale_set_row.name}_{row.instance_id}_OsDisk", "statuses": [status("ProvisioningState/succeeded", "Provisioning succeeded")]}],
        "extensions": extensions,
        "statuses": [
            _provisioning(row.provisioning_state, row.last_error, row.created_at),
            status(f"PowerState/{power}", _POWER_DISPLAY.get(power, power)),
        ],
    }
    if health is not None:
        # Azure's vmHealth, plus (ours) the evidence: the last probe answers behind the verdict.
        view["vmHealth"] = {"status": health.as_instance_view_status(), "answers": [a.as_json() for a in health.answers]}
    return view


def nic(scale_set_row: sa.Row[Any], row: sa.Row[Any]) -> dict[str, Any]:
    rid = f"{scale_set_id(scale_set_row)}/virtualMachines/{row.instance_id}/networkInterfaces/{scale_set_row.name}-nic"
    return {
        "id": rid, "name": f"{scale_set_row.name}-nic", "location": scale_set_row.location,
        "type": "Microsoft.Network/networkInterfaces",
        "properties": {"provisioningState": "Succeeded", "primary": True,
                       "ipConfigurations": [{"id": f"{rid}/ipConfigurations/ipconfig1", "name": "ipconfig1", "properties": {
                           "privateIPAddress": row.private_ip, "privateIPAllocationMethod": "Dynamic",
                           "primary": True, "provisioningState": "Succeeded"}}]},
    }


# -- images ----------------------------------------------------------------------------------

def image_path(sub: str, location: str, *parts: str) -> str:
    """The capitalised ids the real catalogue returns."""
    labels = ("Publishers", "ArtifactTypes/VMImage/Offers", "Skus", "Versions")
    path = f"/Subscriptions/{sub}/Providers/Microsoft.Compute/Locations/{location}"
    for label, name in zip(labels, parts, strict=False):
        path += f"/{label}/{name}"
    return path


def image_resource(sub: str, location: str, name: str, *parts: str) -> dict[str, Any]:
    return {"id": image_path(sub, location, *parts), "name": name, "location": location}


def image(sub: str, row: sa.Row[Any], location: str, *, eligible: Eligible) -> dict[str, Any]:
    names = row.names
    return {
        **image_resource(sub, location, row.version, names["publisher"], names["offer"], names["sku"], row.version),
        "properties": {
            "osDiskImage": {"operatingSystem": row.os_type},
            "dataDiskImages": [],
            "automaticOSUpgradeProperties": {
                "automaticOSUpgradeSupported": supports_automatic_os_upgrade(eligible, names["publisher"], names["offer"], names["sku"])},
            "hyperVGeneration": "V1",
            "architecture": "x64",
            "imageDeprecationStatus": {"imageState": "Active"},
        },
    }
