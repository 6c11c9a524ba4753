"""What a run keeps of its set (`KnownSet`) gives the planner the set as the rules say, and its sums
follow what the run writes."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from scaleset.upgrade.known_sets import KnownSet
from scaleset.upgrade.planner import Member, Progress

Row = namedtuple("Row", "instance_id pending_action action_seq zone update_domain")
KEY = "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachinescalesets/web"


class View:
    """Verdicts by (instance, action_seq): one of another action counts as not in yet."""

    def __init__(self, verdicts: Mapping[int, tuple[int, bool | None]]) -> None:
        self.verdicts = verdicts

    def healthy(self, scale_set_key: str, action_seqs: Mapping[int, int] | None = None) -> dict[int, bool | None]:
        assert action_seqs is not None
        return {i: verdict if seq == action_seqs[i] else None
                for i, (seq, verdict) in self.verdicts.items() if i in action_seqs}

    def nudge(self, scale_set_key: str, ids: Iterable[int] | None = None) -> None:
        pass


@st.composite
def scale_sets(draw: st.DrawFn) -> tuple[list[Row], dict[int, Progress], View]:
    ids = draw(st.lists(st.integers(0, 60), unique=True, max_size=30))
    rows = [Row(i, draw(st.sampled_from([None, "reimage", "delete"])), draw(st.integers(1, 4)),
                draw(st.sampled_from([None, "1", "2"])), draw(st.integers(0, 4))) for i in ids]
    # Members: most instances, and some whose instance is gone.
    members = draw(st.lists(st.integers(0, 70), unique=True, max_size=35))
    progress = {i: draw(st.sampled_from(list(Progress))) for i in members}
    verdicts = {row.instance_id: (draw(st.sampled_from([row.action_seq, row.action_seq - 1])),
                                  draw(st.sampled_from([True, False, None]))) for row in rows}
    return rows, progress, View(verdicts)


def planner_view(rows: list[Row], progress: dict[int, Progress], view: View) -> tuple[list[Member], frozenset[int]]:
    """The rules, plainly: every instance not being deleted, by id, healthy only on a verdict of its
    current action, SKIPPED when not a member; and those whose verdict is not in."""
    staying = sorted((row for row in rows if row.pending_action != "delete"), key=lambda row: row.instance_id)
    health = view.healthy(KEY, {row.instance_id: row.action_seq for row in rows})
    return ([Member(row.instance_id, health.get(row.instance_id) is True, progress.get(row.instance_id, Progress.SKIPPED),
                    row.zone, row.update_domain) for row in staying],
            frozenset(row.instance_id for row in staying if health.get(row.instance_id) is None))


def departed(rows: list[Row], progress: dict[int, Progress]) -> set[int]:
    """Pending and in-flight members whose instance is gone or being deleted."""
    staying = {row.instance_id for row in rows if row.pending_action != "delete"}
    return {i for i, p in progress.items() if i not in staying and p in (Progress.PENDING, Progress.IN_FLIGHT)}


@given(scale_sets())
def test_kept_it_gives_the_planner_its_view_and_the_departures_as_the_rules_say(drawn: Any) -> None:
    rows, progress, view = drawn
    known = KnownSet(reversed(rows), progress)  # in any order
    assert known.members(KEY, view) == planner_view(rows, progress, view)
    assert known.gone() == departed(rows, progress)
    assert known.progress_of() == progress


def tally_of(progress: dict[int, Progress]) -> dict[Progress, tuple[int, int]]:
    tally: dict[Progress, tuple[int, int]] = {}
    for i, p in progress.items():
        n, s = tally.get(p, (0, 0))
        tally[p] = (n + 1, s + i)
    return tally


def print_of(rows: list[Row]) -> tuple[int, int, int, int]:
    return (len(rows), sum(r.instance_id for r in rows), sum(r.action_seq for r in rows),
            sum(1 for r in rows if r.pending_action is not None))


@given(scale_sets(), st.data())
def test_what_the_run_writes_and_its_batch_as_read_again_keep_it_agreeing_with_the_database(drawn: Any, data: Any) -> None:
    rows, progress, _ = drawn
    known = KnownSet(rows, progress)
    # The run writes progress and forgets members; its batch is reimaged (a new seq, an action or none).
    written = dict(progress)
    for _ in range(data.draw(st.integers(0, 4))):
        ids = data.draw(st.lists(st.integers(0, 70), max_size=10))
        if data.draw(st.booleans()):
            p = data.draw(st.sampled_from(list(Progress)))
            known.set(ids, p)
            written.update({i: p for i in ids if i in written})
        else:
            known.forget(ids)
            for i in ids:
                written.pop(i, None)
    batch = data.draw(st.lists(st.sampled_from(rows), unique=True)) if rows else []
    now = {r.instance_id: r for r in rows}
    for r in batch:
        now[r.instance_id] = r._replace(action_seq=r.action_seq + 1, pending_action=data.draw(st.sampled_from([None, "reimage"])))
    assert known.agrees([now[r.instance_id] for r in batch], (print_of(list(now.values())), tally_of(written)))
    assert known.progress_of() == written


@given(scale_sets(), st.data())
def test_a_change_it_was_not_told_of_makes_it_disagree(drawn: Any, data: Any) -> None:
    rows, progress, _ = drawn
    known = KnownSet(rows, progress)
    now = list(rows)
    change = data.draw(st.sampled_from(["intent", "outcome", "created", "deleted", "member"]))
    if change == "intent" and now:
        at = data.draw(st.integers(0, len(now) - 1))
        now[at] = now[at]._replace(action_seq=now[at].action_seq + 1, pending_action="reimage")
    elif change == "outcome" and any(r.pending_action for r in now):
        at = next(n for n, r in enumerate(now) if r.pending_action)
        now[at] = now[at]._replace(pending_action=None)
    elif change == "created":
        now.append(Row(100 + len(now), "create", 1, None, 0))  # ids are never reused: a new one is past them all
    elif change == "deleted" and now:
        del now[data.draw(st.integers(0, len(now) - 1))]
    elif change == "member" and progress:
        i = data.draw(st.sampled_from(sorted(progress)))
        others = [p for p in Progress if p != progress[i]]
        progress = {**progress, i: data.draw(st.sampled_from(others))}
    else:
        return
    assert not known.agrees([], (print_of(now), tally_of(progress)))
