"""The quick form of bench/makespan_process.py runs to the end and prints its rows and ratio.

It starts a real `scaleset serve` on the process driver (5 instances, real processes and HTTP
probes), so it takes some 20 s. No timing is asserted: the figures belong in BENCHMARKS.md. What is
asserted is that the upgrade completed on every instance, the floor was measured, each of the 5
batches has its row, and the makespan lines carry a bound and their ratio.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NUMBER = r"([\d.]+)"
TIMES = " +".join([r"(-?[\d.]+|nan)"] * 7)  # a batch row: start, procs up, reimaged, warm, 200 seen, judged, length


def test_makespan_process_quick_form_runs_the_upgrade_and_prints_its_ratio() -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "makespan_process.py"), "--quick"], cwd=REPO,
                          capture_output=True, text=True, timeout=240, check=False)
    output = done.stdout + done.stderr
    assert "instances on 1.0.1 after the run: 5/5" in done.stdout, output
    assert re.search(rf"^floor, lone machines \(medians of 3\): reimage {NUMBER} s", done.stdout, re.M), output
    assert re.search(r"^run: Completed,", done.stdout, re.M), output
    rows = re.findall(rf"^ +(\d) +{TIMES} +[+-]?([\d.]+|nan)$", done.stdout, re.M)
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5], output
    for label in ("server", "client"):
        line = re.search(rf"^{label} \(.*\) +{NUMBER} +{NUMBER} +{NUMBER}$", done.stdout, re.M)
        assert line, output
        span, bound, ratio = (float(x) for x in line.groups())
        # The seconds are printed to 0.01 and the ratio to 0.001: the ratio of the printed ones may differ that much.
        assert abs(ratio - span / bound) <= 0.005 * (1 + ratio) / bound + 0.0005, line[0]
    assert re.search(r"^verdict: (PASS|MISS) ", done.stdout, re.M), output
    assert done.returncode in (0, 1), output  # 1 is a MISS, which is a figure, not a failure
