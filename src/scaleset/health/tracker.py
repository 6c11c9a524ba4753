"""Per-instance health: a small state machine fed with probe answers.

The rules, with k = `spec.number_of_probes`:

- k consecutive ok answers make an instance HEALTHY; k consecutive failures take it out of HEALTHY
  (the load balancer's probeThreshold semantics). Fewer than k change nothing.
- Before the first k agree, a binary source (load-balancer probe, Application Health 1.x) says
  UNKNOWN.
- Rich health (Application Health 2.x) starts INITIALIZING at `reset` and stays so for the grace
  period whatever the app answers, unless it answers healthy k times first. When the grace period
  ends without that, the instance is UNHEALTHY.
- Rich health tells "the app said Unhealthy" from "the app said nothing we can read" (refused,
  timed out, not 200, no valid state). Azure shows an instance with no app answering as Unknown
  under rich health, so k failures make it UNHEALTHY if the app said Unhealthy at least once among
  them, else UNKNOWN. Both are "not healthy" to whoever gates on health.

The tracker is pure: time comes in with each answer (`answer.at`) or as `now`. It exists for every
instance of every scale set, so it is kept small: `__slots__`, counters for the streaks, and a
tuple of the last few answers (an empty `deque(maxlen=5)` alone costs ~760 bytes; a full 5-tuple
costs 80).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from scaleset.health.answers import ProbeAnswer
from scaleset.health.probe_spec import ProbeSpec
from scaleset.health.verdicts import MAX_ANSWERS, HealthState, Verdict

_FAR = 1 << 30  # "no explicit Unhealthy answer in sight"


class HealthTracker:
    __slots__ = (
        "spec",
        "host",
        "_state",
        "_since",
        "_answers",
        "_ok_run",
        "_fail_run",
        "_since_unhealthy",
        "_grace_until",
        "_by_grace",
        "_epoch",
    )

    def __init__(self, spec: ProbeSpec, *, host: str | None = None, started: datetime | None = None) -> None:
        """`host` only words the reasons; `started`, if given, is the first `reset`."""
        self.spec = spec
        self.host = host
        self._state = HealthState.UNKNOWN
        self._since: datetime | None = None
        self._answers: tuple[ProbeAnswer, ...] = ()
        self._ok_run = 0
        self._fail_run = 0
        self._since_unhealthy = _FAR
        self._grace_until: datetime | None = None
        self._by_grace = False
        self._epoch: datetime | None = None
        if started is not None:
            self.reset(started)

    @property
    def state(self) -> HealthState:
        return self._state

    @property
    def steady(self) -> bool:
        """Whether more of the answer it last had would change nothing but a count: k in a row
        agree, and no grace period is running out."""
        k = self.spec.number_of_probes
        return self._state is not HealthState.INITIALIZING and (self._ok_run >= k or self._fail_run >= k)

    def reset(self, now: datetime) -> None:
        """The instance was (re)imaged or started: forget what the old one answered."""
        self._answers = ()
        self._ok_run = self._fail_run = 0
        self._since_unhealthy = _FAR
        self._by_grace = False
        self._epoch = now
        self._since = now
        if self.spec.rich and self.spec.grace_period_seconds > 0:
            self._state = HealthState.INITIALIZING
            self._grace_until = now + timedelta(seconds=self.spec.grace_period_seconds)
        else:
            self._state = HealthState.UNKNOWN
            self._grace_until = None

    def observe(self, answer: ProbeAnswer) -> Verdict:
        """Take a probe's answer; the verdict after it."""
        self.record(answer)
        return self.verdict(max(answer.at, self._epoch) if self._epoch is not None else answer.at)

    def record(self, answer: ProbeAnswer) -> HealthState:
        """Take a probe's answer; the state after it (`observe` without wording the verdict, which
        the watch does for each of its probes and asks for only when shown)."""
        now = answer.at
        if self._epoch is not None and now < self._epoch:
            # A probe that was in flight across the reset describes the machine before it.
            return self.advance(self._epoch)
        self._expire_grace(now)
        self._answers = (*self._answers[-(MAX_ANSWERS - 1) :], answer)
        if answer.ok:
            self._ok_run += 1
            self._fail_run = 0
        else:
            self._fail_run += 1
            self._ok_run = 0
        self._since_unhealthy = 0 if answer.app_state == "Unhealthy" else min(self._since_unhealthy + 1, _FAR)

        k = self.spec.number_of_probes
        if self._ok_run >= k:
            self._become(HealthState.HEALTHY, now)
        elif self._fail_run >= k and self._state is not HealthState.INITIALIZING:
            self._become(self._failed_state(), now)
        return self._state

    def advance(self, now: datetime) -> HealthState:
        """The state at `now`: ends the grace period if it is over."""
        self._expire_grace(now)
        return self._state

    def verdict(self, now: datetime) -> Verdict:
        """The verdict at `now`; ends the grace period if it is over."""
        self._expire_grace(now)
        return self._verdict(now)

    def _expire_grace(self, now: datetime) -> None:
        if self._state is not HealthState.INITIALIZING or self._grace_until is None:
            return
        if now < self._grace_until:
            return
        if self._fail_run >= self.spec.number_of_probes:
            self._become(self._failed_state(), self._grace_until)
        else:
            self._become(HealthState.UNHEALTHY, self._grace_until)
            self._by_grace = True

    def _failed_state(self) -> HealthState:
        if self.spec.rich and self._since_unhealthy >= self.spec.number_of_probes:
            return HealthState.UNKNOWN
        return HealthState.UNHEALTHY

    def _become(self, state: HealthState, when: datetime) -> None:
        if state is not self._state:
            self._state = state
            self._since = when
            self._by_grace = False

    def _verdict(self, now: datetime) -> Verdict:
        return Verdict(
            state=self._state,
            reason=self._reason(now),
            answers=self._answers,
            since=self._since,
            at=now,
        )

    # Reasons: one sentence a person can act on, naming the numbers that decided.

    def _reason(self, now: datetime) -> str:
        k = self.spec.number_of_probes
        last = self._answers[-1] if self._answers else None
        state = self._state
        if state is HealthState.INITIALIZING:
            assert self._grace_until is not None
            left = max(0, math.ceil((self._grace_until - now).total_seconds()))
            text = f"grace period: {left} s of {self.spec.grace_period_seconds} s left"
            if last is not None and not last.ok:
                text += f"; last probe: {last.error}"
            elif self._ok_run:
                text += f"; {self._ok_run} of {k} healthy answers so far"
            return text
        if last is None:
            if self._by_grace:
                return f"grace period of {self.spec.grace_period_seconds} s ended without a probe answer"
            return "no probe answer yet"
        if state is HealthState.HEALTHY:
            if self._fail_run:
                return (
                    f"still healthy: {_last(self._fail_run)} failed: {last.error}; "
                    f"{k} in a row make it unhealthy"
                )
            run = "the last probe" if self._ok_run == 1 else f"{self._ok_run} consecutive probes"
            return f"{run} {self._success(last)}"
        if self._by_grace:
            text = f"grace period of {self.spec.grace_period_seconds} s ended without {k} consecutive healthy answers"
            return text + (f"; last probe: {last.error}" if not last.ok else "")
        if self._fail_run >= k:
            if state is HealthState.UNKNOWN:
                return f"{_last(self._fail_run)} gave no health state: {last.error}"
            return f"{_last(self._fail_run)} failed: {last.error}"
        if self._ok_run:
            return f"{state.value} until {k} consecutive probes succeed: {self._ok_run} so far"
        return f"{state.value} until {k} consecutive probes agree; last probe: {last.error}"

    def _success(self, answer: ProbeAnswer) -> str:
        target = self.spec.target(host=self.host)
        if self.spec.protocol == "tcp":
            return f"connected to {target}"
        if self.spec.rich:
            return f"reported Healthy on {target}"
        return f"answered HTTP {answer.status_code} on {target}"


def _last(count: int) -> str:
    return "the last probe" if count == 1 else f"last {count} probes"
