"""Resource ids as ARM builds them from a type and a name, one name segment per type level."""

from __future__ import annotations

from collections.abc import Sequence


def type_levels(full_type: str) -> list[str]:
    """'Microsoft.Network/loadBalancers/probes' -> ['Microsoft.Network', 'loadBalancers', 'probes']."""
    return full_type.strip("/").split("/")


def name_segments(full_name: str) -> list[str]:
    return full_name.split("/")


def interleaved(full_type: str, names: Sequence[str]) -> str:
    """'NS/t1/t2' with names [n1, n2] -> 'NS/t1/n1/t2/n2'."""
    namespace, *types = type_levels(full_type)
    return "/".join([namespace] + [part for pair in zip(types, names) for part in pair])


def group_resource_id(subscription: str, group: str, full_type: str, names: Sequence[str]) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{interleaved(full_type, names)}"


def subscription_resource_id(subscription: str, full_type: str, names: Sequence[str]) -> str:
    return f"/subscriptions/{subscription}/providers/{interleaved(full_type, names)}"


def id_key(resource_id: str) -> str:
    """The comparison key of an id: ARM ids are case-insensitive."""
    return resource_id.strip().rstrip("/").lower()
