"""Rolling OS upgrades over HTTP, on a real server with the sim driver: who may turn automatic OS
upgrades on, the dry-run plan, and the official SDK starting, cancelling and reading runs and their
history, in the shapes and types the spec gives (API.md §3.5, §3.6)."""

from __future__ import annotations

import gc
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient

from tests.conftest import API, Server, publish, start_server, stop_server
from tests.e2e.test_process_upgrades import sdk
from tests.images import sim_image
from tests.upgrade.engine_kit import APP_HEALTH

V = {"api-version": API}
AUTO_TARGET = "properties.upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade"
ROLLING_TYPE = "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades"
HEALTH_WAIT = 3.0
ADE = {"name": "ade", "properties": {"publisher": "Microsoft.Azure.Security", "type": "AzureDiskEncryptionForLinux",
                                     "typeHandlerVersion": "1.1", "settings": {"EncryptionOperation": "EnableEncryption"}}}


def ubuntu(version: str = "latest", publisher: str = "Canonical") -> dict[str, str]:
    return {"publisher": publisher, "offer": "UbuntuServer", "sku": "18.04-LTS", "version": version}


def vmss_body(capacity: int, *, automatic: bool = False, image: dict[str, str] | None = None,
              extensions: list[dict[str, Any]] | None = None, rolling: dict[str, Any] | None = None) -> dict[str, Any]:
    policy: dict[str, Any] = {"mode": "Manual", "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": automatic}}
    if rolling is not None:
        policy["rollingUpgradePolicy"] = rolling
    return {"location": "westus", "sku": {"name": "Standard_DS1_v2", "capacity": capacity}, "properties": {
        "upgradePolicy": policy,
        "virtualMachineProfile": {
            "storageProfile": {"imageReference": image or ubuntu()},
            "extensionProfile": {"extensions": [APP_HEALTH] if extensions is None else extensions},
        }}}


