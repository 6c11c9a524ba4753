"""The simulation on the real engine: seeds pass, a seed replays exactly, a sabotaged engine is
caught, and the CLI reports counts and fails on a violation."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from scaleset.cli.main import main
from scaleset.simulation import invariants
from scaleset.simulation.scenario import generate
from scaleset.simulation.seed_run import run_seed
from scaleset.simulation.workbench import Workbench
from scaleset.upgrade import planner

# A few hundred here (CI runs 10,000 through `scaleset sim`); seed 30 once found the maxSurge + PATCH
# bug, 41 a run pruned before it was seen ending, 260 a delete that timed out after it was done.
PASSING = list(range(0, 200))


@pytest.fixture(scope="module")
def bench() -> Iterator[Workbench]:
    logging.disable(logging.CRITICAL)
    workbench = Workbench()
    yield workbench
    workbench.close()
    logging.disable(logging.NOTSET)


def test_the_same_seed_is_the_same_scenario() -> None:
    assert generate(12345) == generate(12345)
    assert generate(12345) != generate(12346)


def test_seeds_pass(bench: Workbench) -> None:
    failing = {seed: result.violations for seed in PASSING if (result := run_seed(seed, bench)).violations}
    assert failing == {}


def test_seeds_leave_no_files_open(bench: Workbench) -> None:
    """A worker runs thousands of seeds, each with a server or more (a crash, a restart): each
    must close its store whole, or the worker runs out of file descriptors (CI, seed ~6,000)."""
    seed = next(s for s in PASSING if generate(s).crashes)
    run_seed(seed, bench)  # anything opened once per process is open from here on
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        run_seed(seed, bench)
    assert len(os.listdir("/proc/self/fd")) <= before


def test_a_seed_replays_exactly(bench: Workbench) -> None:
    seed = next(s for s in PASSING if generate(s).crashes)  # a server crash and restart included
    first, second = run_seed(seed, bench, keep_trace=True), run_seed(seed, bench, keep_trace=True)
    assert first.trace == second.trace
    assert first.digest == second.digest
    assert (first.virtual_seconds, first.runs, first.batches, first.crashes) == (
        second.virtual_seconds, second.runs, second.batches, second.crashes)
    assert first.crashes >= 1 and first.batches >= 1


def test_an_engine_that_takes_too_many_instances_at_once_is_caught(bench: Workbench, monkeypatch: pytest.MonkeyPatch) -> None:
    # Sabotage: every batch is the whole set, whatever maxBatchInstancePercent says.
    monkeypatch.setattr(planner, "batch_size", lambda total, policy: total)
    caught = [v for seed in range(0, 8) for v in run_seed(seed, bench).violations if v.startswith("batch-limit")]
    assert caught


def test_an_engine_that_skips_the_pre_check_is_caught(bench: Workbench, monkeypatch: pytest.MonkeyPatch) -> None:
    # Sabotage: the pre-check's "over the limit" never holds, so batches start whatever the health.
    real_next_batch = planner.next_batch

    def reckless(members: list[planner.Member], policy: planner.Policy, *, first: bool) -> object:
        return real_next_batch([planner.Member(m.id, True, m.progress, m.zone, m.update_domain) for m in members], policy,
                               first=first)

    monkeypatch.setattr(planner, "next_batch", reckless)
    caught = [v for seed in range(0, 40) for v in run_seed(seed, bench).violations if v.startswith("pre-check")]
    assert caught


def test_the_cli_prints_the_count_and_passes() -> None:
    result = CliRunner().invoke(main, ["sim", "--seeds", "2", "--start", "4", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "ran 2 of 2 seeds" in result.output and "no violations" in result.output


def test_the_cli_exits_1_and_names_the_seed_and_its_replay_on_a_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(invariants, "batch_limit", lambda total, percent: 0)  # every batch is now too big
    result = CliRunner().invoke(main, ["sim", "--seeds", "1", "--start", "4", "--jobs", "1"])
    assert result.exit_code == 1, result.output
    assert "ran 1 of 1 seeds" in result.output
    assert "seed 4: batch-limit" in result.output
    assert "replay: scaleset sim --seeds 1 --start 4 --trace" in result.output
