"""The quick form of bench/scale.py: one publish upgrades every scale set, and the figures print.

No timing or memory is asserted (the figures belong in BENCHMARKS.md); what is asserted is that
every run completed, every instance ended on the new image, and each goal's row was printed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_scale_quick_form_upgrades_every_instance_of_every_scale_set_and_prints_its_figures() -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "scale.py"), "--quick"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert re.search(r"^scale sets x instances +10 x 20 = 200 *$", done.stdout, re.M), output
    assert re.search(r"^runs +10 Completed *$", done.stdout, re.M), output
    assert re.search(r"^instances upgraded +200 *$", done.stdout, re.M), output
    for row in ("CPU per instance upgraded +[\\d,]+ µs", "peak memory per instance +[\\d,]+ B",
                "publish -> first reimage +[\\d,.]+ ms"):
        assert re.search(rf"^{row} +(PASS|MISS)$", done.stdout, re.M), output
    assert re.search(r"^verdict: (PASS|MISS) ", done.stdout, re.M), output
