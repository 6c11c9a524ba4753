from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.drivers.kits import KITS, Kit, process_kit, qemu_kit


@pytest.fixture(params=sorted(KITS))
async def kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kit]:
    made = await KITS[request.param](tmp_path)
    try:
        yield made
    finally:
        await made.cleanup()


@pytest.fixture
async def pkit(tmp_path: Path) -> AsyncIterator[Kit]:
    """The process driver's kit, for tests of what only real processes do."""
    made = await process_kit(tmp_path)
    try:
        yield made
    finally:
        await made.cleanup()


@pytest.fixture
async def qkit(tmp_path: Path) -> AsyncIterator[Kit]:
    """The qemu driver's kit (real VMs under TCG), for tests of what only VMs do."""
    made = await qemu_kit(tmp_path)
    try:
        yield made
    finally:
        await made.cleanup()
