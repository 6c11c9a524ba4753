"""The smoke form of bench/api.py: it runs end to end and prints its rows and ratios.

No timing is asserted: the figures belong in BENCHMARKS.md, not in a CI verdict. The benchmark runs
once for the module; the parts it could not run (no wrk, no moto) are skipped by name and reason,
never passed silently.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "api.py"
NUMBER = r"[\d,.]+"
LATENCY = r"[\d.]+ ms"


@pytest.fixture(scope="module")
def output() -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=REPO, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done in" in done.stdout, done.stdout + done.stderr
    return done.stdout


def _skipped(output: str, what: str) -> str | None:
    found = re.search(rf"^{what}: SKIPPED \((.*)\)", output, re.M)
    return found.group(1) if found else None


def test_scaleset_and_the_floor_have_their_rows_and_ratios(output: str) -> None:
    assert re.search(r"^scaleset: 1000 instances running [\d.]+ s after the scale set's PUT$", output, re.M), output
    assert re.search(r"^scaleset, page size 10: 1000 instances running [\d.]+ s after the scale set's PUT$", output,
                     re.M), output
    for name in ("floor, scale set body", "scaleset GET vmss", "floor, page body", "scaleset list page",
                 "floor, page-of-10 body", "scaleset list page of 10"):
        assert re.search(rf"^{name} +{NUMBER} B +{NUMBER} +{LATENCY} +{LATENCY} +{NUMBER} µs +0$", output, re.M), output
        assert re.search(rf"^{name} +{NUMBER} +{NUMBER} +0 +{LATENCY} +{LATENCY} +{LATENCY}$", output, re.M), output
    assert re.search(r"^scaleset full list, one client following nextLink: 10 pages, 1,000 items, median "
                     rf"{LATENCY}", output, re.M), output
    assert re.search(rf"^scaleset full list \(100 pages of 10\): {NUMBER} lists/s at saturation$", output, re.M), output
    for name, floor in (("scaleset GET vmss", "floor, scale set body"), ("scaleset list page", "floor, page body"),
                        ("scaleset list page of 10", "floor, page-of-10 body")):
        assert re.search(rf"^ratio {name} / {floor}: \d+\.\d\d \(goal >= 0\.5: (PASS|MISS)\); server CPU per "
                         rf"request [\d.]+ x the floor's$", output, re.M), output
        assert re.search(rf"^p99 {name} at 500/s: {LATENCY} \(goal <= 10 ms: (PASS|MISS)\)$", output, re.M), output


def test_moto_has_its_row_and_ratios(output: str) -> None:
    reason = _skipped(output, "moto")
    if reason:
        pytest.skip(f"bench/api.py skipped moto: {reason}")
    assert re.search(r"^moto: Auto Scaling group of 10 instances$", output, re.M), output
    assert re.search(rf"^moto DescribeASG +{NUMBER} B +{NUMBER} +{LATENCY} +{LATENCY} +{NUMBER} µs +0$", output, re.M), output
    for name in ("scaleset GET vmss", "scaleset list page"):
        assert re.search(rf"^ratio {name} / moto DescribeASG: [\d.]+ \(goal >= 20: (PASS|MISS)\)$", output, re.M), output
    assert re.search(rf"^instances described per second: {NUMBER} \(scaleset list pages\), {NUMBER} \(moto\), ratio "
                     r"[\d.]+$", output, re.M), output
    # the like-for-like read: a page of 10 describes as many instances as moto's answer
    assert re.search(r"^ratio scaleset list page of 10 / moto DescribeASG: [\d.]+ \(goal >= 20: (PASS|MISS)\); like for "
                     r"like: a page of 10 describes as many instances as moto's answer \(the goal's equivalent read\)$",
                     output, re.M), output


def test_saturation_ran_on_wrk(output: str) -> None:
    reason = _skipped(output, "wrk")
    if reason:
        pytest.skip(f"bench/api.py measured saturation with its Python stand-in: {reason}")
    assert re.search(r"^saturation: +wrk ", output, re.M), output
