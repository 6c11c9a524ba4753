"""The smoke form of bench/qemu_boot.py: it runs end to end and prints its ratios.

No timing is asserted: the figures belong in BENCHMARKS.md, not in a CI verdict.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from scaleset.drivers.vm_host import INSTALL_HINT, missing_tools
from tests.vm_images import REPO, tiny_images

SCRIPT = REPO / "bench" / "qemu_boot.py"


def test_qemu_boot_quick_prints_its_ratios() -> None:
    if missing := missing_tools():
        pytest.skip(f"QEMU is not installed ({', '.join(missing)} missing): {INSTALL_HINT}")
    tiny_images()  # builds the images once (cached), so the script's own build is instant

    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)
    output = done.stdout + done.stderr

    assert done.returncode == 0, output
    assert "SKIPPED" not in done.stdout, output
    assert re.search(r"^ratio reimage/cold: \d+\.\d\d \(goal <= 1\.2: (PASS|MISS)\)$", done.stdout, re.M), output
    assert re.search(r"^  of which graceful stop \(median\): +\d+\.\d\d s", done.stdout, re.M), output
    # One row per k of the quick form, each with its ratios to the single VM.
    for k in (1, 2, 4):
        assert re.search(rf"^ *{k} +\d+\.\d\d s +\d+\.\d\d s +\d+\.\d\d +\d+\.\d\d ", done.stdout, re.M), output
    assert re.search(r"^largest k with max <= 2x single: \d+ ", done.stdout, re.M), output
    assert "done in" in done.stdout, output
