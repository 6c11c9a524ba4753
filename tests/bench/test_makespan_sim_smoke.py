"""The quick form of bench/makespan_sim.py runs every variant to the end and prints its ratio.

No timing is asserted: the figures belong in BENCHMARKS.md. What is asserted is that each variant's
upgrade completed and its row carries a makespan, the lower bound and their ratio.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_makespan_sim_quick_form_completes_every_variant_and_prints_its_ratio() -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "makespan_sim.py"), "--quick"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    for variant in ("default", "surge", "pause", "walk"):
        row = re.search(rf"^{variant} +50 +(\d+) +Completed +([\d.]+)s +([\d.]+)s +([\d.]+) ", done.stdout, re.M)
        assert row, output
        batches, makespan, bound, ratio = int(row[1]), float(row[2]), float(row[3]), float(row[4])
        assert batches >= 5
        assert abs(ratio - makespan / bound) < 1e-3, row[0]
    assert re.search(r"^verdict: (PASS|MISS) ", done.stdout, re.M), output
