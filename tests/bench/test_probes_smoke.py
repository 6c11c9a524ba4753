"""The smoke form of bench/probes.py: it runs end to end and prints its ratios.

No timing is asserted: the figures belong in BENCHMARKS.md, not in a CI verdict.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "probes.py"


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the endpoints listen on 127.77.x.y, which only Linux routes to loopback by default")
def test_probes_quick_prints_its_ratios() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], cwd=REPO, capture_output=True, text=True,
                          timeout=180, check=False)
    output = done.stdout + done.stderr

    assert done.returncode == 0, output
    assert re.search(r"^scaleset HTTP prober: \S+ \(probing\.py: ", done.stdout, re.M), output
    # One row per phase: a rate, a probe count, an error count and the latency percentiles.
    for name in ("scaleset HTTP", "httpx baseline", "scaleset TCP"):
        assert re.search(rf"^{name} +[\d,]+/s +[\d,]+ probes +[\d,]+ errors +p50 +[\d.]+ ms +p99 +[\d.]+ ms",
                         done.stdout, re.M), output
    assert re.search(r"^ratio scaleset HTTP / httpx baseline: \d+\.\d\d \(", done.stdout, re.M), output
    assert re.search(r"^ratio scaleset HTTP / goal: \d+\.\d\d \([\d,]+/s, goal >= 10,000/s: (PASS|MISS)\)$",
                     done.stdout, re.M), output
    assert re.search(r"^instances watchable at a 5 s interval: [\d,]+ \(scaleset HTTP\), [\d,]+ \(httpx baseline\)",
                     done.stdout, re.M), output
    assert "done in" in done.stdout, output
