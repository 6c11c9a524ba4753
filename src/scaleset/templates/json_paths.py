"""JSON paths as ARM writes them in error targets: resources[2].properties.sku.capacity."""

from __future__ import annotations

import re

_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def member(path: str, key: str) -> str:
    if not _PLAIN_KEY.match(key):
        return f"{path}['{key}']"
    return f"{path}.{key}" if path else key


def item(path: str, index: int) -> str:
    return f"{path}[{index}]"
