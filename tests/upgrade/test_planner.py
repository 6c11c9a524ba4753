"""The rolling-upgrade planner, rule by rule, on small explicit fleets.

Each rule of the issue (Azure's automatic OS image upgrades for scale sets) has its own table of
cases; the test names state the rule.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from scaleset.upgrade.planner import (
    BEFORE, DURING, FAILED_VMS, UPGRADED_LIMIT, Batch, BatchHealthy, BatchTimedOut, Done, GoOn, Member, Plan,
    Policy, Progress, Stop, Unsure, Wait, after_batch, batch_size, judge_batch, next_batch, over, plan,
)

P = Progress


def fleet(n: int, *, unhealthy: frozenset[int] | set[int] = frozenset(), zones: list[str | None] | None = None,
          uds: list[int] | None = None, progress: dict[int, Progress] | None = None) -> list[Member]:
    """n members with ids 0..n-1, all healthy and pending unless told otherwise."""
    progress = progress or {}
    return [Member(i, i not in unhealthy, progress.get(i, P.PENDING),
                   zones[i] if zones else None, uds[i] if uds else 0) for i in range(n)]


def upgrade(members: list[Member], ids, *, failed: set[int] = frozenset(), down: set[int] = frozenset()) -> list[Member]:
    """The batch `ids` reimaged: FAILED (and unhealthy) for `failed`, UPGRADED otherwise; `down` go unhealthy."""
    out = []
    for m in members:
        if m.id in ids:
            m = replace(m, progress=P.FAILED if m.id in failed else P.UPGRADED, healthy=m.id not in failed)
        if m.id in down:
            m = replace(m, healthy=False)
        out.append(m)
    return out


def batches_of(members: list[Member], policy: Policy) -> list[tuple[int, ...]]:
    return list(plan(members, policy, skipped={}, seconds_per_batch=0).batches)


# -- (2) batch size: at most maxBatchInstancePercent of all instances, at least one -------------

@pytest.mark.parametrize(("total", "percent", "size"), [
    (10, 20, 2),
    (3, 20, 1),    # 0.6 rounds down to 0, raised to the floor of one
    (1, 20, 1),
    (0, 20, 1),
    (4, 20, 1),
    (5, 20, 1),
    (9, 20, 1),
    (14, 20, 2),   # 2.8: "at most", so down
    (15, 20, 3),
    (100, 5, 5),
    (19, 5, 1),
    (7, 50, 3),
    (300, 100, 300),
    (300, 33, 99),
    (3, 34, 1),    # 1.02
    (3, 33, 1),    # 0.99
])
def test_batch_size_is_at_most_the_percent_and_at_least_one(total: int, percent: int, size: int) -> None:
    assert batch_size(total, Policy(max_batch_percent=percent)) == size


def test_batch_is_twenty_percent_of_ten_instances_two() -> None:
    assert next_batch(fleet(10), Policy(), first=True) == Batch((0, 1))


def test_batch_of_three_instances_is_at_least_one() -> None:
    assert next_batch(fleet(3), Policy(), first=True) == Batch((0,))


def test_batch_size_counts_all_instances_not_only_pending() -> None:
    # Ten instances, six already upgraded or skipped: still 20% of ten, two a batch.
    members = fleet(10, progress={i: P.UPGRADED for i in range(4)} | {4: P.SKIPPED, 5: P.SKIPPED})
    assert next_batch(members, Policy(), first=False) == Batch((6, 7))


def test_last_batch_takes_what_is_left() -> None:
    members = fleet(10, progress={i: P.UPGRADED for i in range(9)})
    assert next_batch(members, Policy(), first=False) == Batch((9,))


# -- "more than X%" is strict ------------------------------------------------------------------

@pytest.mark.parametrize(("count", "total", "percent", "exceeded"), [
    (2, 10, 20, False),   # exactly 20%
    (3, 10, 20, True),
    (1, 5, 20, False),
    (2, 5, 20, True),
    (1, 6, 20, False),    # 16.7%
    (0, 0, 20, False),    # nothing to measure
    (0, 10, 0, False),
    (1, 10, 0, True),     # 0%: any one exceeds
    (10, 10, 100, False),  # 100%: nothing exceeds
    (1, 3, 33, True),     # 33.3% > 33%
    (1, 3, 34, False),
])
def test_over_is_strictly_more_than(count: int, total: int, percent: int, exceeded: bool) -> None:
    assert over(count, total, percent) is exceeded


# -- (1) the pre-check before each batch --------------------------------------------------------

def test_precheck_refuses_when_three_of_ten_unhealthy() -> None:
    decision = next_batch(fleet(10, unhealthy={7, 8, 9}), Policy(), first=True)
    assert isinstance(decision, Stop)
    assert decision.code == BEFORE
    assert decision.roll_back == ()
    assert "3 of 10" in decision.message


def test_exactly_twenty_percent_unhealthy_is_allowed() -> None:
    assert next_batch(fleet(10, unhealthy={8, 9}), Policy(), first=True) == Batch((0, 1))


def test_precheck_later_in_the_run_uses_the_in_progress_code() -> None:
    members = fleet(10, unhealthy={7, 8, 9}, progress={0: P.UPGRADED, 1: P.UPGRADED})
    decision = next_batch(members, Policy(), first=False)
    assert isinstance(decision, Stop) and decision.code == DURING


@pytest.mark.parametrize(("total", "unhealthy", "percent", "starts"), [
    (10, 0, 20, True),
    (10, 2, 20, True),
    (10, 3, 20, False),
    (5, 1, 20, True),
    (5, 2, 20, False),
    (10, 5, 50, True),
    (10, 6, 50, False),
    (10, 10, 100, True),   # 100%: the pre-check never refuses
    (20, 1, 5, True),
    (20, 2, 5, False),
    (1, 1, 20, False),
    (1, 0, 20, True),
])
def test_precheck_table(total: int, unhealthy: int, percent: int, starts: bool) -> None:
    members = fleet(total, unhealthy=set(range(total - unhealthy, total)))
    decision = next_batch(members, Policy(max_unhealthy_percent=percent), first=True)
    assert isinstance(decision, Batch) is starts
    if not starts:
        assert isinstance(decision, Stop) and decision.code == BEFORE


def test_precheck_counts_every_instance_not_only_pending() -> None:
    # The three unhealthy ones are already upgraded or skipped: they still count against the set.
    members = fleet(10, unhealthy={0, 1, 2}, progress={0: P.UPGRADED, 1: P.FAILED, 2: P.SKIPPED})
    decision = next_batch(members, Policy(), first=False)
    assert isinstance(decision, Stop) and decision.code == DURING


def test_nothing_pending_is_done_whatever_the_health() -> None:
    members = fleet(4, unhealthy={0, 1, 2, 3}, progress={i: P.UPGRADED for i in range(4)})
    assert next_batch(members, Policy(), first=False) == Done()
    assert next_batch([], Policy(), first=True) == Done()


# -- after a batch: the upgraded instances, then the whole set ----------------------------------

def test_healthy_batch_goes_on() -> None:
    members = upgrade(fleet(10), (0, 1))
    assert after_batch(members, (0, 1), Policy()) == GoOn()


@pytest.mark.parametrize(("upgraded", "bad", "percent", "stops"), [
    (2, 1, 20, True),     # 50%
    (5, 1, 20, False),    # exactly 20%
    (6, 1, 20, False),
    (4, 1, 20, True),     # 25%
    (10, 2, 20, False),
    (10, 3, 20, True),
    (10, 1, 0, True),     # 0%: one unhealthy upgraded instance is too many
    (10, 0, 0, False),
    (10, 10, 100, False),
])
def test_upgraded_limit_table(upgraded: int, bad: int, percent: int, stops: bool) -> None:
    # A large set, so the whole-set limit (100%) never decides; the bad ones are the last of the batch.
    batch = tuple(range(upgraded))
    members = upgrade(fleet(100), batch, failed=set(batch[upgraded - bad:]))
    decision = after_batch(members, batch, Policy(max_unhealthy_upgraded_percent=percent, max_unhealthy_percent=100))
    if stops:
        assert isinstance(decision, Stop)
        assert decision.code == UPGRADED_LIMIT
        assert decision.roll_back == batch[upgraded - bad:]
    else:
        assert decision == GoOn()


def test_upgraded_limit_counts_earlier_batches() -> None:
    # Batch one left instance 0 failed (1 of 5, allowed); batch two adds a failure: 2 of 10 is fine,
    # but with a third the upgraded instances are 3 of 10 unhealthy.
    members = upgrade(fleet(30), range(5), failed={0})
    members = upgrade(members, range(5, 10), failed={5, 6})
    decision = after_batch(members, tuple(range(5, 10)), Policy(max_unhealthy_percent=100))
    assert isinstance(decision, Stop) and decision.code == UPGRADED_LIMIT
    assert decision.roll_back == (5, 6)


def test_upgraded_instance_that_turned_unhealthy_later_counts() -> None:
    # Instance 0 was upgraded fine in the first batch and has gone down since.
    members = upgrade(fleet(10), (0, 1), down={0})
    members = upgrade(members, (2, 3))
    decision = after_batch(members, (2, 3), Policy(max_unhealthy_percent=100))
    assert isinstance(decision, Stop) and decision.code == UPGRADED_LIMIT
    assert decision.roll_back == ()  # not a failure of this batch


def test_a_stop_that_rests_on_verdicts_not_in_yet_is_unsure() -> None:
    # Instances 0 and 1 were upgraded in an earlier batch and have no verdict yet (counted
    # unhealthy): with them healthy the run would go on, so it is not stopped on them.
    members = upgrade(upgrade(fleet(10), (0, 1), down={0, 1}), (2, 3))
    policy = Policy(max_unhealthy_percent=100)
    assert isinstance(after_batch(members, (2, 3), policy), Stop)
    assert after_batch(members, (2, 3), policy, unknown=frozenset({0, 1})) == Unsure((0, 1))
    # One not in yet cannot change a stop that the others make.
    members = upgrade(upgrade(fleet(10), (0, 1), down={0}), (2, 3), failed={2, 3})
    decision = after_batch(members, (2, 3), policy, unknown=frozenset({0}))
    assert isinstance(decision, Stop) and decision.code == UPGRADED_LIMIT


def test_instances_taken_down_by_others_count_after_batch() -> None:
    # The batch is fine; meanwhile three other instances went down: 3 of 10 > 20%.
    members = upgrade(fleet(10), (0, 1), down={5, 6, 7})
    decision = after_batch(members, (0, 1), Policy())
    assert isinstance(decision, Stop)
    assert decision.code == DURING
    assert decision.roll_back == ()


def test_two_taken_down_by_others_is_exactly_the_limit_and_allowed() -> None:
    members = upgrade(fleet(10), (0, 1), down={5, 6})
    assert after_batch(members, (0, 1), Policy()) == GoOn()


def test_whole_set_limit_counts_the_batch_and_the_others_together() -> None:
    # One batch failure (1 of 2 upgraded = 50%, allowed at 50%) plus two others down: 3 of 10.
    members = upgrade(fleet(10), (0, 1), failed={0}, down={5, 6})
    decision = after_batch(members, (0, 1), Policy(max_unhealthy_upgraded_percent=50))
    assert isinstance(decision, Stop) and decision.code == DURING
    assert decision.roll_back == (0,)


def test_upgraded_limit_is_checked_before_the_whole_set() -> None:
    members = upgrade(fleet(10), (0, 1), failed={0, 1}, down={5, 6, 7})
    decision = after_batch(members, (0, 1), Policy())
    assert isinstance(decision, Stop) and decision.code == UPGRADED_LIMIT


# -- rollback ----------------------------------------------------------------------------------

def test_rollback_names_only_the_batch_failures() -> None:
    # Batch one: 0 failed (1 of 5 upgraded, allowed). Batch two: 5 and 7 fail -> 3 of 10 upgraded.
    members = upgrade(fleet(40), range(5), failed={0})
    members = upgrade(members, range(5, 10), failed={5, 7}, down={30})
    decision = after_batch(members, tuple(range(5, 10)), Policy())
    assert isinstance(decision, Stop)
    assert decision.roll_back == (5, 7)  # not 0 (an earlier batch), not 30 (never upgraded)


@pytest.mark.parametrize("code", [UPGRADED_LIMIT, DURING, FAILED_VMS])
def test_no_rollback_when_disabled(code: str) -> None:
    if code == UPGRADED_LIMIT:
        members, failed = upgrade(fleet(10), (0, 1), failed={0}), frozenset()
    elif code == DURING:
        members, failed = upgrade(fleet(10), (0, 1), failed={0}, down={5, 6}), frozenset()
    else:
        members, failed = upgrade(fleet(10), (0, 1), failed={0}), frozenset({0})
    policy = Policy(max_unhealthy_upgraded_percent=50 if code == DURING else 20)
    with_rollback = after_batch(members, (0, 1), policy, failed_reimages=failed)
    without = after_batch(members, (0, 1), replace(policy, rollback=False), failed_reimages=failed)
    assert isinstance(with_rollback, Stop) and with_rollback.code == code and with_rollback.roll_back == (0,)
    assert isinstance(without, Stop) and without.code == code and without.roll_back == ()


def test_failed_reimage_stops_with_failed_vms_code() -> None:
    # One of twenty failed to reimage: well inside every percentage, still the run stops.
    members = upgrade(fleet(100), range(20), failed={3})
    decision = after_batch(members, tuple(range(20)), Policy(), failed_reimages=frozenset({3}))
    assert isinstance(decision, Stop)
    assert decision.code == FAILED_VMS
    assert decision.roll_back == (3,)
    assert "1 instance(s)" in decision.message


def test_failed_vms_code_wins_over_the_percent_limits() -> None:
    members = upgrade(fleet(10), (0, 1), failed={0, 1}, down={5, 6, 7})
    decision = after_batch(members, (0, 1), Policy(), failed_reimages=frozenset({0}))
    assert isinstance(decision, Stop) and decision.code == FAILED_VMS
    assert decision.roll_back == (0, 1)


def test_failed_reimage_of_an_earlier_batch_does_not_stop_a_later_one() -> None:
    members = upgrade(fleet(20), range(4), failed={0})
    members = upgrade(members, range(4, 8))
    decision = after_batch(members, tuple(range(4, 8)), Policy(), failed_reimages=frozenset({0}))
    assert decision == GoOn()  # 1 of 8 upgraded, 1 of 20 in all


# -- zones, update domains, priority -----------------------------------------------------------

ZONES = ["1", "2", "3"] * 4  # twelve instances, zone i % 3


@pytest.mark.parametrize(("cross_zone", "expected"), [
    (False, (0, 3, 6, 9)),       # zone "1" only, though the batch may hold six
    (True, (0, 1, 2, 3, 4, 5)),
])
def test_zones_never_share_a_batch_unless_cross_zone(cross_zone: bool, expected: tuple[int, ...]) -> None:
    members = fleet(12, zones=ZONES)
    policy = Policy(max_batch_percent=50, cross_zone=cross_zone)
    assert next_batch(members, policy, first=True) == Batch(expected)


def test_zones_are_upgraded_one_after_the_other() -> None:
    members = fleet(12, zones=ZONES)
    assert batches_of(members, Policy(max_batch_percent=50)) == [(0, 3, 6, 9), (1, 4, 7, 10), (2, 5, 8, 11)]
    assert batches_of(members, Policy(max_batch_percent=25)) == [
        (0, 3, 6), (9,), (1, 4, 7), (10,), (2, 5, 8), (11,)]


def test_instances_without_a_zone_form_their_own_group() -> None:
    members = fleet(4, zones=[None, "1", None, "1"])
    for batch in batches_of(members, Policy(max_batch_percent=100)):
        assert len({members[i].zone for i in batch}) == 1
    assert batches_of(members, Policy(max_batch_percent=100)) == [(0, 2), (1, 3)]


def test_update_domains_walked_in_order_one_at_a_time() -> None:
    uds = [2, 1, 0, 2, 1, 0, 2, 1, 0, 2]  # UD0 = {2,5,8}, UD1 = {1,4,7}, UD2 = {0,3,6,9}
    members = fleet(10, uds=uds)
    assert batches_of(members, Policy(max_batch_percent=50, walk_update_domains=True)) == [
        (2, 5, 8), (1, 4, 7), (0, 3, 6, 9)]
    assert batches_of(members, Policy(max_batch_percent=20, walk_update_domains=True)) == [
        (2, 5), (8,), (1, 4), (7,), (0, 3), (6, 9)]


def test_update_domains_may_share_a_batch_when_not_walking() -> None:
    members = fleet(10, uds=[i % 3 for i in range(10)])
    assert batches_of(members, Policy(max_batch_percent=50)) == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)]


def test_update_domains_walked_within_each_zone() -> None:
    members = fleet(8, zones=["1", "1", "2", "2", "1", "1", "2", "2"], uds=[1, 0, 1, 0, 1, 0, 1, 0])
    assert batches_of(members, Policy(max_batch_percent=100, walk_update_domains=True)) == [
        (1, 5), (0, 4), (3, 7), (2, 6)]
    # Across zones the walk is one over the whole set.
    assert batches_of(members, Policy(max_batch_percent=100, walk_update_domains=True, cross_zone=True)) == [
        (1, 3, 5, 7), (0, 2, 4, 6)]


@pytest.mark.parametrize(("prioritize", "expected"), [
    (True, (7, 9)),
    (False, (0, 1)),
])
def test_unhealthy_first_when_prioritized(prioritize: bool, expected: tuple[int, ...]) -> None:
    members = fleet(10, unhealthy={7, 9})
    assert next_batch(members, Policy(prioritize_unhealthy=prioritize), first=True) == Batch(expected)


def test_prioritized_unhealthy_fill_the_batch_with_healthy_ones_after() -> None:
    members = fleet(10, unhealthy={8})
    assert next_batch(members, Policy(prioritize_unhealthy=True, max_batch_percent=30), first=True) == Batch((8, 0, 1))


def test_prioritized_unhealthy_still_keep_to_one_zone() -> None:
    members = fleet(12, zones=ZONES, unhealthy={5})  # 5 is in zone "3"
    decision = next_batch(members, Policy(prioritize_unhealthy=True, max_batch_percent=50), first=True)
    assert decision == Batch((5, 2, 8, 11))


def test_prioritized_unhealthy_only_among_pending() -> None:
    members = fleet(10, unhealthy={0}, progress={0: P.UPGRADED})
    assert next_batch(members, Policy(prioritize_unhealthy=True), first=False) == Batch((1, 2))


# -- (4) judging the batch in flight -----------------------------------------------------------

@pytest.mark.parametrize(("elapsed", "expected"), [
    (0.0, Wait(300.0)),
    (100.0, Wait(200.0)),
    (299.5, Wait(0.5)),
    (300.0, BatchTimedOut((1,))),   # the wait is up to five minutes, not beyond
    (301.0, BatchTimedOut((1,))),
])
def test_judge_waits_until_deadline(elapsed: float, expected: object) -> None:
    members = fleet(10, unhealthy={1})
    assert judge_batch(members, (0, 1), Policy(), elapsed=elapsed) == expected


def test_judge_uses_the_policy_health_wait() -> None:
    members = fleet(4, unhealthy={0})
    policy = Policy(health_wait=60.0)
    assert judge_batch(members, (0,), policy, elapsed=45.0) == Wait(15.0)
    assert judge_batch(members, (0,), policy, elapsed=60.0) == BatchTimedOut((0,))


def test_judge_times_out_with_the_unhealthy_ids() -> None:
    members = fleet(10, unhealthy={1, 3, 7})  # 7 is not in the batch
    assert judge_batch(members, (0, 1, 2, 3), Policy(), elapsed=400.0) == BatchTimedOut((1, 3))


@pytest.mark.parametrize("elapsed", [0.0, 299.0, 300.0, 10_000.0])
def test_judge_healthy_batch_is_healthy_at_any_time(elapsed: float) -> None:
    members = fleet(10, unhealthy={5})  # unhealthy, but not in the batch
    assert judge_batch(members, (0, 1), Policy(), elapsed=elapsed) == BatchHealthy()


def test_judge_does_not_wait_on_failed_reimages() -> None:
    members = fleet(10)
    assert judge_batch(members, (0, 1), Policy(), elapsed=0.0, failed=frozenset({1})) == BatchTimedOut((1,))


def test_judge_waits_for_the_others_beside_a_failed_reimage() -> None:
    members = fleet(10, unhealthy={0})
    assert judge_batch(members, (0, 1), Policy(), elapsed=10.0, failed=frozenset({1})) == Wait(290.0)
    assert judge_batch(members, (0, 1), Policy(), elapsed=300.0, failed=frozenset({1})) == BatchTimedOut((0, 1))


# -- the dry run -------------------------------------------------------------------------------

def test_plan_for_ten_instances_is_five_batches_of_two() -> None:
    result = plan(fleet(10), Policy(), skipped={}, seconds_per_batch=60)
    assert result.batches == ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
    assert result.blocked is None


@pytest.mark.parametrize(("total", "percent", "pause", "per_batch", "seconds"), [
    (10, 20, 30.0, 60.0, 5 * 60 + 4 * 30),
    (10, 20, 0.0, 60.0, 300),
    (10, 100, 30.0, 60.0, 60),        # one batch: no pause
    (3, 20, 10.0, 100.0, 3 * 100 + 2 * 10),
    (0, 20, 10.0, 100.0, 0),          # nothing to do
])
def test_plan_expected_duration_counts_pauses(total: int, percent: int, pause: float, per_batch: float,
                                              seconds: float) -> None:
    policy = Policy(max_batch_percent=percent, pause_between_batches=pause)
    result = plan(fleet(total), policy, skipped={}, seconds_per_batch=per_batch)
    assert result.expected_seconds == seconds


def test_plan_blocked_by_precheck() -> None:
    result = plan(fleet(10, unhealthy={0, 1, 2}), Policy(pause_between_batches=30), skipped={}, seconds_per_batch=60)
    assert result.batches == ()
    assert result.expected_seconds == 0
    assert isinstance(result.blocked, Stop) and result.blocked.code == BEFORE
    assert result.blocked == next_batch(fleet(10, unhealthy={0, 1, 2}), Policy(), first=True)


def test_plan_at_the_limit_is_not_blocked() -> None:
    result = plan(fleet(10, unhealthy={0, 1}), Policy(), skipped={}, seconds_per_batch=60)
    assert result.blocked is None and len(result.batches) == 5


def test_plan_leaves_out_instances_not_pending_and_reports_the_skipped() -> None:
    members = fleet(10, progress={0: P.SKIPPED, 5: P.SKIPPED})
    result = plan(members, Policy(), skipped={0: "already on the target", 5: "already on the target"},
                  seconds_per_batch=1)
    assert result.batches == ((1, 2), (3, 4), (6, 7), (8, 9))
    assert result.skipped == {0: "already on the target", 5: "already on the target"}


def test_plan_assumes_each_batch_turns_healthy() -> None:
    # Prioritized: the unhealthy go first, and once upgraded they count as healthy.
    members = fleet(10, unhealthy={3, 8})
    result = plan(members, Policy(prioritize_unhealthy=True), skipped={}, seconds_per_batch=1)
    assert result.batches == ((3, 8), (0, 1), (2, 4), (5, 6), (7, 9))


def test_plan_first_batch_is_next_batch() -> None:
    members = fleet(12, zones=ZONES, uds=[i % 2 for i in range(12)], unhealthy={4})
    policy = Policy(max_batch_percent=50, walk_update_domains=True, prioritize_unhealthy=True)
    result = plan(members, policy, skipped={}, seconds_per_batch=1)
    assert Batch(result.batches[0]) == next_batch(members, policy, first=True)


def test_plan_does_not_touch_the_members_given() -> None:
    members = fleet(10, unhealthy={1})
    before = list(members)
    plan(members, Policy(), skipped={}, seconds_per_batch=1)
    assert members == before


def test_plan_returns_a_plan() -> None:
    assert isinstance(plan([], Policy(), skipped={}, seconds_per_batch=1), Plan)
