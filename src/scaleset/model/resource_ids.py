"""ARM resource ids: built in one place so every response spells them the same way."""

from __future__ import annotations

COMPUTE = "Microsoft.Compute"
SCALE_SET_TYPE = "Microsoft.Compute/virtualMachineScaleSets"
VM_TYPE = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"


def subscription_id(subscription: str) -> str:
    return f"/subscriptions/{subscription}"


def group_id(subscription: str, group: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}"


def resource_id(subscription: str, group: str, provider_type: str, name: str) -> str:
    """provider_type is 'Namespace/type', e.g. Microsoft.Network/loadBalancers."""
    return f"{group_id(subscription, group)}/providers/{provider_type}/{name}"


def scale_set_id(subscription: str, group: str, name: str) -> str:
    return resource_id(subscription, group, SCALE_SET_TYPE, name)


def vm_id(subscription: str, group: str, scale_set: str, instance_id: int | str) -> str:
    return f"{scale_set_id(subscription, group, scale_set)}/virtualMachines/{instance_id}"


def key(resource: str) -> str:
    """The lookup key of an id: ARM ids are case-insensitive."""
    return resource.lower().rstrip("/")


def parse(resource: str) -> dict[str, str]:
    """Split '/subscriptions/s/resourceGroups/g/providers/NS/type/name[/child/cname...]'.

    Returns keys subscription, group, namespace, type, name, and 'children' as 'type/name/...'
    (empty when none). Raises ValueError when the id is not of that shape.
    """
    parts = [p for p in resource.split("/") if p]
    if len(parts) < 8 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
        raise ValueError(f"'{resource}' is not a resource id")
    if parts[4].lower() != "providers":
        raise ValueError(f"'{resource}' is not a resource id")
    children = parts[8:]
    if len(children) % 2:
        raise ValueError(f"'{resource}' is not a resource id")
    return {
        "subscription": parts[1],
        "group": parts[3],
        "namespace": parts[5],
        "type": parts[6],
        "name": parts[7],
        "children": "/".join(children),
    }
