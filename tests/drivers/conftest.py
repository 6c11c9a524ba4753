from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.drivers.kits import KITS, Kit, process_kit, qemu_kit


@asynccontextmanager
async def made(factory: Callable[[Path], Awaitable[Kit]], tmp_path: Path) -> AsyncIterator[Kit]:
    kit = await factory(tmp_path)
    try:
        yield kit
    finally:
        await kit.cleanup()


@pytest.fixture(params=sorted(KITS))
async def kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kit]:
    async with made(KITS[request.param], tmp_path) as each:
        yield each


@pytest.fixture
async def pkit(tmp_path: Path) -> AsyncIterator[Kit]:
    """The process driver's kit, for tests of what only real processes do."""
    async with made(process_kit, tmp_path) as each:
        yield each


@pytest.fixture
async def qkit(tmp_path: Path) -> AsyncIterator[Kit]:
    """The qemu driver's kit (real VMs under TCG), for tests of what only VMs do."""
    async with made(qemu_kit, tmp_path) as each:
        yield each