@dataclass
class Arm:
    server: Server
    client: httpx.Client
    tmp: Path
    closers: list[Any] = field(default_factory=list)

    @property
    def sub(self) -> str:
        return self.server.subscription

    def vmss(self, name: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"

    def publish(self, version: str, *, publisher: str = "Canonical", **knobs: Any) -> None:
        image = sim_image(self.tmp / f"{publisher}-{version}.json", **knobs)
        response = publish(self.client, self.sub, image, version=version, publisher=publisher)
        assert response.status_code == 201, response.text

    def wait(self, response: httpx.Response, *, timeout: float = 20) -> dict[str, Any]:
        assert response.status_code in (200, 201, 202), response.text
        url = response.headers["Azure-AsyncOperation"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.client.get(url).json()
            if status["status"] != "InProgress":
                return status
            time.sleep(0.05)
        raise AssertionError(f"operation {url} still running after {timeout} s")

    def create(self, name: str, body: dict[str, Any]) -> None:
        assert self.wait(self.client.put(self.vmss(name), params=V, json=body))["status"] == "Succeeded"

    def compute(self) -> ComputeManagementClient:
        """The official SDK's client; closed with the fixture, so the server stops at once."""
        client = sdk(self.server)
        self.closers.append(client.close)
        return client

    def vms(self, name: str) -> list[dict[str, Any]]:
        return self.client.get(f"{self.vmss(name)}/virtualMachines", params=V).json()["value"]

    def versions(self, name: str) -> list[str]:
        return [vm["properties"]["storageProfile"]["imageReference"]["exactVersion"] for vm in self.vms(name)]

    def latest(self, name: str, api_version: str = API) -> httpx.Response:
        return self.client.get(f"{self.vmss(name)}/rollingUpgrades/latest", params={"api-version": api_version})

    def start(self, name: str, **flags: str) -> httpx.Response:
        return self.client.post(f"{self.vmss(name)}/osRollingUpgrade", params={**V, **flags})

    def until_ended(self, name: str, *, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.latest(name)
            if response.status_code == 200 and response.json()["properties"]["runningStatus"]["code"] in (
                    "Completed", "Faulted", "Cancelled"):
                return response.json()
            time.sleep(0.05)
        raise AssertionError(f"the run of {name} did not end in {timeout} s: {self.latest(name).text}")

    def action_seqs(self, name: str) -> dict[int, int]:
        """How many actions each instance went through, read from the server's store."""
        return {instance_id: seq for instance_id, seq in self.query(
            "SELECT i.instance_id, i.action_seq FROM instances i JOIN scale_sets s ON s.key = i.scale_set_key "
            "WHERE s.name = ?", name)}

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(f"file:{self.server.data_dir / 'scaleset.db'}?mode=ro", uri=True, timeout=10)
        try:
            return sorted(connection.execute(sql, args).fetchall(), key=repr)
        finally:
            connection.close()


@pytest.fixture
def arm(tmp_path: Path) -> Iterator[Arm]:
    server = start_server(tmp_path / "data", driver="sim",
                          extra=("--probe-interval", "0.2", "--health-wait", str(HEALTH_WAIT)))
    try:
        with server.client() as client:
            assert client.put(f"/subscriptions/{server.subscription}/resourcegroups/rg", params=V,
                              json={"location": "westus"}).status_code == 201
            arm = Arm(server, client, tmp_path)
            try:
                yield arm
            finally:
                for close in arm.closers:
                    close()
                # A finished LROPoller sits in a reference cycle holding its last response's connection
                # checked out; collected, it lets go, and the server stops without waiting on it.
                gc.collect()
    finally:
        stop_server(server)


def is_datetime(value: Any) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


# -- who may turn automatic OS upgrades on ------------------------------------------------------

def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "InvalidParameter"
    assert error["target"] == AUTO_TARGET


def test_enabling_automatic_os_upgrades_on_an_image_outside_the_eligible_table_is_refused_and_nothing_is_stored(
        arm: Arm) -> None:
    arm.publish("1.0.0", publisher="Contoso")
    body = vmss_body(2, automatic=True, image=ubuntu(publisher="Contoso"))
    assert_refused(arm.client.put(arm.vmss("contoso"), params=V, json=body))
    assert arm.client.get(arm.vmss("contoso"), params=V).status_code == 404
    assert arm.query("SELECT key FROM scale_sets") == []
    assert arm.query("SELECT instance_id FROM instances") == []


def test_enabling_automatic_os_upgrades_with_a_pinned_image_version_is_refused(arm: Arm) -> None:
    arm.publish("1.0.0")
    assert_refused(arm.client.put(arm.vmss("pinned"), params=V, json=vmss_body(2, automatic=True, image=ubuntu("1.0.0"))))
    assert arm.client.get(arm.vmss("pinned"), params=V).status_code == 404
    # nor may an automatic scale set pin its version later
    arm.create("web", vmss_body(2, automatic=True))
    before = arm.client.get(arm.vmss("web"), params=V).json()
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "1.0.0"}}}}}
    assert_refused(arm.client.patch(arm.vmss("web"), params=V, json=patch))
    assert arm.client.get(arm.vmss("web"), params=V).json() == before


