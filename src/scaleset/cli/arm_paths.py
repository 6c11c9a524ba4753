"""ARM resource paths, built in one place so every command spells them the same way.

Segments are percent-quoted: names come from the user, and a stray `/` or `?` must not reshape
the URL.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_COMPUTE = "providers/Microsoft.Compute"
_RESOURCE_GROUP_IN_ID = re.compile(r"/resourcegroups/([^/]+)", re.IGNORECASE)


def _q(segment: str) -> str:
    return quote(str(segment), safe="")


def subscription_path(subscription: str) -> str:
    return f"/subscriptions/{_q(subscription)}"


def resource_groups_path(subscription: str) -> str:
    # `resourcegroups` in lower case, as az sends it for the Microsoft.Resources calls.
    return f"{subscription_path(subscription)}/resourcegroups"


def resource_group_path(subscription: str, group: str) -> str:
    return f"{resource_groups_path(subscription)}/{_q(group)}"


def scale_sets_path(subscription: str, group: str | None = None) -> str:
    """The scale sets of one resource group, or of the whole subscription."""
    scope = subscription_path(subscription)
    if group is not None:
        scope += f"/resourceGroups/{_q(group)}"
    return f"{scope}/{_COMPUTE}/virtualMachineScaleSets"


def scale_set_path(subscription: str, group: str, name: str) -> str:
    return f"{scale_sets_path(subscription, group)}/{_q(name)}"


def scale_set_vm_path(subscription: str, group: str, name: str, instance_id: str) -> str:
    return f"{scale_set_path(subscription, group, name)}/virtualMachines/{_q(instance_id)}"


def image_location_path(subscription: str, location: str) -> str:
    return f"{subscription_path(subscription)}/{_COMPUTE}/locations/{_q(location)}"


def publishers_path(subscription: str, location: str) -> str:
    return f"{image_location_path(subscription, location)}/publishers"


def offers_path(subscription: str, location: str, publisher: str) -> str:
    return f"{publishers_path(subscription, location)}/{_q(publisher)}/artifacttypes/vmimage/offers"


def skus_path(subscription: str, location: str, publisher: str, offer: str) -> str:
    return f"{offers_path(subscription, location, publisher)}/{_q(offer)}/skus"


def versions_path(subscription: str, location: str, publisher: str, offer: str, sku: str) -> str:
    return f"{skus_path(subscription, location, publisher, offer)}/{_q(sku)}/versions"


def version_path(
    subscription: str, location: str, publisher: str, offer: str, sku: str, version: str
) -> str:
    return f"{versions_path(subscription, location, publisher, offer, sku)}/{_q(version)}"


def resource_group_of(resource_id: object) -> str | None:
    """The resource group named in an ARM id, as az shows it in its ResourceGroup column."""
    if not isinstance(resource_id, str):
        return None
    match = _RESOURCE_GROUP_IN_ID.search(resource_id)
    return match.group(1) if match else None
