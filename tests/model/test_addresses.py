"""Every instance gets a loopback address of its own, never a network or broadcast-looking one."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from scaleset.model.addresses import block_for, private_ip


@pytest.mark.parametrize(
    ("index", "address"),
    [(1, "127.1.0.1"), (2, "127.1.0.2"), (254, "127.1.0.254"), (255, "127.1.1.1"), (256, "127.1.1.2"),
     (254 * 256, "127.1.255.254"), (254 * 256 + 1, "127.2.0.1")],
)
def test_addresses_count_up_skipping_0_and_255(index: int, address: str) -> None:
    assert private_ip(index) == address


def test_the_first_100000_addresses_are_distinct_loopback_host_addresses() -> None:
    addresses = [private_ip(i) for i in range(1, 100_001)]
    assert len(set(addresses)) == len(addresses)
    for text in addresses:
        address = ipaddress.IPv4Address(text)
        assert address.is_loopback
        octets = text.split(".")
        assert octets[3] not in ("0", "255"), text
        assert octets[1] != "0", f"{text}: 127.0.x.x is left to the host"


def test_the_last_address_and_then_none() -> None:
    last = 254 * 254 * 256
    assert private_ip(last) == "127.254.255.254"
    with pytest.raises(ValueError, match="out of loopback addresses"):
        private_ip(last + 1)


@pytest.mark.parametrize("index", [0, -1])
def test_indexes_start_at_1(index: int) -> None:
    with pytest.raises(ValueError, match="start at 1"):
        private_ip(index)


def test_a_block_names_the_second_octet() -> None:
    assert private_ip(1, block=7) == "127.7.0.1"
    assert private_ip(255, block=7) == "127.7.1.1"
    assert private_ip(1) == private_ip(1, block=1)


def test_past_a_full_block_the_allocation_carries_into_the_next() -> None:
    assert private_ip(254 * 256, block=7) == "127.7.255.254"
    assert private_ip(254 * 256 + 1, block=7) == "127.8.0.1"


@pytest.mark.parametrize("block", [0, 255])
def test_blocks_outside_1_to_254_have_no_addresses(block: int) -> None:
    with pytest.raises(ValueError, match="out of loopback addresses"):
        private_ip(1, block=block)


def test_a_data_dir_gets_a_stable_block_of_its_own(tmp_path: Path) -> None:
    blocks = {block_for(tmp_path / f"server-{n}") for n in range(20)}
    assert all(2 <= b <= 201 for b in blocks)
    assert len(blocks) > 10  # different data dirs mostly differ
    assert block_for(tmp_path / "server-0") == block_for(tmp_path / "server-0")
    assert block_for(tmp_path / "x" / ".." / "server-0") == block_for(tmp_path / "server-0")