def test_enabling_automatic_os_upgrades_with_azure_disk_encryption_is_refused(arm: Arm) -> None:
    arm.publish("1.0.0")
    assert_refused(arm.client.put(arm.vmss("ade"), params=V, json=vmss_body(2, automatic=True, extensions=[APP_HEALTH, ADE])))
    assert arm.client.get(arm.vmss("ade"), params=V).status_code == 404
    # with encryption on first, turning automatic OS upgrades on later is refused too
    arm.create("encrypted", vmss_body(2, extensions=[APP_HEALTH, ADE]))
    before = arm.client.get(arm.vmss("encrypted"), params=V).json()
    enable = {"properties": {"upgradePolicy": {"automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}}}}
    assert_refused(arm.client.patch(arm.vmss("encrypted"), params=V, json=enable))
    assert arm.client.get(arm.vmss("encrypted"), params=V).json() == before


def test_disabling_automatic_os_upgrades_is_allowed_at_any_time(arm: Arm) -> None:
    arm.publish("1.0.0", publisher="Contoso")
    arm.publish("1.0.0")
    disable = {"properties": {"upgradePolicy": {"automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": False}}}}
    enable = {"properties": {"upgradePolicy": {"automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True}}}}
    arm.create("contoso", vmss_body(2, image=ubuntu(publisher="Contoso")))
    assert_refused(arm.client.patch(arm.vmss("contoso"), params=V, json=enable))
    for name, body in (("contoso", None), ("ade", vmss_body(2, extensions=[APP_HEALTH, ADE])),
                       ("auto", vmss_body(2, automatic=True))):
        if body is not None:
            arm.create(name, body)
        response = arm.client.patch(arm.vmss(name), params=V, json=disable)
        assert response.status_code == 200, response.text
        assert arm.wait(response)["status"] == "Succeeded"
        policy = arm.client.get(arm.vmss(name), params=V).json()["properties"]["upgradePolicy"]
        assert policy["automaticOSUpgradePolicy"]["enableAutomaticOSUpgrade"] is False


# -- the dry run --------------------------------------------------------------------------------

def test_a_dry_run_returns_the_exact_plan_and_changes_nothing(arm: Arm) -> None:
    arm.publish("1.0.0")
    arm.create("web", vmss_body(10))
    arm.publish("1.0.1")
    # two instances already run the newest version: the plan skips them
    reimage = arm.client.post(f"{arm.vmss('web')}/reimage", params=V, json={"instanceIds": ["0", "1"]})
    assert arm.wait(reimage)["status"] == "Succeeded"
    assert arm.versions("web") == ["1.0.1"] * 2 + ["1.0.0"] * 8
    assert arm.latest("web").status_code == 404
    tables = "SELECT * FROM {}"
    before = {t: arm.query(tables.format(t)) for t in ("instances", "upgrade_runs", "upgrade_members", "operations")}

    response = arm.start("web", dryRun="true")
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["dryRun"] is True
    assert plan["targetImageReference"] == {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS",
                                            "exactVersion": "1.0.1"}
    assert plan["batches"] == [{"index": 0, "instanceIds": ["2", "3"]}, {"index": 1, "instanceIds": ["4", "5"]},
                               {"index": 2, "instanceIds": ["6", "7"]}, {"index": 3, "instanceIds": ["8", "9"]}]
    assert plan["skipped"] == [{"instanceId": "0", "reason": "already runs 1.0.1"},
                               {"instanceId": "1", "reason": "already runs 1.0.1"}]
    assert plan["expectedDurationSeconds"] == 4 * HEALTH_WAIT  # one health wait a batch: no run to learn from
    assert plan["expectedDuration"] == "PT12S"
    assert plan["policy"]["maxBatchInstancePercent"] == 20
    assert "blocked" not in plan

    forced = arm.start("web", dryRun="true", forceReimage="true").json()
    assert [b["instanceIds"] for b in forced["batches"]] == [[str(i), str(i + 1)] for i in range(0, 10, 2)]
    assert forced["skipped"] == []

    assert arm.latest("web").status_code == 404
    assert {t: arm.query(tables.format(t)) for t in before} == before
    assert arm.versions("web") == ["1.0.1"] * 2 + ["1.0.0"] * 8


# -- the official SDK ---------------------------------------------------------------------------

def test_the_sdk_starts_a_user_run_to_completion_and_reads_it_with_the_policy_defaults_filled_in(arm: Arm) -> None:
    arm.publish("1.0.0")
    arm.create("web", vmss_body(10))
    arm.publish("1.0.1")
    compute = arm.compute()
    compute.virtual_machine_scale_set_rolling_upgrades.begin_start_os_upgrade("rg", "web").result()

    latest = compute.virtual_machine_scale_set_rolling_upgrades.get_latest("rg", "web")
    assert latest.name == "latest" and latest.location == "westus"
    assert latest.running_status.code == "Completed"
    assert latest.running_status.last_action == "Start"
    assert isinstance(latest.running_status.start_time, datetime) and latest.running_status.start_time.tzinfo
    assert isinstance(latest.running_status.last_action_time, datetime)
    progress = latest.progress
    counts = [progress.successful_instance_count, progress.failed_instance_count, progress.in_progress_instance_count,
              progress.pending_instance_count]
    assert all(type(count) is int for count in counts)
    assert counts == [10, 0, 0, 0] and sum(counts) == 10
    policy = latest.policy
    assert (policy.max_batch_instance_percent, policy.max_unhealthy_instance_percent,
            policy.max_unhealthy_upgraded_instance_percent) == (20, 20, 20)
    assert policy.pause_time_between_batches == "PT0S"
    assert policy.prioritize_unhealthy_instances is False and policy.enable_cross_zone_upgrade is False
    assert policy.rollback_failed_instances_on_policy_breach is False  # a user's run does not roll back
    assert latest.error is None
    assert arm.versions("web") == ["1.0.1"] * 10

    [entry] = list(compute.virtual_machine_scale_sets.get_os_upgrade_history("rg", "web"))
    assert entry.properties.started_by == "User"
    assert entry.properties.running_status.code == "Completed"


def test_the_sdk_cancels_a_run_and_it_ends_cancelled(arm: Arm) -> None:
    arm.publish("1.0.0")
    arm.create("web", vmss_body(10))
    arm.publish("1.0.1", reimageSeconds=0.5)
    compute = arm.compute()
    started = arm.start("web")
    assert started.status_code == 202
    deadline = time.monotonic() + 10
    while True:  # cancel once a batch is in flight
        progress = arm.latest("web").json()["properties"]["progress"]
        if progress["inProgressInstanceCount"]:
            break
        assert time.monotonic() < deadline, progress
        time.sleep(0.02)
    compute.virtual_machine_scale_set_rolling_upgrades.begin_cancel("rg", "web").result()
    assert arm.wait(started)["status"] == "Canceled"  # the start's operation ends with its run
    latest = compute.virtual_machine_scale_set_rolling_upgrades.get_latest("rg", "web")
    assert latest.running_status.code == "Cancelled"
    assert latest.running_status.last_action == "Cancel"
    done = latest.progress.successful_instance_count
    # the batch in flight finished; no further batch started
    assert done == progress["successfulInstanceCount"] + progress["inProgressInstanceCount"] == 2
    assert done + latest.progress.pending_instance_count == 10
    assert sorted(arm.versions("web")) == ["1.0.0"] * (10 - done) + ["1.0.1"] * done
    # cancelling again, with nothing running, is refused
    with pytest.raises(HttpResponseError) as refused:
        compute.virtual_machine_scale_set_rolling_upgrades.begin_cancel("rg", "web").result()
    assert refused.value.status_code == 409


def test_os_upgrade_history_lists_runs_newest_first_with_who_started_each(arm: Arm) -> None:
    arm.publish("1.0.0")
    arm.create("web", vmss_body(10, automatic=True))
    arm.publish("1.0.1")  # the platform starts a run by itself
    platform = arm.until_ended("web")
    assert platform["properties"]["runningStatus"]["code"] == "Completed"
    compute = arm.compute()
    # a user's run with everything current completes at once
    compute.virtual_machine_scale_set_rolling_upgrades.begin_start_os_upgrade("rg", "web").result()

    history = list(compute.virtual_machine_scale_sets.get_os_upgrade_history("rg", "web"))
    assert [h.properties.started_by for h in history] == ["User", "Platform"]
    assert [h.properties.running_status.code for h in history] == ["Completed", "Completed"]
    newest, older = history
    assert newest.properties.running_status.start_time > older.properties.running_status.start_time
    for item in history:
        status = item.properties.running_status
        assert isinstance(status.start_time, datetime) and isinstance(status.end_time, datetime)
        assert status.end_time >= status.start_time
        assert item.properties.target_image_reference.exact_version == "1.0.1"
        assert item.properties.target_image_reference.version == "latest"
        assert item.properties.progress.successful_instance_count == 10
        assert item.properties.rollback_info.successfully_rolledback_instance_count == 0
        assert item.type == ROLLING_TYPE and item.location == "westus"

    # the wire shape, as API.md §3.5 gives it
    raw = arm.client.get(f"{arm.vmss('web')}/osUpgradeHistory", params=V)
    assert raw.status_code == 200
    page = raw.json()
    assert set(page) == {"value"}
    for item in page["value"]:
        assert set(item) == {"properties", "type", "location"}  # no id, no name
        assert item["type"] == ROLLING_TYPE and item["location"] == "westus"
        props = item["properties"]
        assert set(props) == {"runningStatus", "progress", "startedBy", "targetImageReference", "rollbackInfo"}
        assert set(props["runningStatus"]) == {"code", "startTime", "endTime"}
        assert is_datetime(props["runningStatus"]["startTime"]) and is_datetime(props["runningStatus"]["endTime"])
        assert set(props["progress"]) == {"successfulInstanceCount", "failedInstanceCount", "inProgressInstanceCount",
                                          "pendingInstanceCount"}
        assert all(type(v) is int for v in props["progress"].values())
        assert sum(props["progress"].values()) == 10
        assert set(props["rollbackInfo"]) == {"successfullyRolledbackInstanceCount", "failedRolledbackInstanceCount"}
        assert all(type(v) is int for v in props["rollbackInfo"].values())
        assert props["startedBy"] in ("User", "Platform")
        assert set(props["targetImageReference"]) == {"publisher", "offer", "sku", "version", "exactVersion"}
    # and rollingUpgrades/latest is the tracked resource of §3.6
    latest = arm.latest("web").json()
    assert set(latest) == {"id", "name", "type", "location", "properties"}
    assert latest["id"] == f"{arm.vmss('web')}/rollingUpgrades/latest"
    assert set(latest["properties"]) == {"policy", "runningStatus", "progress"}
    assert set(latest["properties"]["runningStatus"]) == {"code", "startTime", "lastAction", "lastActionTime"}
    assert is_datetime(latest["properties"]["runningStatus"]["startTime"])
    assert is_datetime(latest["properties"]["runningStatus"]["lastActionTime"])


def test_force_reimage_reimages_every_instance(arm: Arm) -> None:
    arm.publish("1.0.0")
    arm.create("web", vmss_body(5))
    before = arm.action_seqs("web")
    assert arm.wait(arm.start("web"))["status"] == "Succeeded"  # everything current: nothing to do
    assert arm.action_seqs("web") == before
    response = arm.start("web", forceReimage="true")
    assert response.status_code == 202
    assert arm.wait(response)["status"] == "Succeeded"
    after = arm.action_seqs("web")
    assert after == {i: seq + 1 for i, seq in before.items()}  # each instance reimaged, once
    latest = arm.latest("web").json()["properties"]
    assert latest["runningStatus"]["code"] == "Completed"
    assert latest["progress"]["successfulInstanceCount"] == 5
    assert arm.versions("web") == ["1.0.0"] * 5


def test_pause_holds_a_run_and_resume_finishes_it(arm: Arm) -> None:
    arm.publish("1.0.0")
    arm.create("web", vmss_body(10))
    arm.publish("1.0.1", reimageSeconds=0.3)
    assert arm.start("web").status_code == 202
    paused = arm.client.post(f"{arm.vmss('web')}/rollingUpgrades/pause", params=V)
    assert paused.status_code == 202, paused.text
    time.sleep(1)  # long enough for a couple of batches, had it not paused
    held = arm.latest("web").json()["properties"]
    assert held["runningStatus"]["code"] == "RollingForward"
    assert held["runningStatus"]["paused"] is True
    assert held["runningStatus"]["lastAction"] == "Start"  # the enum knows Start and Cancel only
    done = held["progress"]["successfulInstanceCount"]
    assert done < 10
    time.sleep(0.5)
    assert arm.latest("web").json()["properties"]["progress"]["successfulInstanceCount"] == done
    resumed = arm.client.post(f"{arm.vmss('web')}/rollingUpgrades/resume", params=V)
    assert resumed.status_code == 202, resumed.text
    ended = arm.until_ended("web")["properties"]
    assert ended["runningStatus"]["code"] == "Completed"
    assert "paused" not in ended["runningStatus"]
    assert arm.versions("web") == ["1.0.1"] * 10
    # nothing to pause any more
    assert arm.client.post(f"{arm.vmss('web')}/rollingUpgrades/pause", params=V).status_code == 409


def test_rolling_back_is_shown_only_to_api_versions_that_know_it(arm: Arm) -> None:
    arm.publish("1.0.0", reimageSeconds=1.5)  # the rollback (back to 1.0.0) takes a while
    arm.create("web", vmss_body(5, rolling={"rollbackFailedInstancesOnPolicyBreach": True}))
    arm.publish("1.0.1", healthy=False)
    assert arm.start("web").status_code == 202
    old, new = set(), set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        old.add(arm.latest("web", "2018-10-01").json()["properties"]["runningStatus"]["code"])
        new.add(arm.latest("web", "2026-04-01").json()["properties"]["runningStatus"]["code"])
        if "Faulted" in old and "Faulted" in new:
            break
        time.sleep(0.05)
    assert "RollingBack" in new, new
    assert "RollingBack" not in old, old
    assert old <= {"RollingForward", "Faulted"}
    history = arm.client.get(f"{arm.vmss('web')}/osUpgradeHistory", params={"api-version": "2018-10-01"}).json()
    [item] = history["value"]
    assert item["properties"]["runningStatus"]["code"] == "Faulted"
    assert item["properties"]["rollbackInfo"]["successfullyRolledbackInstanceCount"] == 1
    assert item["properties"]["error"]["code"] == "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    assert arm.versions("web") == ["1.0.0"] * 5


def test_the_sdk_approves_a_deferred_run_per_instance_and_for_the_whole_set(arm: Arm) -> None:
    arm.publish("1.0.0")
    body = vmss_body(4, automatic=True)
    body["properties"]["upgradePolicy"]["automaticOSUpgradePolicy"]["osRollingUpgradeDeferral"] = True
    arm.create("web", body)
    arm.publish("1.0.1")  # the platform starts a run, which holds its first batch for approval
    deadline = time.monotonic() + 10
    while arm.latest("web").status_code != 200 or "awaitingApproval" not in arm.latest("web").json()["properties"]:
        assert time.monotonic() < deadline, arm.latest("web").text
        time.sleep(0.05)
    assert arm.latest("web").json()["properties"]["awaitingApproval"] == ["0"]
    time.sleep(1)
    assert arm.versions("web") == ["1.0.0"] * 4  # nothing moves without an approval
    compute = arm.compute()
    compute.virtual_machine_scale_set_vms.begin_approve_rolling_upgrade("rg", "web", "0").result()
    deadline = time.monotonic() + 10
    while arm.versions("web")[0] != "1.0.1":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    compute.virtual_machine_scale_sets.begin_approve_rolling_upgrade("rg", "web").result()
    ended = arm.until_ended("web")
    assert ended["properties"]["runningStatus"]["code"] == "Completed"
    assert arm.versions("web") == ["1.0.1"] * 4


def test_platform_maintenance_takes_an_instance_down_and_brings_it_back(arm: Arm) -> None:
    arm.publish("1.0.0")
    arm.create("web", vmss_body(3, automatic=True))
    vm = f"{arm.vmss('web')}/virtualMachines/1"

    def view() -> dict[str, Any]:
        return arm.client.get(f"{vm}/instanceView", params=V).json()

    def settle(health: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while (current := view()).get("vmHealth", {}).get("status", {}).get("code") != health:
            assert time.monotonic() < deadline, current
            time.sleep(0.05)
        return current

    settle("HealthState/healthy")
    assert arm.wait(arm.client.post(f"{vm}/platformMaintenance", params={**V, "action": "begin"}))["status"] == "Succeeded"
    down = settle("HealthState/unhealthy")
    assert "PowerState/stopped" in [s["code"] for s in down["statuses"]]
    assert arm.wait(arm.client.post(f"{vm}/platformMaintenance", params={**V, "action": "end"}))["status"] == "Succeeded"
    back = settle("HealthState/healthy")
    assert "PowerState/running" in [s["code"] for s in back["statuses"]]
    refused = arm.client.post(f"{vm}/platformMaintenance", params={**V, "action": "sometime"})
    assert refused.status_code == 400 and refused.json()["error"]["target"] == "action"


def test_the_server_flag_replaces_the_table_of_eligible_images(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", driver="sim", extra=("--eligible-image", "Contoso:UbuntuServer:18.04-LTS"))
    try:
        with server.client() as client:
            arm = Arm(server, client, tmp_path)
            assert client.put(f"/subscriptions/{arm.sub}/resourcegroups/rg", params=V, json={"location": "westus"}).status_code == 201
            arm.publish("1.0.0", publisher="Contoso")
            arm.publish("1.0.0")
            arm.create("contoso", vmss_body(1, automatic=True, image=ubuntu(publisher="Contoso")))
            refused = client.put(arm.vmss("canonical"), params=V, json=vmss_body(1, automatic=True))
            assert refused.status_code == 400 and refused.json()["error"]["target"] == AUTO_TARGET
            shown = client.get(f"/subscriptions/{arm.sub}/providers/Microsoft.Compute/locations/westus/publishers/Contoso"
                               "/artifacttypes/vmimage/offers/UbuntuServer/skus/18.04-LTS/versions/1.0.0", params=V).json()
            assert shown["properties"]["automaticOSUpgradeProperties"]["automaticOSUpgradeSupported"] is True
    finally:
        stop_server(server)
