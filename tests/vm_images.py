"""The project's tiny VM images (images/build-tiny.sh), built once per machine and cached.

Tests that need real VMs take `tiny_images()`; without QEMU on the machine they are skipped with
the command that installs it (they fail instead under SCALESET_REQUIRE_QEMU, which CI sets).
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

import pytest

from scaleset.drivers.vm_host import INSTALL_HINT, missing_tools

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "images" / "build-tiny.sh"


def tiny_images() -> Path:
    """The directory holding v1, v2 and broken; skips the test when QEMU is not installed."""
    if missing := missing_tools():
        reason = f"QEMU is not installed ({', '.join(missing)} missing): {INSTALL_HINT}"
        if os.environ.get("SCALESET_REQUIRE_QEMU"):  # CI installed it: a skip would hide a broken set-up
            pytest.fail(reason)
        pytest.skip(reason)
    return _build()


@functools.cache
def _build() -> Path:
    done = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{BUILD} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])
