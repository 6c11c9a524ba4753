"""The deterministic hashes behind uniqueString() and guid(), computed exactly as ARM does.

uniqueString: the arguments joined with '-', UTF-8 encoded, hashed with the 64-bit MurmurHash
variant of Microsoft's ResourceStack library (two 32-bit lanes, its own constants), then the top 65
bits written as 13 characters of lowercase RFC 4648 base-32. Ported from Microsoft's published
Kudu HashHelper.MurmurHash64 and checked against values ARM/Bicep produce (see the tests).

guid: an RFC 4122 version 5 UUID of the '-'-joined arguments in ARM's own namespace.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

ARM_GUID_NAMESPACE = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")

_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_MASK32 = 0xFFFFFFFF
_C1, _C2, _C3, _C4 = 0x239B961B, 0xAB0E9789, 0x561CCD1B, 0x0BCAA747
_C5, _C6 = 0x85EBCA6B, 0xC2B2AE35


def unique_string(parts: Sequence[str]) -> str:
    value = murmur_hash64("-".join(parts).encode("utf-8"))
    chars = []
    for _ in range(13):
        chars.append(_BASE32[value >> 59])
        value = (value << 5) & 0xFFFFFFFFFFFFFFFF
    return "".join(chars)


def deterministic_guid(parts: Sequence[str]) -> str:
    return str(uuid.uuid5(ARM_GUID_NAMESPACE, "-".join(parts)))


def murmur_hash64(data: bytes, seed: int = 0) -> int:
    h1 = h2 = seed
    length = len(data)
    index = 0
    while index + 7 < length:
        k1 = int.from_bytes(data[index:index + 4], "little")
        k2 = int.from_bytes(data[index + 4:index + 8], "little")
        h1 = _mix_h1(h1 ^ _mix_k1(k1), h2)
        h2 = _mix_h2(h2 ^ _mix_k2(k2), h1)
        index += 8
    tail = length - index
    if tail > 0:
        h1 ^= _mix_k1(int.from_bytes(data[index:index + min(tail, 4)], "little"))
        if tail > 4:
            h2 ^= _mix_k2(int.from_bytes(data[index + 4:length], "little"))
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _MASK32
    h2 = (h2 + h1) & _MASK32
    h1 = _finalize(h1)
    h2 = _finalize(h2)
    h1 = (h1 + h2) & _MASK32
    h2 = (h2 + h1) & _MASK32
    return (h2 << 32) | h1


def _rotate_left(value: int, count: int) -> int:
    return ((value << count) | (value >> (32 - count))) & _MASK32


def _mix_k1(k1: int) -> int:
    return (_rotate_left((k1 * _C1) & _MASK32, 15) * _C2) & _MASK32


def _mix_k2(k2: int) -> int:
    return (_rotate_left((k2 * _C2) & _MASK32, 17) * _C1) & _MASK32


def _mix_h1(h1: int, h2: int) -> int:
    return ((_rotate_left(h1, 19) + h2) * 5 + _C3) & _MASK32


def _mix_h2(h2: int, h1: int) -> int:
    return ((_rotate_left(h2, 13) + h1) * 5 + _C4) & _MASK32


def _finalize(h: int) -> int:
    h ^= h >> 16
    h = (h * _C5) & _MASK32
    h ^= h >> 13
    h = (h * _C6) & _MASK32
    return h ^ (h >> 16)
