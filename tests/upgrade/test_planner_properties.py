"""Properties of the rolling-upgrade planner over random fleets and policies.

A simulated run drives the planner the way the runner does -- next_batch, reimage (random outcomes),
judge_batch, after_batch, with other instances going down meanwhile -- and checks the invariants of
the issue before and after every step.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from fractions import Fraction

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scaleset.upgrade.planner import (
    BEFORE, DURING, FAILED_VMS, UPGRADED_LIMIT, Batch, BatchHealthy, BatchTimedOut, Done, GoOn, Member, Policy,
    Progress, Stop, Wait, after_batch, batch_size, judge_batch, next_batch, over, plan,
)

P = Progress
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def fleets(draw: st.DrawFn, *, healthy_only: bool = False) -> list[Member]:
    n = draw(st.integers(1, 300))
    # Per fleet: how many are down (mostly few, so runs get past the pre-check), zones, update domains.
    down_percent = 0 if healthy_only else draw(st.sampled_from([0, 0, 5, 10, 20, 30, 60]))
    zoned = draw(st.sampled_from(["none", "all", "mixed"]))
    domains = draw(st.integers(1, 5))
    skip_percent = draw(st.sampled_from([0, 0, 10, 50]))
    rolls = draw(st.lists(st.tuples(st.integers(0, 99), st.sampled_from([None, "1", "2", "3"]),
                                    st.integers(0, 4), st.integers(0, 99)), min_size=n, max_size=n))
    members = []
    for i, (health_roll, zone, ud, skip_roll) in enumerate(rolls):
        if zoned == "none":
            zone = None
        elif zoned == "all" and zone is None:
            zone = "1"
        members.append(Member(i, health_roll >= down_percent, P.SKIPPED if skip_roll < skip_percent else P.PENDING,
                              zone, ud % domains))
    return members


policies = st.builds(
    Policy,
    max_batch_percent=st.integers(5, 100),
    max_unhealthy_percent=st.integers(5, 100),
    max_unhealthy_upgraded_percent=st.integers(0, 100),
    pause_between_batches=st.sampled_from([0.0, 30.0, 600.0]),
    prioritize_unhealthy=st.booleans(),
    cross_zone=st.booleans(),
    walk_update_domains=st.booleans(),
    rollback=st.booleans(),
    health_wait=st.sampled_from([60.0, 300.0]),
)


def unhealthy_count(members: list[Member]) -> int:
    return sum(1 for m in members if not m.healthy)


def group(member: Member, policy: Policy) -> tuple[object, object]:
    """What a batch must share: the zone unless cross-zone, the update domain when walking."""
    return (None if policy.cross_zone else member.zone, member.update_domain if policy.walk_update_domains else None)


def check_batch_shape(members: list[Member], ids: tuple[int, ...], policy: Policy) -> None:
    """The selection rules every batch (real or planned) obeys, against the snapshot it was chosen from."""
    by_id = {m.id: m for m in members}
    pending = [m for m in members if m.progress == P.PENDING]
    assert ids, "a batch is never empty"
    assert len(ids) <= batch_size(len(members), policy)
    assert len(set(ids)) == len(ids), "an instance twice in one batch"
    assert all(by_id[i].progress == P.PENDING for i in ids), "only pending instances are upgraded"
    if not policy.cross_zone:
        assert len({by_id[i].zone for i in ids}) == 1, "zones never share a batch"
    if policy.walk_update_domains:
        assert len({by_id[i].update_domain for i in ids}) == 1, "a batch never spans two update domains"
    # Not needlessly small: it is full, or holds every pending instance that could have joined it.
    key = group(by_id[ids[0]], policy)
    eligible = [m for m in pending if group(m, policy) == key]
    assert len(ids) == min(batch_size(len(members), policy), len(eligible))
    if policy.prioritize_unhealthy:
        if any(not m.healthy for m in pending):
            assert any(not by_id[i].healthy for i in ids), "unhealthy pending instances go first"
        if any(by_id[i].healthy for i in ids):
            # A healthy one only when no unhealthy one that could have joined was left out.
            assert all(m.id in ids for m in eligible if not m.healthy)


def take_some_down(members: list[Member], batch: tuple[int, ...], data: st.DataObject) -> list[Member]:
    """Now and then, something other than the upgrade takes a few instances down."""
    if data.draw(st.integers(0, 5), label="others go down") != 0:
        return members
    others = [m.id for m in members if m.id not in batch and m.healthy]
    if not others:
        return members
    count = data.draw(st.integers(1, max(1, len(others) // 4)), label="how many go down")
    start = data.draw(st.integers(0, len(others) - 1), label="from where")
    taken = set((others + others)[start:start + count])
    return [replace(m, healthy=False) if m.id in taken else m for m in members]


@given(fleets(), policies, st.data())
@SETTINGS
def test_simulated_run_keeps_every_invariant(members: list[Member], policy: Policy, data: st.DataObject) -> None:
    n = len(members)
    size = batch_size(n, policy)
    upgrade_set = {m.id for m in members if m.progress == P.PENDING}
    seen: set[int] = set()
    batches: list[tuple[int, ...]] = []
    groups_done: dict[object, int] = {}  # zone (or all) -> the last update domain walked there
    ending = None
    # How often, this run, an upgraded instance stays down, and how often its reimage fails outright.
    down_permille = data.draw(st.sampled_from([0, 10, 50, 150, 500, 1000]), label="down per mille")
    reimage_fail_permille = data.draw(st.sampled_from([0, 0, 0, 2, 20]), label="reimage failures per mille")

    for _ in range(n + 1):
        assert sum(Counter(m.progress for m in members).values()) == n
        decision = next_batch(members, policy, first=not batches)
        unhealthy = unhealthy_count(members)
        if isinstance(decision, Done):
            assert not any(m.progress == P.PENDING for m in members)
            event("done")
            ending = decision
            break
        if isinstance(decision, Stop):
            assert over(unhealthy, n, policy.max_unhealthy_percent), "the pre-check refused without cause"
            assert decision.code == (BEFORE if not batches else DURING)
            assert decision.roll_back == ()
            event(f"pre-check stop: {decision.code}")
            ending = decision
            break
        assert isinstance(decision, Batch)
        ids = decision.ids
        assert not over(unhealthy, n, policy.max_unhealthy_percent), "a batch started past the pre-check"
        check_batch_shape(members, ids, policy)
        assert not seen & set(ids), "an instance in two batches"
        seen |= set(ids)
        batches.append(ids)
        by_id = {m.id: m for m in members}
        if policy.walk_update_domains and not policy.prioritize_unhealthy:
            # Domains are walked in order (within each zone unless cross-zone): never back to a lower one.
            where = None if policy.cross_zone else by_id[ids[0]].zone
            ud = by_id[ids[0]].update_domain
            assert ud >= groups_done.get(where, -1), "update domains walked out of order"
            groups_done[where] = ud

        # Reimage the batch: each one turns healthy, stays down, or its reimage fails outright.
        outcome = {i: data.draw(st.integers(0, 999), label="outcome") for i in ids}
        failed = frozenset(i for i in ids if outcome[i] < reimage_fail_permille)
        down = {i for i in ids if outcome[i] < max(down_permille, reimage_fail_permille)}
        members = [replace(m, progress=P.IN_FLIGHT, healthy=m.id not in down) if m.id in ids else m for m in members]
        assert Counter(m.progress for m in members)[P.IN_FLIGHT] == len(ids)
        assert sum(Counter(m.progress for m in members).values()) == n

        verdict = judge_batch(members, ids, policy, elapsed=0.0, failed=failed)
        if down:
            if down <= failed:
                assert verdict == BatchTimedOut(tuple(i for i in ids if i in down))
            else:
                assert verdict == Wait(policy.health_wait)
            verdict = judge_batch(members, ids, policy, elapsed=policy.health_wait, failed=failed)
            assert verdict == BatchTimedOut(tuple(i for i in ids if i in down))
        else:
            assert verdict == BatchHealthy()
        members = [replace(m, progress=P.FAILED if m.id in down else P.UPGRADED) if m.id in ids else m
                   for m in members]

        # Meanwhile something else may take other instances down.
        members = take_some_down(members, ids, data)

        after = after_batch(members, ids, policy, failed_reimages=failed)
        upgraded = [m for m in members if m.progress in (P.UPGRADED, P.FAILED)]
        bad = [m for m in upgraded if m.progress == P.FAILED or not m.healthy]
        upgraded_over = over(len(bad), len(upgraded), policy.max_unhealthy_upgraded_percent)
        set_over = over(unhealthy_count(members), n, policy.max_unhealthy_percent)
        if isinstance(after, GoOn):
            assert not failed and not upgraded_over and not set_over
        else:
            assert isinstance(after, Stop)
            expected = (FAILED_VMS if failed else UPGRADED_LIMIT if upgraded_over else DURING if set_over else None)
            assert after.code == expected
            batch_failures = tuple(i for i in ids if i in down)
            assert after.roll_back == (batch_failures if policy.rollback else ())
            event(f"after-batch stop: {after.code}")
            ending = after
            break
        # Between batches too: the next pre-check must see instances taken down after the last check.
        members = take_some_down(members, ids, data)
    else:
        raise AssertionError("the run did not end")

    assert ending is not None
    assert len(batches) <= max(1, len(upgrade_set))
    assert all(len(b) <= size for b in batches)
    assert sum(Counter(m.progress for m in members).values()) == n
    if isinstance(ending, Done):
        assert seen == upgrade_set


@given(fleets(), policies)
@SETTINGS
def test_plan_partitions_the_pending_members(members: list[Member], policy: Policy) -> None:
    pending = [m.id for m in members if m.progress == P.PENDING]
    first = next_batch(members, policy, first=True)
    result = plan(members, policy, skipped={}, seconds_per_batch=120.0)
    if isinstance(first, Stop):
        assert result.batches == () and result.blocked == first and result.expected_seconds == 0
        return
    assert result.blocked is None
    flat = [i for batch in result.batches for i in batch]
    assert sorted(flat) == sorted(pending), "the planned batches are exactly the pending members, once each"
    if result.batches:
        assert first == Batch(result.batches[0])
    else:
        assert first == Done()
    k = len(result.batches)
    assert result.expected_seconds == k * 120.0 + max(0, k - 1) * policy.pause_between_batches
    # Every planned batch obeys the selection rules against the state the plan assumes.
    current = list(members)
    for batch in result.batches:
        check_batch_shape(current, batch, policy)
        current = [replace(m, healthy=True, progress=P.UPGRADED) if m.id in batch else m for m in current]


@given(fleets(healthy_only=True), policies)
@SETTINGS
def test_plan_of_a_healthy_set_is_never_blocked(members: list[Member], policy: Policy) -> None:
    result = plan(members, policy, skipped={}, seconds_per_batch=1.0)
    assert result.blocked is None
    pending = sorted(m.id for m in members if m.progress == P.PENDING)
    assert sorted(i for batch in result.batches for i in batch) == pending
    assert len(result.batches) <= len(pending)
    if pending:
        assert next_batch(members, policy, first=True) == Batch(result.batches[0])


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 100))
@settings(deadline=None)
def test_over_means_strictly_more_than_the_percent(count: int, total: int, percent: int) -> None:
    assert over(count, total, percent) == (total > 0 and Fraction(count, total) > Fraction(percent, 100))


@given(st.integers(0, 100_000), st.integers(5, 100))
@settings(deadline=None)
def test_batch_size_is_the_largest_share_within_the_percent(total: int, percent: int) -> None:
    size = batch_size(total, Policy(max_batch_percent=percent))
    assert size >= 1
    if size > 1:
        assert size * 100 <= total * percent < (size + 1) * 100
