"""Three `scaleset serve` replicas on one PostgreSQL and one data dir, real machines on the process
driver. Calls go to any replica. The replica that owns the upgrading scale set is SIGKILLed at the
worst moment of a batch (an instance booted v2, its reimage not yet recorded), and another carries
the same run on to Completed within two lease periods: every data disk's log shows each instance
imaged with v1 and then exactly once with v2, and the history holds one entry. Another owner is
SIGSTOPped mid-batch: the run completes elsewhere, and when it wakes it writes nothing.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API, Server, publish, remove_machines, start_server, stop_server
from tests.e2e.test_process_scale_set import vms
from tests.e2e.test_upgrade_durability import boots, latest, logged_rolling_scale_set
from tests.images import boot_image
from tests.postgres import fresh_postgres_database

pytestmark = pytest.mark.postgres

V = {"api-version": API}
LEASE = 3.0
CAPACITY = 6
V1, V2 = "1.0.0", "1.0.1"
REPLICAS = "/providers/Scaleset.Control/replicas"
# The tables the work writes (not the replicas' own heartbeats and leases). Health verdicts are
# compared by state: the prober rewrites a steady verdict's evidence now and then.
WORK_TABLES = ("instances", "upgrade_runs", "upgrade_members", "operations", "scale_sets")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[list[Server], str, Path]]:
    """Three replicas sharing a fresh PostgreSQL database and a data dir."""
    data_dir = tmp_path / "data"
    with fresh_postgres_database() as url:
        flags = ("--probe-interval", "0.2", "--health-wait", "10", "--lease-period", str(LEASE))
        servers: list[Server] = []
        try:
            for name in ("r1", "r2", "r3"):
                servers.append(start_server(data_dir, db=url, extra=(*flags, "--replica-id", name)))
            yield servers, url, data_dir
        finally:
            for server in servers:
                if server.process.poll() is None:
                    os.kill(server.process.pid, signal.SIGCONT)
                stop_server(server)
            remove_machines(data_dir)


def owner_of(client: httpx.Client, scale_set_name: str) -> str | None:
    for replica in client.get(REPLICAS, params=V).json()["value"]:
        if any(lease["name"].endswith(f"/{scale_set_name}") and not lease["expired"] for lease in replica["leases"]):
            return replica["id"]
    return None


def upgrade_under_way(servers: list[Server], tmp_path: Path, data_dir: Path) -> tuple[str, dict[str, Path]]:
    """A scale set made through r1, v2 published through r2: returns its path and its data disks
    once the run has a batch in flight with an instance that booted v2 unrecorded."""
    sub = servers[0].subscription
    with servers[0].client() as client:
        assert client.put(f"/subscriptions/{sub}/resourcegroups/rg", params=V, json={"location": "westus"}).status_code == 201
        assert publish(client, sub, boot_image(tmp_path / "v1", version=V1), version=V1).status_code == 201
        scale_set = logged_rolling_scale_set(client, sub, CAPACITY)
    disks = {machine.name: machine / "data" / "0" for machine in sorted((data_dir / "machines").iterdir()) if machine.is_dir()}
    assert len(disks) == CAPACITY and all(boots(disk) == [V1] for disk in disks.values())
    with servers[1].client() as client:
        assert publish(client, sub, boot_image(tmp_path / "v2", version=V2), version=V2).status_code == 201
    with servers[2].client() as client:
        deadline = time.monotonic() + 40
        while True:
            assert time.monotonic() < deadline, f"never caught the run mid-batch; last: {latest(client, scale_set)}"
            progress = (latest(client, scale_set) or {}).get("progress") or {}
            if progress.get("inProgressInstanceCount", 0) > 0 and progress.get("successfulInstanceCount", 0) >= 2:
                updating = {vm["instanceId"] for vm in vms(client, scale_set) if vm["properties"]["provisioningState"] == "Updating"}
                if any(boots(disk) == [V1, V2] and name.rsplit("-", 1)[1] in updating for name, disk in disks.items()):
                    return scale_set, disks
            time.sleep(0.05)


def completes_elsewhere(client: httpx.Client, scale_set: str, gone: str) -> float:
    """Wait for another replica to own the scale set and for the run to complete; returns how long
    the takeover took."""
    started = time.monotonic()
    while owner_of(client, "web") in (None, gone):
        assert time.monotonic() - started < 4 * LEASE, client.get(REPLICAS, params=V).json()
        time.sleep(0.1)
    took = time.monotonic() - started
    deadline = time.monotonic() + 60
    while (run := latest(client, scale_set))["runningStatus"]["code"] in ("RollingForward", "RollingBack"):
        assert time.monotonic() < deadline, f"the run did not end after the takeover: {run}"
        time.sleep(0.2)
    assert run["runningStatus"]["code"] == "Completed", run
    assert run["progress"]["successfulInstanceCount"] == CAPACITY, run
    history = client.get(f"{scale_set}/osUpgradeHistory", params=V).json()["value"]
    assert len(history) == 1, history
    for vm in vms(client, scale_set):
        assert vm["properties"]["storageProfile"]["imageReference"]["exactVersion"] == V2, vm["instanceId"]
        assert vm["properties"]["provisioningState"] == "Succeeded", vm["instanceId"]
    return took


def server_named(servers: list[Server], name: str) -> Server:
    return servers[["r1", "r2", "r3"].index(name)]


def test_the_owner_is_killed_mid_batch_and_another_replica_completes_the_same_run(
        cluster: tuple[list[Server], str, Path], tmp_path: Path) -> None:
    servers, _, data_dir = cluster
    scale_set, disks = upgrade_under_way(servers, tmp_path, data_dir)
    with servers[2].client() as client:
        shown = {r["id"]: r for r in client.get(REPLICAS, params=V).json()["value"]}
        assert set(shown) == {"r1", "r2", "r3"} and all(r["alive"] for r in shown.values())
        dead = owner_of(client, "web")
        assert dead is not None
        stop_server(server_named(servers, dead), kill=True)
        survivor = next(s for s in servers if s.process.poll() is None)
    with survivor.client() as client:
        took = completes_elsewhere(client, scale_set, dead)
        assert took <= 2 * LEASE + 1.0, took  # two lease periods, and a heartbeat's worth of polling
        assert dead not in {r["id"] for r in client.get(REPLICAS, params=V).json()["value"]}  # its pid is gone: buried
    for name, disk in disks.items():
        assert boots(disk) == [V1, V2], (name, boots(disk))  # imaged once with each: never twice, never half
    for machine in disks:
        assert not (data_dir / "machines" / machine / "provision-pending").exists()


def work_rows(url: str) -> dict[str, list[Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found = {table: sorted(map(tuple, conn.exec_driver_sql(f"SELECT * FROM {table}").all()), key=repr)
                     for table in WORK_TABLES}
            found["instance_health"] = sorted(map(tuple, conn.exec_driver_sql(
                "SELECT scale_set_key, instance_id, verdict->>'state' FROM instance_health").all()))
            return found
    finally:
        engine.dispose()


def test_a_paused_owner_that_wakes_after_losing_its_lease_writes_nothing(
        cluster: tuple[list[Server], str, Path], tmp_path: Path) -> None:
    servers, url, data_dir = cluster
    scale_set, disks = upgrade_under_way(servers, tmp_path, data_dir)
    with servers[2].client() as client:
        paused = owner_of(client, "web")
    assert paused is not None
    sleeper = server_named(servers, paused)
    os.kill(sleeper.process.pid, signal.SIGSTOP)
    survivor = next(s for s in servers if s is not sleeper)
    with survivor.client() as client:
        completes_elsewhere(client, scale_set, paused)
        time.sleep(1.0)  # the survivor's last observations settle
        before = work_rows(url)
        log_before = (data_dir / "server.log").read_text(errors="replace")
        os.kill(sleeper.process.pid, signal.SIGCONT)
        # It wakes in the middle of what it was doing, believing it still owns the scale set.
        deadline = time.monotonic() + 3 * LEASE
        while time.monotonic() < deadline:
            time.sleep(0.2)
        assert work_rows(url) == before
        woke = (data_dir / "server.log").read_text(errors="replace")[len(log_before):]
        assert f"replica {paused} no longer holds lease scaleset:" in woke, woke[-3000:]
        replicas = {r["id"]: r for r in client.get(REPLICAS, params=V).json()["value"]}
        assert replicas[paused]["alive"] and not any(l["name"].endswith("/web") for l in replicas[paused]["leases"])
    for name, disk in disks.items():
        assert boots(disk) == [V1, V2], (name, boots(disk))
