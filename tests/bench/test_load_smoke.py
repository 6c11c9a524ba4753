"""The short form of bench/load.py: a real server under open-loop load while a rolling upgrade runs.

No timing is asserted (the figures belong in BENCHMARKS.md); what is asserted is the claim itself:
zero errors, and the upgrade under load ended as the one without load did.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "load.py"


def test_load_short_form_has_zero_errors_and_the_upgrade_ends_as_without_load() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--short"], cwd=REPO, capture_output=True, text=True,
                          timeout=150, check=False)
    output = done.stdout + done.stderr

    assert done.returncode == 0, output
    assert re.search(r"^load: [\d,]+ scheduled, [\d,]+ sent, [\d,]+ missed schedule.*, [\d,]+ answered, 0 errors$",
                     done.stdout, re.M), output
    # One row per kind of request, each with its percentiles, and every kind was sent.
    for kind in ("GET vmss", "GET vms page 2", "GET rollingUpgrades/latest", "PATCH web vmss tags", "DELETE load balancer"):
        assert re.search(rf"^{re.escape(kind)} +[1-9][\d,]* +[\d.]+ ms +[\d.]+ ms", done.stdout, re.M), output
    for run in ("without load", "under load"):
        assert re.search(rf"^upgrade \({run}\): Completed, \d+ batches, (\d+)/\1 instances on 1\.0\.1", done.stdout, re.M), output
    assert re.search(r"^final state: Completed without load, Completed under load$", done.stdout, re.M), output
    assert re.search(r"^batches: (\d+) without load, \1 under load$", done.stdout, re.M), output
    assert re.search(r"^per-instance outcome: same ", done.stdout, re.M), output
    assert re.search(r"^duration: [\d.]+ s without load, [\d.]+ s under load; ratio under load / without: \d+\.\d\d$",
                     done.stdout, re.M), output
    assert "verdict: PASS" in done.stdout, output
