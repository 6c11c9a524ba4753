"""Each invariant check catches a broken run, fed as a fabricated observation log, and lets a sound
one pass: none of them can pass by never looking."""

from __future__ import annotations

from scaleset.simulation import invariants as inv

RUN = "6b4553e2-0000-4000-8000-000000000000"


def decision(**changes: object) -> inv.Decision:
    values: dict[str, object] = dict(t=100.0, run=RUN, scale_set="web0", batch=1, live=10, unhealthy=0, long_down=0,
                                     max_batch_percent=20, max_unhealthy_percent=20)
    values.update(changes)
    return inv.Decision(**values)  # type: ignore[arg-type]


def observed(**lists: list[object]) -> inv.Observations:
    obs = inv.Observations()
    for name, items in lists.items():
        getattr(obs, name).extend(items)
    return obs


def test_the_batch_limit_rounds_down_and_is_at_least_one() -> None:
    assert inv.batch_limit(10, 20) == 2
    assert inv.batch_limit(9, 20) == 1
    assert inv.batch_limit(3, 20) == 1
    assert inv.batch_limit(4, 50) == 2
    assert not inv.exceeds(2, 10, 20) and inv.exceeds(3, 10, 20)


def test_a_batch_larger_than_the_policy_allows_is_caught() -> None:
    sound = observed(decisions=[decision()], batches=[inv.BatchSize(run=RUN, batch=0, size=2)])
    assert inv.check_batches(sound) == []
    broken = observed(decisions=[decision()], batches=[inv.BatchSize(run=RUN, batch=0, size=3)])
    assert [v.invariant for v in inv.check_batches(broken)] == ["batch-limit"]


def test_a_batch_never_seen_decided_is_caught() -> None:
    unseen = observed(batches=[inv.BatchSize(run=RUN, batch=0, size=1)])
    assert "never seen decided" in inv.check_batches(unseen)[0].message


def test_more_upgrade_calls_under_way_than_a_batch_is_caught() -> None:
    def call(concurrent: int) -> inv.UpgradeCall:
        return inv.UpgradeCall(t=101.0, run=RUN, scale_set="web0", machine="web0/3", op="reimage", concurrent=concurrent,
                               live=10, max_batch_percent=20)

    assert inv.check_batches(observed(decisions=[decision()], upgrade_calls=[call(2)])) == []
    assert len(inv.check_batches(observed(decisions=[decision()], upgrade_calls=[call(3)]))) == 1


def test_the_limit_of_calls_is_that_of_the_set_when_the_batch_was_chosen() -> None:
    # Scaled in from 10 to 4 after the batch of 2 was chosen: still within the limit.
    shrunk = inv.UpgradeCall(t=101.0, run=RUN, scale_set="web0", machine="web0/3", op="reimage", concurrent=2, live=4,
                             max_batch_percent=20)
    assert inv.check_batches(observed(decisions=[decision()], upgrade_calls=[shrunk])) == []


def test_a_batch_started_over_the_unhealthy_limit_is_caught_by_verdicts_and_by_machines() -> None:
    assert inv.check_prechecks(observed(decisions=[decision(unhealthy=2, long_down=2)])) == []
    by_verdicts = inv.check_prechecks(observed(decisions=[decision(unhealthy=3)]))
    by_machines = inv.check_prechecks(observed(decisions=[decision(long_down=3)]))
    assert len(by_verdicts) == 1 and "verdicts" in by_verdicts[0].message
    assert len(by_machines) == 1 and "machines" in by_machines[0].message


def test_a_lost_data_disk_is_caught() -> None:
    kept = inv.DiskCheck(t=5.0, machine="web0/1", lun=0, found=True, when="after reimage")
    lost = inv.DiskCheck(t=6.0, machine="web0/2", lun=1, found=False, when="after reimage")
    assert inv.check_disks(observed(disks=[kept])) == []
    assert [v.message for v in inv.check_disks(observed(disks=[kept, lost]))] == [
        "web0/2 lost the marker on data disk lun 1 (after reimage)"]


def test_a_run_that_does_not_end_in_time_is_caught() -> None:
    ended = inv.RunEnd(run=RUN, scale_set="web0", state="Completed", ended=900.0, deadline=1000.0)
    late = inv.RunEnd(run=RUN, scale_set="web0", state="Faulted", ended=1200.0, deadline=1000.0)
    stuck = inv.RunEnd(run=RUN, scale_set="web0", state="RollingForward", ended=None, deadline=1000.0)
    assert inv.check_termination(observed(ends=[ended])) == []
    assert len(inv.check_termination(observed(ends=[late, stuck]))) == 2


def progress(**changes: object) -> inv.ProgressSample:
    counts = {"successfulInstanceCount": 2, "failedInstanceCount": 1, "inProgressInstanceCount": 0, "pendingInstanceCount": 1}
    values: dict[str, object] = dict(t=50.0, run=RUN, state="RollingForward", counts=counts, members=frozenset({0, 1, 2, 3}),
                                     initial=frozenset({0, 1, 2, 3, 4}), gone=frozenset({4}))
    values.update(changes)
    return inv.ProgressSample(**values)  # type: ignore[arg-type]


def test_progress_counts_must_sum_to_the_members_that_stayed() -> None:
    assert inv.check_progress(observed(progress=[progress()])) == []
    miscounted = progress(counts={"successfulInstanceCount": 3, "failedInstanceCount": 1, "inProgressInstanceCount": 0,
                                  "pendingInstanceCount": 1})
    vanished = progress(gone=frozenset())
    joined = progress(members=frozenset({0, 1, 2, 3, 9}), counts={"successfulInstanceCount": 5})
    ended_in_flight = progress(state="Cancelled", counts={"successfulInstanceCount": 3, "inProgressInstanceCount": 1})
    completed_pending = progress(state="Completed")
    for broken in (miscounted, vanished, joined, ended_in_flight, completed_pending):
        assert inv.check_progress(observed(progress=[broken])), broken


def test_history_beyond_keep_or_window_or_not_the_newest_is_caught() -> None:
    def sample(**changes: object) -> inv.HistorySample:
        values: dict[str, object] = dict(t=10.0, scale_set="web0", keep=2, window=600.0, stored=2,
                                         listed=(("b", 5.0, False), ("a", 100.0, False)), expected=("b", "a"))
        values.update(changes)
        return inv.HistorySample(**values)  # type: ignore[arg-type]

    assert inv.check_history(observed(history=[sample()])) == []
    assert inv.check_history(observed(history=[sample(stored=3)]))
    assert inv.check_history(observed(history=[sample(listed=(("b", 5.0, False),))]))
    assert inv.check_history(observed(history=[sample(listed=(("b", 5.0, False), ("a", 700.0, False)))]))


def test_an_instance_the_store_and_the_machine_disagree_on_is_caught() -> None:
    agree = inv.ImageAgreement(t=1.0, machine="web0/1", stored="a:b:c:1.0.1", actual="a:b:c:1.0.1")
    differ = inv.ImageAgreement(t=1.0, machine="web0/9", stored=None, actual="a:b:c:1.0.1")
    assert inv.check_images(observed(images=[agree])) == []
    assert len(inv.check_images(observed(images=[agree, differ]))) == 1
