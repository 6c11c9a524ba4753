"""Which platform images support automatic OS upgrades: the seed's table, server-configurable."""

from __future__ import annotations

from collections.abc import Iterable

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

_eligible: set[tuple[str, str, str]] = {tuple(p.lower() for p in row) for row in DEFAULT_ELIGIBLE}  # type: ignore[misc]


def configure(rows: Iterable[tuple[str, str, str]]) -> None:
    """Replace the table (a server setting)."""
    _eligible.clear()
    _eligible.update(tuple(p.lower() for p in row) for row in rows)  # type: ignore[misc]


def supports_automatic_os_upgrade(publisher: str, offer: str, sku: str) -> bool:
    return (publisher.lower(), offer.lower(), sku.lower()) in _eligible
