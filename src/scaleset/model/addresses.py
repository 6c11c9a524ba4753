"""Private addresses of instances: each its own loopback address, so every app binds the very port
its health probe names. 127.0.0.0/8 all routes to lo on Linux; 127.0.x.x is left to the host."""

from __future__ import annotations

_PER_BLOCK = 254 * 256


def private_ip(index: int) -> str:
    """The address of allocation `index` (1, 2, ...): 127.1.0.1, 127.1.0.2, ... 127.1.0.254, 127.1.1.1, ..."""
    if index < 1:
        raise ValueError("address indexes start at 1")
    n = index - 1
    block, rest = divmod(n, _PER_BLOCK)
    if block > 253:
        raise ValueError("out of loopback addresses")
    third, fourth = divmod(rest, 254)
    return f"127.{1 + block}.{third}.{fourth + 1}"
