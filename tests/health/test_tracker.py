"""HealthTracker: every transition rule, by example and for any sequence of answers."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from scaleset.health.answers import ProbeAnswer
from scaleset.health.probe_spec import ProbeSpec
from scaleset.health.tracker import HealthTracker
from scaleset.health.verdicts import HealthState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
HEALTHY, UNHEALTHY, UNKNOWN, INITIALIZING = (
    HealthState.HEALTHY,
    HealthState.UNHEALTHY,
    HealthState.UNKNOWN,
    HealthState.INITIALIZING,
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ok(t: float, *, rich: bool = False) -> ProbeAnswer:
    return ProbeAnswer(at=at(t), ok=True, status_code=200, latency_ms=1.0, app_state="Healthy" if rich else None)


def refused(t: float) -> ProbeAnswer:
    return ProbeAnswer(at=at(t), ok=False, latency_ms=0.2, error="connection refused")


def says_unhealthy(t: float) -> ProbeAnswer:
    return ProbeAnswer(
        at=at(t), ok=False, status_code=200, latency_ms=1.0, error="application reported Unhealthy", app_state="Unhealthy"
    )


def lb(k: int = 2) -> ProbeSpec:
    return ProbeSpec(protocol="http", port=8080, request_path="/health", number_of_probes=k)


def rich(k: int = 2, grace: int = 30) -> ProbeSpec:
    return ProbeSpec(
        protocol="http",
        port=8080,
        request_path="/health",
        number_of_probes=k,
        rich=True,
        grace_period_seconds=grace,
        source="applicationHealthExtension",
    )


# Binary sources (load-balancer probe, Application Health 1.x) -----------------------------------


def test_binary_starts_unknown_with_no_answer() -> None:
    verdict = HealthTracker(lb()).verdict(at(0))
    assert verdict.state is UNKNOWN
    assert verdict.reason == "no probe answer yet"
    assert verdict.answers == ()


def test_binary_flips_healthy_after_k_consecutive_ok_answers() -> None:
    tracker = HealthTracker(lb(2), host="127.3.0.5")
    first = tracker.observe(ok(5))
    assert first.state is UNKNOWN
    assert first.reason == "unknown until 2 consecutive probes succeed: 1 so far"
    second = tracker.observe(ok(10))
    assert second.state is HEALTHY
    assert second.reason == "2 consecutive probes answered HTTP 200 on 127.3.0.5:8080/health"
    assert second.since == at(10)
    assert second.answers == (ok(5), ok(10))


def test_fewer_than_k_failures_keep_an_instance_healthy() -> None:
    tracker = HealthTracker(lb(3), host="127.3.0.5")
    for t in (0, 5, 10):
        tracker.observe(ok(t))
    verdict = tracker.observe(refused(15))
    verdict = tracker.observe(refused(20))
    assert verdict.state is HEALTHY
    assert verdict.since == at(10)
    assert verdict.reason == "still healthy: last 2 probes failed: connection refused; 3 in a row make it unhealthy"


def test_k_consecutive_failures_make_a_healthy_instance_unhealthy() -> None:
    tracker = HealthTracker(lb(2))
    tracker.observe(ok(0))
    tracker.observe(ok(5))
    tracker.observe(refused(10))
    verdict = tracker.observe(refused(15))
    assert verdict.state is UNHEALTHY
    assert verdict.reason == "last 2 probes failed: connection refused"
    assert verdict.since == at(15)


def test_an_ok_answer_between_failures_restarts_the_count() -> None:
    tracker = HealthTracker(lb(2))
    for answer in (ok(0), ok(5), refused(10), ok(15), refused(20)):
        verdict = tracker.observe(answer)
    assert verdict.state is HEALTHY


def test_unhealthy_needs_k_consecutive_ok_answers_to_recover() -> None:
    tracker = HealthTracker(lb(2))
    tracker.observe(refused(0))
    tracker.observe(refused(5))
    verdict = tracker.observe(ok(10))
    assert verdict.state is UNHEALTHY
    assert verdict.reason == "unhealthy until 2 consecutive probes succeed: 1 so far"
    verdict = tracker.observe(ok(15))
    assert verdict.state is HEALTHY and verdict.since == at(15)


def test_with_k_1_every_answer_decides() -> None:
    tracker = HealthTracker(lb(1), host="127.3.0.5")
    assert tracker.observe(refused(0)).state is UNHEALTHY
    verdict = tracker.observe(ok(5))
    assert verdict.state is HEALTHY
    assert verdict.reason == "the last probe answered HTTP 200 on 127.3.0.5:8080/health"
    assert tracker.observe(refused(10)).reason == "the last probe failed: connection refused"


def test_binary_failures_before_k_say_how_far_it_got() -> None:
    tracker = HealthTracker(lb(3))
    verdict = tracker.observe(refused(0))
    assert verdict.state is UNKNOWN
    assert verdict.reason == "unknown until 3 consecutive probes agree; last probe: connection refused"


def test_binary_ignores_a_rich_grace_period_and_an_explicit_unhealthy_is_just_a_failure() -> None:
    tracker = HealthTracker(lb(2), started=at(0))
    assert tracker.verdict(at(0)).state is UNKNOWN
    tracker.observe(says_unhealthy(1))
    assert tracker.observe(refused(2)).state is UNHEALTHY


def test_tcp_and_rich_reasons_name_what_answered() -> None:
    tcp = HealthTracker(ProbeSpec(protocol="tcp", port=22, number_of_probes=1), host="127.3.0.9")
    assert tcp.observe(ok(0)).reason == "the last probe connected to 127.3.0.9:22"
    app = HealthTracker(rich(1, grace=0))
    assert app.observe(ok(0, rich=True)).reason == "the last probe reported Healthy on port 8080/health"


def test_only_the_last_five_answers_are_kept_newest_last() -> None:
    tracker = HealthTracker(lb(2))
    answers = [ok(t) for t in range(8)]
    for answer in answers:
        verdict = tracker.observe(answer)
    assert verdict.answers == tuple(answers[-5:])


def test_reset_forgets_the_old_machine() -> None:
    tracker = HealthTracker(lb(2))
    tracker.observe(ok(0))
    tracker.observe(ok(5))
    tracker.reset(at(10))
    verdict = tracker.verdict(at(10))
    assert verdict.state is UNKNOWN
    assert verdict.answers == ()
    assert verdict.since == at(10)
    assert tracker.observe(ok(12)).state is UNKNOWN  # one answer of the new machine is not enough


def test_an_answer_from_before_the_reset_is_ignored() -> None:
    tracker = HealthTracker(lb(1), started=at(10))
    verdict = tracker.observe(ok(9))  # in flight while the instance was reimaged
    assert verdict.state is UNKNOWN and verdict.answers == ()


def test_verdict_time_is_the_moment_asked_about() -> None:
    tracker = HealthTracker(lb(1))
    tracker.observe(ok(0))
    verdict = tracker.verdict(at(100))
    assert verdict.at == at(100)
    assert verdict.since == at(0)


def test_a_tracker_is_small() -> None:
    tracker = HealthTracker(lb(2), host="127.3.0.5", started=T0)
    for t in range(10):
        tracker.observe(ok(t))
    assert not hasattr(tracker, "__dict__")
    # The tracker itself plus its answer tuple; answers and the spec are shared or bounded.
    assert sys.getsizeof(tracker) + sys.getsizeof(tracker._answers) < 250


# Rich health (Application Health 2.x) ------------------------------------------------------------


def test_rich_starts_initializing_and_counts_down_the_grace_period() -> None:
    tracker = HealthTracker(rich(2, grace=30), started=at(0))
    verdict = tracker.verdict(at(18))
    assert verdict.state is INITIALIZING
    assert verdict.reason == "grace period: 12 s of 30 s left"
    assert verdict.since == at(0)


def test_failures_during_the_grace_period_keep_it_initializing() -> None:
    tracker = HealthTracker(rich(2, grace=30), started=at(0))
    for t in (5, 10, 15, 20):
        verdict = tracker.observe(says_unhealthy(t))
    assert verdict.state is INITIALIZING
    assert verdict.reason == "grace period: 10 s of 30 s left; last probe: application reported Unhealthy"


def test_k_healthy_answers_end_the_grace_period_early() -> None:
    tracker = HealthTracker(rich(2, grace=30), started=at(0))
    verdict = tracker.observe(ok(5, rich=True))
    assert verdict.state is INITIALIZING
    assert verdict.reason == "grace period: 25 s of 30 s left; 1 of 2 healthy answers so far"
    verdict = tracker.observe(ok(10, rich=True))
    assert verdict.state is HEALTHY and verdict.since == at(10)


def test_grace_period_over_without_healthy_answers_is_unhealthy() -> None:
    tracker = HealthTracker(rich(2, grace=30), started=at(0))
    tracker.observe(ok(25, rich=True))
    verdict = tracker.verdict(at(31))
    assert verdict.state is UNHEALTHY
    assert verdict.since == at(30)  # when the grace period ended, not when someone asked
    assert verdict.reason == "grace period of 30 s ended without 2 consecutive healthy answers"


def test_grace_period_over_without_any_answer_says_so() -> None:
    verdict = HealthTracker(rich(2, grace=30), started=at(0)).verdict(at(30))
    assert verdict.state is UNHEALTHY
    assert verdict.reason == "grace period of 30 s ended without a probe answer"


def test_grace_period_expiry_is_noticed_by_the_next_answer_too() -> None:
    tracker = HealthTracker(rich(2, grace=30), started=at(0))
    tracker.observe(ok(28, rich=True))
    # The answer at 33 completes 2 in a row: the grace ran out at 30, then the app came up.
    verdict = tracker.observe(ok(33, rich=True))
    assert verdict.state is HEALTHY and verdict.since == at(33)


def test_grace_period_over_with_an_app_that_never_said_anything_is_unknown() -> None:
    tracker = HealthTracker(rich(2, grace=30), started=at(0))
    for t in (10, 20, 29):
        tracker.observe(refused(t))
    verdict = tracker.verdict(at(30))
    assert verdict.state is UNKNOWN
    assert verdict.reason == "last 3 probes gave no health state: connection refused"


def test_rich_explicit_unhealthy_k_times_is_unhealthy() -> None:
    tracker = HealthTracker(rich(2, grace=10), started=at(0))
    tracker.observe(ok(1, rich=True))
    tracker.observe(ok(2, rich=True))
    tracker.observe(says_unhealthy(20))
    verdict = tracker.observe(says_unhealthy(25))
    assert verdict.state is UNHEALTHY
    assert verdict.reason == "last 2 probes failed: application reported Unhealthy"


def test_rich_no_state_k_times_is_unknown_and_one_unhealthy_among_them_is_unhealthy() -> None:
    tracker = HealthTracker(rich(2, grace=10), started=at(0))
    tracker.observe(ok(1, rich=True))
    tracker.observe(ok(2, rich=True))
    tracker.observe(refused(20))
    assert tracker.observe(refused(25)).state is UNKNOWN
    assert tracker.observe(says_unhealthy(30)).state is UNHEALTHY
    assert tracker.observe(refused(35)).state is UNHEALTHY  # the Unhealthy is still among the last 2
    verdict = tracker.observe(refused(40))
    assert verdict.state is UNKNOWN and verdict.since == at(40)


def test_rich_with_no_grace_period_behaves_like_binary_at_the_start() -> None:
    tracker = HealthTracker(rich(1, grace=0), started=at(0))
    assert tracker.verdict(at(0)).state is UNKNOWN
    assert tracker.observe(says_unhealthy(1)).state is UNHEALTHY


def test_reset_restarts_the_grace_period() -> None:
    tracker = HealthTracker(rich(1, grace=30), started=at(0))
    tracker.observe(ok(1, rich=True))
    tracker.reset(at(100))
    verdict = tracker.verdict(at(110))
    assert verdict.state is INITIALIZING
    assert verdict.reason == "grace period: 20 s of 30 s left"


# Any sequence ------------------------------------------------------------------------------------

KINDS = ("ok", "refused", "unhealthy")


def make(kind: str, t: float, spec: ProbeSpec) -> ProbeAnswer:
    if kind == "ok":
        return ok(t, rich=spec.rich)
    if kind == "unhealthy":
        return says_unhealthy(t)
    return refused(t)


def reference_state(spec: ProbeSpec, answers: list[ProbeAnswer], *, started: datetime | None, now: datetime) -> HealthState:
    """The rules restated over windows of the full history, not the tracker's counters."""
    k = spec.number_of_probes
    grace = started is not None and spec.rich and spec.grace_period_seconds > 0
    grace_end = started + timedelta(seconds=spec.grace_period_seconds) if grace and started else None
    state = INITIALIZING if grace else UNKNOWN
    history: list[ProbeAnswer] = []

    def after_failures(window: list[ProbeAnswer]) -> HealthState:
        if spec.rich and not any(a.app_state == "Unhealthy" for a in window):
            return UNKNOWN
        return UNHEALTHY

    def all_failed(window: list[ProbeAnswer]) -> bool:
        return len(window) == k and not any(a.ok for a in window)

    def expire(t: datetime, state: HealthState) -> HealthState:
        if state is INITIALIZING and grace_end is not None and t >= grace_end:
            window = history[-k:]
            return after_failures(window) if all_failed(window) else UNHEALTHY
        return state

    for answer in answers:
        state = expire(answer.at, state)
        history.append(answer)
        window = history[-k:]
        if len(window) == k and all(a.ok for a in window):
            state = HEALTHY
        elif all_failed(window) and state is not INITIALIZING:
            state = after_failures(window)
    return expire(now, state)


