"""Private addresses of instances: each its own loopback address, so every app binds the very port
its health probe names. 127.0.0.0/8 all routes to lo on Linux; 127.0.x.x is left to the host.

Each server hands out addresses from a block of its own (127.<block>.x.y), so two servers on one
host, or a server and tests, do not give two machines the same address."""

from __future__ import annotations

import hashlib
from pathlib import Path

_PER_BLOCK = 254 * 256


def private_ip(index: int, *, block: int = 1) -> str:
    """The address of allocation `index` (1, 2, ...) in `block`: 127.b.0.1, ... 127.b.0.254, 127.b.1.1, ...

    Past 65,024 addresses the allocation carries on into the next block.
    """
    if index < 1:
        raise ValueError("address indexes start at 1")
    n = index - 1
    carry, rest = divmod(n, _PER_BLOCK)
    second = block + carry
    if not 1 <= second <= 254:
        raise ValueError("out of loopback addresses")
    third, fourth = divmod(rest, 254)
    return f"127.{second}.{third}.{fourth + 1}"


def block_for(data_dir: Path) -> int:
    """A default block for a server: stable for its data dir, different between data dirs (mostly)."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).digest()
    return 2 + int.from_bytes(digest[:4], "big") % 200
