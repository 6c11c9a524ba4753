"""Which platform images support automatic OS upgrades: the seed's table, replaceable by the server."""

from __future__ import annotations

from collections.abc import Iterable

Eligible = frozenset[tuple[str, str, str]]  # lower-cased (publisher, offer, sku)

# publisher, offer, sku: the table Azure documented when automatic OS image upgrades launched
DEFAULT_ELIGIBLE: tuple[tuple[str, str, str], ...] = (
    ("Canonical", "UbuntuServer", "16.04-LTS"),
    ("Canonical", "UbuntuServer", "18.04-LTS"),
    ("OpenLogic", "CentOS", "7.5"),
    ("CoreOS", "CoreOS", "Stable"),
    ("MicrosoftWindowsServer", "WindowsServer", "2012-R2-Datacenter"),
    ("MicrosoftWindowsServer", "WindowsServer", "2016-Datacenter"),
    ("MicrosoftWindowsServer", "WindowsServer", "2016-Datacenter-Smalldisk"),
    ("MicrosoftWindowsServer", "WindowsServer", "2016-Datacenter-with-Containers"),
)


def eligible(rows: Iterable[tuple[str, str, str]]) -> Eligible:
    return frozenset((p.lower(), o.lower(), s.lower()) for p, o, s in rows)


def parse_row(text: str) -> tuple[str, str, str]:
    """'publisher:offer:sku' as a server flag gives it."""
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"'{text}' is not publisher:offer:sku")
    return parts[0], parts[1], parts[2]


def supports_automatic_os_upgrade(table: Eligible, publisher: str, offer: str, sku: str) -> bool:
    return (publisher.lower(), offer.lower(), sku.lower()) in table
