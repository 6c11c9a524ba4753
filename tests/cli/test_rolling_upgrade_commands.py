"""`scaleset vmss rolling-upgrade ...` and `get-os-upgrade-history` against a recording HTTP server:
exact requests, outputs, exit codes, and the `--wait` view as a pipeline sees it."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from rich.console import Console

from scaleset.cli import upgrade_live
from tests.cli.arm_server import ArmServer, Recorded, Reply
from tests.cli.conftest import SUB, Run

VMSS = f"/subscriptions/{SUB}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachineScaleSets/web"
OPERATION = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/operations/op1"
PLAN = {
    "dryRun": True,
    "targetImageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS",
                             "exactVersion": "1.0.1"},
    "policy": {"maxBatchInstancePercent": 50, "maxUnhealthyInstancePercent": 20,
               "maxUnhealthyUpgradedInstancePercent": 20, "pauseTimeBetweenBatches": "PT0S"},
    "batches": [{"index": 0, "instanceIds": ["0", "1"]}, {"index": 1, "instanceIds": ["3"]}],
    "skipped": [{"instanceId": "2", "reason": "already runs 1.0.1"}],
    "expectedDuration": "PT10M",
    "expectedDurationSeconds": 600.0,
    "estimateBasis": "one health wait per batch (no completed run to learn from)",
}


@pytest.fixture(autouse=True)
def fast_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upgrade_live, "REFRESH_SECONDS", 0.0)


def accepted(server: ArmServer, *statuses: dict[str, Any]) -> Reply:
    """A 202 whose Azure-AsyncOperation answers `statuses` in turn (the last one repeats)."""
    server.on("GET", OPERATION, *(Reply(200, status) for status in statuses))
    server.on("GET", f"{OPERATION}/result", Reply(204))
    return Reply(202, headers={
        "Azure-AsyncOperation": f"{server.url}{OPERATION}?api-version=2024-03-01",
        "Location": f"{server.url}{OPERATION}/result?api-version=2024-03-01",
        "x-ms-retry-after-ms": "1",
    })


def latest(code: str, successful: int, failed: int, in_progress: int, pending: int, *,
           error: dict[str, Any] | None = None, paused: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"code": code, "startTime": "2026-05-01T10:00:00+00:00", "lastAction": "Start",
                              "lastActionTime": "2026-05-01T10:00:00+00:00"}
    if paused:
        status["paused"] = True
    properties: dict[str, Any] = {
        "policy": PLAN["policy"],
        "runningStatus": status,
        "progress": {"successfulInstanceCount": successful, "failedInstanceCount": failed,
                     "inProgressInstanceCount": in_progress, "pendingInstanceCount": pending},
    }
    if error:
        properties["error"] = error
    return {"id": f"{VMSS}/rollingUpgrades/latest", "name": "latest", "location": "westeurope",
            "type": "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades", "properties": properties}


def vm(instance_id: str, version: str, state: str = "Succeeded", health: str | None = "healthy",
       reason: str = "probes answer HTTP 200") -> dict[str, Any]:
    view: dict[str, Any] = {"statuses": [{"code": f"ProvisioningState/{state.lower()}"}]}
    if health:
        view["vmHealth"] = {"status": {"code": f"HealthState/{health}", "message": reason}, "answers": []}
    return {"instanceId": instance_id, "name": f"web_{instance_id}", "properties": {
        "provisioningState": state, "instanceView": view,
        "storageProfile": {"imageReference": {"version": "latest", "exactVersion": version}}}}


def script_run(server: ArmServer, snapshots: list[tuple[dict[str, Any], list[dict[str, Any]], str]]) -> None:
    """Each tick of the watch reads the operation, latest, then the instances: one reply each."""
    operation = accepted(server, *({"status": status} for _, _, status in snapshots))

    def start(request: Recorded) -> Reply:
        return Reply(200, PLAN) if request.query.get("dryRun") == ["true"] else operation

    server.on("POST", f"{VMSS}/osRollingUpgrade", handler=start)
    server.on("GET", f"{VMSS}/rollingUpgrades/latest", *(Reply(200, body) for body, _, _ in snapshots))
    server.on("GET", f"{VMSS}/virtualMachines", *(Reply(200, {"value": vms}) for _, vms, _ in snapshots))


# -- start: the LRO, flags ---------------------------------------------------------------------


def test_start_posts_the_upgrade_and_waits_for_its_operation(server: ArmServer, run: Run) -> None:
    server.on("POST", f"{VMSS}/osRollingUpgrade",
              accepted(server, {"status": "InProgress"}, {"status": "Succeeded"}))
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web")

    assert result.exit_code == 0, result.output
    post = server.calls("POST")[0]
    assert post.path == f"{VMSS}/osRollingUpgrade"
    assert post.query == {"api-version": ["2024-03-01"]}  # no forceReimage, no dryRun
    assert post.body == b""
    assert [r.path for r in server.calls("GET")] == [OPERATION, OPERATION, f"{OPERATION}/result"]
    assert result.stdout == ""


def test_start_force_reimage_no_wait_sends_the_flag_and_returns_at_once(server: ArmServer, run: Run) -> None:
    server.on("POST", f"{VMSS}/osRollingUpgrade", accepted(server, {"status": "InProgress"}))
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--force-reimage", "--no-wait")
    assert result.exit_code == 0, result.output
    assert [(r.method, r.query) for r in server.requests] == [
        ("POST", {"api-version": ["2024-03-01"], "forceReimage": ["true"]})
    ]


def test_start_that_faults_exits_1_with_the_run_error(server: ArmServer, run: Run) -> None:
    error = {"code": "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade",
             "message": "40% of upgraded instances are unhealthy."}
    server.on("POST", f"{VMSS}/osRollingUpgrade", accepted(server, {"status": "Failed", "error": error}))
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "(MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade) 40% of upgraded instances are unhealthy."
    )


def test_start_refused_because_a_run_is_in_progress(server: ArmServer, run: Run) -> None:
    server.on("POST", f"{VMSS}/osRollingUpgrade", Reply(409, {"error": {
        "code": "RollingUpgradeInProgress", "message": "Another rolling upgrade is already in progress."}}))
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--wait")
    assert result.exit_code == 1
    assert result.stderr.startswith("(RollingUpgradeInProgress)")


@pytest.mark.parametrize("flags", [("--wait", "--no-wait"), ("--dry-run", "--wait"), ("--dry-run", "--no-wait")])
def test_start_rejects_contradicting_flags(server: ArmServer, run: Run, flags: tuple[str, ...]) -> None:
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", *flags)
    assert result.exit_code == 2
    assert server.requests == []


# -- start --dry-run -----------------------------------------------------------------------------


def test_dry_run_asks_for_the_plan_and_prints_it_as_json(server: ArmServer, run: Run) -> None:
    server.on("POST", f"{VMSS}/osRollingUpgrade", Reply(200, PLAN))
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--dry-run", "--force-reimage")
    assert result.exit_code == 0, result.output
    assert [(r.method, r.query) for r in server.requests] == [
        ("POST", {"api-version": ["2024-03-01"], "forceReimage": ["true"], "dryRun": ["true"]})
    ]
    assert json.loads(result.stdout) == PLAN


def test_dry_run_table_shows_batches_target_skipped_and_duration(server: ArmServer, run: Run) -> None:
    server.on("POST", f"{VMSS}/osRollingUpgrade", Reply(200, PLAN))
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--dry-run", "-o", "table")
    assert result.exit_code == 0, result.output
    assert server.calls("POST")[0].query["dryRun"] == ["true"]
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0] == "Rolling upgrade plan (dry run: nothing was changed)"
    assert "BLOCKED" not in result.stdout
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["Batch", "Size", "InstanceIds"]
    assert [line.split() for line in table[2:4]] == [["1", "2", "0,1"], ["2", "1", "3"]]
    assert "Target:            Canonical:UbuntuServer:18.04-LTS:1.0.1" in lines
    assert "Skipped:           1 instance(s)" in lines
    assert ("Expected duration: PT10M (about 10 min; one health wait per batch "
            "(no completed run to learn from))") in lines
    skipped = lines[lines.index("Skipped:           1 instance(s)"):]
    assert ["2", "already", "runs", "1.0.1"] in [line.split() for line in skipped]


def test_dry_run_table_puts_a_blocked_start_first_and_last(server: ArmServer, run: Run) -> None:
    blocked = {"code": "MaxUnhealthyInstancePercentExceededBeforeRollingUpgrade",
               "message": "3 of 4 instances are unhealthy (limit 20%)."}
    server.on("POST", f"{VMSS}/osRollingUpgrade", Reply(200, {**PLAN, "batches": [], "blocked": blocked}))
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--dry-run", "-o", "table")
    assert result.exit_code == 0, result.output
    banner = ["BLOCKED: this upgrade would stop before its first batch.",
              "(MaxUnhealthyInstancePercentExceededBeforeRollingUpgrade) 3 of 4 instances are unhealthy (limit 20%)."]
    lines = result.stdout.splitlines()
    assert lines[2:4] == banner
    assert lines[-2:] == banner
    assert "No batch: nothing to upgrade." in lines


def test_dry_run_tsv_lists_the_batches(server: ArmServer, run: Run) -> None:
    server.on("POST", f"{VMSS}/osRollingUpgrade", Reply(200, PLAN))
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--dry-run", "-o", "tsv")
    assert result.stdout == "1\t2\t0,1\n2\t1\t3\n"


def test_dry_run_answered_without_a_plan_is_an_error(server: ArmServer, run: Run) -> None:
    server.on("POST", f"{VMSS}/osRollingUpgrade", accepted(server, {"status": "InProgress"}))
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--dry-run")
    assert result.exit_code == 1
    assert "did not answer with a dry-run plan" in result.stderr


# -- start --wait --------------------------------------------------------------------------------


def test_wait_follows_the_run_to_completion_line_by_line(server: ArmServer, run: Run) -> None:
    script_run(server, [
        (latest("RollingForward", 1, 0, 2, 1), [vm("0", "1.0.0", "Updating", "unknown", "no probe answer yet"),
                                                 vm("1", "1.0.0"), vm("2", "1.0.1"), vm("3", "1.0.0")], "InProgress"),
        (latest("RollingForward", 3, 0, 1, 0), [vm("0", "1.0.1"), vm("1", "1.0.1"), vm("2", "1.0.1"),
                                                 vm("3", "1.0.0", "Updating", "unknown", "no probe answer yet")], "InProgress"),
        (latest("Completed", 4, 0, 0, 0), [vm("0", "1.0.1", health=None), vm("1", "1.0.1", health=None),
                                            vm("2", "1.0.1", health=None), vm("3", "1.0.1", health=None)], "Succeeded"),
    ])
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--wait")

    assert result.exit_code == 0, result.output
    plan, start = server.calls("POST")
    assert plan.query == {"api-version": ["2024-03-01"], "dryRun": ["true"]}
    assert start.query == {"api-version": ["2024-03-01"]}
    ticks = [(r.path, r.query) for r in server.requests[2:5]]
    assert ticks == [
        (OPERATION, {"api-version": ["2024-03-01"]}),
        (f"{VMSS}/rollingUpgrades/latest", {"api-version": ["2026-04-01"]}),  # RollingBack shows
        (f"{VMSS}/virtualMachines", {"$expand": ["instanceView"], "api-version": ["2024-03-01"]}),
    ]
    assert len(server.requests) == 2 + 3 * 3
    output = result.stdout
    assert "\x1b[" not in output  # not a terminal: plain lines
    lines = output[: output.index("{")].splitlines()
    assert lines == [
        "RollingForward: 1 of 4 succeeded, 0 failed, 2 in progress, 1 pending",
        "batch 1 started: instances 0, 1",
        "RollingForward: 3 of 4 succeeded, 0 failed, 1 in progress, 0 pending",
        "batch 1 done: instances 0, 1",
        "batch 2 started: instances 3",
        "instance 0: version 1.0.1, Succeeded, health healthy (probes answer HTTP 200)",
        "instance 1: version 1.0.1, Succeeded, health healthy (probes answer HTTP 200)",
        "instance 3: version 1.0.0, Updating, health unknown (no probe answer yet)",
        "Completed: 4 of 4 succeeded, 0 failed, 0 in progress, 0 pending",
        "batch 2 done: instances 3",
        "instance 3: version 1.0.1, Succeeded, health unknown (no probe answer yet)",
    ]
    final = json.loads(output[output.index("{"):])
    assert final["properties"]["runningStatus"]["code"] == "Completed"
    assert result.stderr == ""


def test_wait_through_a_rollback_to_faulted_exits_1_with_the_error_on_stderr(server: ArmServer, run: Run) -> None:
    error = {"code": "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade",
             "message": "2 of 2 upgraded instances are unhealthy.",
             "details": [{"code": "InstanceNotHealthy", "target": "0", "message": "not healthy within the health wait"}]}
    script_run(server, [
        (latest("RollingForward", 1, 0, 2, 1), [vm("0", "1.0.1", health="unhealthy", reason="HTTP 503"),
                                                 vm("1", "1.0.0")], "InProgress"),
        (latest("RollingBack", 1, 2, 0, 1, error=error), [vm("0", "1.0.0", "Updating", "unknown", "no probe answer yet"),
                                                           vm("1", "1.0.0")], "InProgress"),
        (latest("Faulted", 1, 2, 0, 1, error=error), [vm("0", "1.0.0"), vm("1", "1.0.0")], "Failed"),
    ])
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--wait", "-o", "table")

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:6] == [
        "RollingForward: 1 of 4 succeeded, 0 failed, 2 in progress, 1 pending",
        "batch 1 started: instances 0, 1",
        "RollingBack: 1 of 4 succeeded, 2 failed, 0 in progress, 1 pending",
        "batch 1 done: instances 0, 1",
        "instance 0: version 1.0.0, Updating, health unknown (no probe answer yet)",
        "Faulted: 1 of 4 succeeded, 2 failed, 0 in progress, 1 pending",
    ]
    assert lines[6] == "instance 0: version 1.0.0, Succeeded, health healthy (probes answer HTTP 200)"
    assert lines[7].split()[:2] == ["Status", "Paused"]
    assert lines[9].split()[0] == "Faulted"
    assert lines[9].split()[-1] == "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    assert result.stderr.splitlines() == [
        "(MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade) 2 of 2 upgraded instances are unhealthy.",
        "  (InstanceNotHealthy) instance 0: not healthy within the health wait",
    ]


def test_wait_on_a_cancelled_run_exits_1(server: ArmServer, run: Run) -> None:
    script_run(server, [
        (latest("RollingForward", 0, 0, 2, 1, paused=True), [vm("0", "1.0.0")], "InProgress"),
        (latest("Cancelled", 2, 0, 0, 2), [vm("0", "1.0.1")], "Canceled"),
    ])
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--wait")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        "RollingForward: 0 of 3 succeeded, 0 failed, 2 in progress, 1 pending (paused)"
    )
    assert "Cancelled: 2 of 4 succeeded, 0 failed, 0 in progress, 2 pending" in result.stdout.splitlines()
    assert result.stderr.strip() == "(Cancelled) the rolling upgrade of web was cancelled after 2 of 4 instances were upgraded"


def test_wait_without_an_operation_url_ends_on_the_runs_own_terminal_state(server: ArmServer, run: Run) -> None:
    server.on("POST", f"{VMSS}/osRollingUpgrade",
              handler=lambda r: Reply(200, PLAN) if r.query.get("dryRun") else Reply(202))
    server.on("GET", f"{VMSS}/rollingUpgrades/latest",
              Reply(200, latest("RollingForward", 1, 0, 2, 1)), Reply(200, latest("Completed", 4, 0, 0, 0)))
    server.on("GET", f"{VMSS}/virtualMachines", Reply(200, {"value": [vm("0", "1.0.1")]}))
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--wait", "-o", "tsv")
    assert result.exit_code == 0, result.output
    assert len(server.calls("GET", "rollingUpgrades/latest")) == 2
    assert result.stdout.splitlines()[-1].startswith("Completed\tFalse\t")


def test_wait_on_a_terminal_draws_the_live_view(
    server: ArmServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(upgrade_live, "stdout_console",
                        lambda: Console(file=screen, force_terminal=True, width=120, height=40))
    script_run(server, [
        (latest("RollingForward", 1, 0, 2, 1), [vm("0", "1.0.1", health="unhealthy", reason="HTTP 503 from /")],
         "InProgress"),
        (latest("Completed", 4, 0, 0, 0), [vm("0", "1.0.1")], "Succeeded"),
    ])
    result = run("vmss", "rolling-upgrade", "start", "-g", "rg1", "-n", "web", "--wait")

    assert result.exit_code == 0, result.output
    drawn = screen.getvalue()
    assert "\x1b[" in drawn  # ANSI: redrawn in place
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert "Rolling upgrade of web" in plain and "RollingForward" in plain and "Completed" in plain
    assert "HTTP 503 from /" in plain
    assert "Batches (2 of 2 planned)" in plain
    assert json.loads(result.stdout)["properties"]["runningStatus"]["code"] == "Completed"


# -- steering --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["cancel", "pause", "resume"])
def test_steering_posts_the_action_and_waits(server: ArmServer, run: Run, action: str) -> None:
    server.on("POST", f"{VMSS}/rollingUpgrades/{action}", accepted(server, {"status": "Succeeded"}))
    result = run("vmss", "rolling-upgrade", action, "-g", "rg1", "-n", "web")
    assert result.exit_code == 0, result.output
    post = server.calls("POST")[0]
    assert (post.path, post.query) == (f"{VMSS}/rollingUpgrades/{action}", {"api-version": ["2024-03-01"]})
    assert server.calls("GET", "operations/op1")


@pytest.mark.parametrize("action", ["cancel", "pause", "resume"])
def test_steering_with_no_wait_does_not_poll(server: ArmServer, run: Run, action: str) -> None:
    server.on("POST", f"{VMSS}/rollingUpgrades/{action}", accepted(server, {"status": "InProgress"}))
    result = run("vmss", "rolling-upgrade", action, "-g", "rg1", "-n", "web", "--no-wait")
    assert result.exit_code == 0, result.output
    assert [r.method for r in server.requests] == ["POST"]


def test_pause_without_a_run_reports_the_conflict(server: ArmServer, run: Run) -> None:
    server.on("POST", f"{VMSS}/rollingUpgrades/pause", Reply(409, {"error": {
        "code": "NoRollingUpgradeInProgress", "message": "There is no rolling upgrade in progress."}}))
    result = run("vmss", "rolling-upgrade", "pause", "-g", "rg1", "-n", "web")
    assert result.exit_code == 1
    assert result.stderr.strip() == "(NoRollingUpgradeInProgress) There is no rolling upgrade in progress."


# -- reading -------------------------------------------------------------------------------------


def test_get_latest_as_json_table_and_tsv(server: ArmServer, run: Run) -> None:
    body = latest("RollingForward", 2, 1, 1, 0, paused=True, error={"code": "X", "message": "y"})
    server.on("GET", f"{VMSS}/rollingUpgrades/latest", Reply(200, body))
    as_json = run("vmss", "rolling-upgrade", "get-latest", "-g", "rg1", "-n", "web")
    table = run("vmss", "rolling-upgrade", "get-latest", "-g", "rg1", "-n", "web", "-o", "table")
    tsv = run("vmss", "rolling-upgrade", "get-latest", "-g", "rg1", "-n", "web", "-o", "tsv")

    assert json.loads(as_json.stdout) == body
    assert table.stdout.splitlines()[0].split() == [
        "Status", "Paused", "StartTime", "LastAction", "Successful", "Failed", "InProgress", "Pending", "Error"]
    assert tsv.stdout == "RollingForward\tTrue\t2026-05-01T10:00:00+00:00\tStart\t2\t1\t1\t0\tX\n"
    assert {r.api_version for r in server.requests} == {"2024-03-01"}


def test_get_latest_when_no_run_ever_exits_3(server: ArmServer, run: Run) -> None:
    server.on("GET", f"{VMSS}/rollingUpgrades/latest", Reply(404, {"error": {
        "code": "NotFound", "message": "No rolling upgrade has run on scale set 'web'."}}))
    result = run("vmss", "rolling-upgrade", "get-latest", "-g", "rg1", "-n", "web")
    assert result.exit_code == 3
    assert result.stderr.strip() == "(NotFound) No rolling upgrade has run on scale set 'web'."


def history_entry(code: str, started_by: str, version: str, *, rolled_back: int = 0,
                  error: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "runningStatus": {"code": code, "startTime": f"2026-05-0{version[-1]}T10:00:00+00:00",
                          "endTime": f"2026-05-0{version[-1]}T10:05:00+00:00"},
        "progress": {"successfulInstanceCount": 4, "failedInstanceCount": 1 if error else 0,
                     "inProgressInstanceCount": 0, "pendingInstanceCount": 0},
        "startedBy": started_by,
        "targetImageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS",
                                 "version": "latest", "exactVersion": version},
        "rollbackInfo": {"successfullyRolledbackInstanceCount": rolled_back, "failedRolledbackInstanceCount": 0},
    }
    if error:
        properties["error"] = {"code": error, "message": "..."}
    return {"properties": properties, "type": "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades",
            "location": "westeurope"}


def test_history_follows_next_links_and_shows_its_columns(server: ArmServer, run: Run) -> None:
    second = f"{server.url}{VMSS}/osUpgradeHistory?api-version=2024-03-01&$skiptoken=1"

    def page(request: Recorded) -> Reply:
        if request.query.get("$skiptoken") == ["1"]:
            return Reply(200, {"value": [history_entry("Completed", "User", "1.0.1")]})
        return Reply(200, {"value": [history_entry("Faulted", "Platform", "1.0.2", rolled_back=1,
                                                   error="MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade")],
                           "nextLink": second})

    server.on("GET", f"{VMSS}/osUpgradeHistory", handler=page)
    as_json = run("vmss", "get-os-upgrade-history", "-g", "rg1", "-n", "web")
    table = run("vmss", "get-os-upgrade-history", "-g", "rg1", "-n", "web", "-o", "table")

    assert as_json.exit_code == 0, as_json.output
    assert [e["properties"]["targetImageReference"]["exactVersion"] for e in json.loads(as_json.stdout)] == [
        "1.0.2", "1.0.1"]
    assert [r.query for r in server.requests[:2]] == [
        {"api-version": ["2024-03-01"]}, {"api-version": ["2024-03-01"], "$skiptoken": ["1"]}]
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["StartTime", "EndTime", "Status", "StartedBy", "TargetVersion", "Successful",
                                "Failed", "RolledBack", "ErrorCode"]
    assert [line.split() for line in lines[2:]] == [
        ["2026-05-02T10:00:00+00:00", "2026-05-02T10:05:00+00:00", "Faulted", "Platform", "1.0.2", "4", "1", "1",
         "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"],
        ["2026-05-01T10:00:00+00:00", "2026-05-01T10:05:00+00:00", "Completed", "User", "1.0.1", "4", "0", "0"],
    ]


# -- the health of an instance -----------------------------------------------------------------


def test_instance_view_table_shows_health_and_its_reason_json_keeps_everything(
    server: ArmServer, run: Run
) -> None:
    view = {
        "statuses": [{"code": "ProvisioningState/succeeded"}, {"code": "PowerState/running"}],
        "vmHealth": {
            "status": {"code": "HealthState/unhealthy", "level": "Error",
                       "displayStatus": "The VM is reporting unhealthy",
                       "message": "last 2 probes failed: connection refused"},
            "answers": [{"time": "2026-05-01T10:00:00+00:00", "ok": False, "statusCode": None,
                         "latencyMs": 1.5, "error": "connection refused", "appState": None}],
        },
    }
    server.on("GET", f"{VMSS}/virtualMachines/3/instanceView", Reply(200, view))
    table = run("vmss", "get-instance-view", "-g", "rg1", "-n", "web", "--instance-id", "3", "-o", "table")
    as_json = run("vmss", "get-instance-view", "-g", "rg1", "-n", "web", "--instance-id", "3")

    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ProvisioningState", "PowerState", "Health", "HealthReason"]
    assert lines[2].split(None, 3) == ["succeeded", "running", "unhealthy", "last 2 probes failed: connection refused"]
    assert json.loads(as_json.stdout) == view
