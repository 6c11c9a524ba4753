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

A full collection scans every object the process keeps: ~6 million at 1,000 x 1,000 (the health
watch's and the simulator's few per instance), 2.4 s during which the server answers nothing. At
CPython's default it may come after every tenth middle collection (once the objects promoted since
the last one are a quarter of those kept), and an upgrade of a million instances made two; after
every hundredth, none: 4.8 s of the collector's 15.9 s and of the upgrade's 150 s of CPU there
(bench/scale.py). Cyclic garbage that lived long enough to be promoted waits longer for it: the
few requests and runs that end in a cycle, not the fleet's state, which reference counting frees.
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # allocations between collections of the youngest generation (CPython's default: 700)
OLD = 100  # middle collections at least between two full ones (CPython's default: 10)


def collect_less_often() -> None:
    """Set the process's collection thresholds for a server; the middle generation's is kept."""
    _, middle, _ = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, OLD)
