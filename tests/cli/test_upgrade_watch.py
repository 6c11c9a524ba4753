"""The watcher behind `rolling-upgrade start --wait`: batches from the plan and the counts, a line per
change, and the terminal view drawn from it."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from scaleset.cli.upgrade_health import health_reason, health_state
from scaleset.cli.upgrade_live import live_view
from scaleset.cli.upgrade_watch import RunWatch, instance_order, watch_for_plan


def latest(code: str, successful: int, failed: int, in_progress: int, pending: int, **status: Any) -> dict[str, Any]:
    return {"properties": {
        "runningStatus": {"code": code, **status},
        "progress": {"successfulInstanceCount": successful, "failedInstanceCount": failed,
                     "inProgressInstanceCount": in_progress, "pendingInstanceCount": pending}}}


def vm(instance_id: str, version: str, state: str = "Succeeded", health: str | None = None,
       reason: str = "") -> dict[str, Any]:
    view = {"vmHealth": {"status": {"code": f"HealthState/{health}", "message": reason}}} if health else {}
    return {"instanceId": instance_id, "properties": {
        "provisioningState": state, "instanceView": view,
        "storageProfile": {"imageReference": {"exactVersion": version}}}}


def numbers(watch: RunWatch) -> list[tuple[int, bool]]:
    return [(batch.number, batch.finished) for batch in watch.batches]


def test_batches_count_off_the_plan_in_order_after_the_skipped_instances() -> None:
    watch = watch_for_plan({"batches": [{"index": 1, "instanceIds": ["2"]}, {"index": 0, "instanceIds": ["0", "1"]}],
                            "skipped": [{"instanceId": "3", "reason": "already runs 1.0.1"}]})
    assert watch.plan == [("0", "1"), ("2",)]
    watch.observe(latest("RollingForward", 1, 0, 0, 3), [])  # only the skipped one counted
    assert numbers(watch) == []
    watch.observe(latest("RollingForward", 1, 0, 2, 1), [])
    assert numbers(watch) == [(1, False)]
    watch.observe(latest("RollingForward", 2, 1, 0, 1), [])  # between batches: none in flight
    assert numbers(watch) == [(1, True)]
    watch.observe(latest("RollingForward", 3, 1, 0, 0), [])  # a whole batch between two looks
    assert numbers(watch) == [(1, True), (2, True)]
    assert watch.batch_of("2") == 2 and watch.batch_of("3") is None


def test_without_a_plan_there_are_no_batches_but_the_counts_still_show() -> None:
    watch = watch_for_plan(None)
    assert watch.observe(latest("RollingForward", 1, 0, 1, 0, paused=True), []) == [
        "RollingForward: 1 of 2 succeeded, 0 failed, 1 in progress, 0 pending (paused)"
    ]
    assert watch.batches == [] and watch.paused and not watch.ended


def test_the_first_snapshot_is_the_baseline_then_only_changes_are_told() -> None:
    watch = RunWatch()
    first = watch.observe(latest("RollingForward", 0, 0, 0, 2), [vm("0", "1.0"), vm("1", "1.0")])
    assert first == ["RollingForward: 0 of 2 succeeded, 0 failed, 0 in progress, 2 pending"]
    assert watch.observe(latest("RollingForward", 0, 0, 0, 2), [vm("0", "1.0"), vm("1", "1.0")]) == []
    assert watch.observe(latest("RollingForward", 0, 0, 0, 2),
                         [vm("0", "1.0", "Updating"), vm("1", "1.0", health="healthy", reason="2 probes ok")]) == [
        "instance 0: version 1.0, Updating",
        "instance 1: version 1.0, Succeeded, health healthy (2 probes ok)",
    ]


def test_a_new_reason_alone_is_no_news_and_health_that_stops_being_reported_stays_known() -> None:
    watch = RunWatch()
    watch.observe(latest("RollingForward", 0, 0, 1, 0), [vm("0", "1.0", health="healthy", reason="2 probes ok")])
    assert watch.observe(latest("RollingForward", 0, 0, 1, 0),
                         [vm("0", "1.0", health="healthy", reason="4 probes ok")]) == []
    assert watch.observe(latest("Completed", 1, 0, 0, 0), [vm("0", "1.0")]) == [
        "Completed: 1 of 1 succeeded, 0 failed, 0 in progress, 0 pending"]
    assert watch.instances["0"].health == "healthy" and watch.ended


def test_instances_sort_numerically() -> None:
    assert sorted(["10", "2", "b", "1"], key=instance_order) == ["1", "2", "10", "b"]


def test_health_is_read_from_the_instance_view() -> None:
    view = {"vmHealth": {"status": {"code": "HealthState/initializing", "displayStatus": "The VM health is initializing"}}}
    assert (health_state(view), health_reason(view)) == ("initializing", "The VM health is initializing")
    assert (health_state({}), health_reason(None)) == (None, None)


def test_the_terminal_view_shows_state_bar_batches_error_and_caps_the_instance_rows() -> None:
    watch = watch_for_plan({"batches": [{"index": 0, "instanceIds": ["0"]}, {"index": 1, "instanceIds": ["1"]}]})
    watch.observe(latest("RollingBack", 1, 1, 0, 0), [vm(str(i), "1.0.1", health="unhealthy", reason="HTTP 503")
                                                      for i in range(4)])
    watch.latest["properties"]["error"] = {"code": "MaxUnhealthy", "message": "too many unhealthy"}
    screen = io.StringIO()
    Console(file=screen, width=100, color_system=None).print(live_view(watch, title="web", max_rows=2))
    text = screen.getvalue()
    assert "Rolling upgrade of web: RollingBack" in text
    assert "2/2" in text
    assert "Batches (2 of 2 planned): 1 [0] ✓ · 2 [1] ✓" in text
    assert "(MaxUnhealthy) too many unhealthy" in text
    assert "… and 2 more instances" in text
    rows = [line.split() for line in text.splitlines() if "1.0.1" in line]
    assert rows == [["0", "1", "1.0.1", "Succeeded", "unhealthy", "HTTP", "503"],
                    ["1", "2", "1.0.1", "Succeeded", "unhealthy", "HTTP", "503"]]
