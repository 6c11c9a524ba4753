"""How often the server's process runs Python's cycle collector.

CPython collects its youngest generation every 700 allocations (net of frees) by default, and
each object that survives two young collections is scanned again by every full one. A rolling
upgrade makes a batch's worth of rows, intents and tasks at once (a fifth of every scale set
upgraded together), all alive for a few steps: at the default, much of that is promoted, and the
full collections that follow scan every instance the server keeps. Collecting the young every
10,000 allocations let a step's objects die young: a fifth less CPU per instance upgraded, for
no measurable memory. At 50,000, fewer young collections also mean fewer full ones (every tenth
of every tenth young one), each of which scans the whole fleet: at 300 x 1,000 the collector's
time fell from 6.4 to 3.6 s of ~50 s (bench/scale.py, BENCHMARKS.md). Objects that are not in a
cycle are freed at once whatever this says; only cyclic garbage waits a little longer (at most
50,000 objects' worth, a few MB).
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # allocations between collections of the youngest generation (CPython's default: 700)


def collect_less_often() -> None:
    """Set the process's collection thresholds for a server; the older generations' are kept."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