sequences = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(min_value=0, max_value=15)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(k=st.integers(min_value=1, max_value=4), steps=sequences)
def test_binary_state_is_decided_by_the_latest_run_of_k(k: int, steps: list[tuple[str, int]]) -> None:
    """HEALTHY iff the latest run of k agreeing answers was ok; UNKNOWN iff there never was one."""
    spec = lb(k)
    tracker = HealthTracker(spec)
    t = 0
    oks: list[bool] = []
    answers: list[ProbeAnswer] = []
    for kind, gap in steps:
        t += gap
        answer = make(kind, t, spec)
        answers.append(answer)
        oks.append(answer.ok)
        verdict = tracker.observe(answer)

        last_ok_run = max((i for i in range(k - 1, len(oks)) if all(oks[i - k + 1 : i + 1])), default=-1)
        last_fail_run = max((i for i in range(k - 1, len(oks)) if not any(oks[i - k + 1 : i + 1])), default=-1)
        if last_ok_run == last_fail_run == -1:
            assert verdict.state is UNKNOWN
        elif last_ok_run > last_fail_run:
            assert verdict.state is HEALTHY
        else:
            assert verdict.state is UNHEALTHY
        # In the brief's words: healthy iff the last k were ok, or it was healthy and fewer than k
        # consecutive failures followed.
        trailing_failures = len(oks) - 1 - max((i for i, good in enumerate(oks) if good), default=-1)
        if all(oks[-k:]) and len(oks) >= k:
            assert verdict.state is HEALTHY
        if trailing_failures >= k:
            assert verdict.state is not HEALTHY
        assert verdict.answers == tuple(answers[-5:])
        assert verdict.since is None or verdict.since <= answer.at


@settings(max_examples=300, deadline=None)
@given(
    k=st.integers(min_value=1, max_value=4),
    grace=st.integers(min_value=0, max_value=60),
    steps=sequences,
    tail=st.integers(min_value=0, max_value=100),
)
def test_rich_state_matches_the_rules_restated(k: int, grace: int, steps: list[tuple[str, int]], tail: int) -> None:
    spec = rich(k, grace=grace)
    tracker = HealthTracker(spec, started=T0)
    answers: list[ProbeAnswer] = []
    t = 0
    previous = tracker.verdict(T0)
    for kind, gap in steps:
        t += gap
        answer = make(kind, t, spec)
        answers.append(answer)
        verdict = tracker.observe(answer)
        assert verdict.state is reference_state(spec, answers, started=T0, now=answer.at)
        if verdict.state is not previous.state:
            assert verdict.since is not None and previous.at is not None
            assert previous.at <= verdict.since <= answer.at
        else:
            assert verdict.since == previous.since
        previous = verdict
    now = at(t + tail)
    assert tracker.verdict(now).state is reference_state(spec, answers, started=T0, now=now)
    # Never still initializing once the grace period is over.
    if now >= at(grace):
        assert tracker.verdict(now).state is not INITIALIZING
