"""Deterministic fault simulation: the real engine and store on the sim driver and a virtual clock,
driven by a seeded schedule of faults and user calls, with invariants checked while it runs.

scenario.py   a seed -> fleets, policies, settings and a timed schedule of events
world.py      the simulated machines, observed: driver-call hooks, health timeline, disk markers
faults.py     carries the schedule out: faults on machines, user calls on the service layer
watch.py      watches the store: batch decisions as they are written, run samples, history
invariants.py the checks, pure functions of the observations (so a fabricated log can test them)
workbench.py  what a worker's seeds share: a template store, installed image artifacts
seed_run.py   one seed, start to end, including server crashes and restarts
report.py     results, many seeds across worker processes, the replay command
"""
