"""The rules of the rolling OS upgrade engine, each proved end to end on the sim driver and the
virtual clock: update-domain walks, zones, pauses, priorities, platform maintenance, the effective
policy, rollback, history retention, one run at a time, deletion and scale-out during a run."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scaleset.drivers.base import PowerState
from scaleset.service.errors import ArmError
from scaleset.store.tables import instances as instances_table, upgrade_runs
from scaleset.upgrade import runs
from scaleset.upgrade.planner import BEFORE, DURING, FAILED_VMS, UPGRADED_LIMIT
from tests.upgrade.engine_kit import APP_HEALTH, SUB, UBUNTU, Kit, engine

AZURE_STOP_CODES = {BEFORE, DURING, UPGRADED_LIMIT, FAILED_VMS}
TERMINAL = ("Completed", "Faulted", "Cancelled")
SLOW_TICKS = {"health_tick": 5.0, "upgrade_poll": 5.0, "status_interval": 30.0}  # hours of virtual time, cheaply


# -- helpers ----------------------------------------------------------------------------------

def rolling_policy(*, use_rolling: bool = True, automatic: bool = True, disable_rollback: bool | None = None,
                   mode: str = "Manual", **rolling: Any) -> dict[str, Any]:
    """An upgradePolicy: automatic OS upgrades, optionally using the scale set's rollingUpgradePolicy."""
    auto: dict[str, Any] = {"enableAutomaticOSUpgrade": automatic}
    if use_rolling:
        auto["useRollingUpgradePolicy"] = True
    if disable_rollback is not None:
        auto["disableAutomaticRollback"] = disable_rollback
    policy: dict[str, Any] = {"mode": mode, "automaticOSUpgradePolicy": auto}
    if rolling:
        policy["rollingUpgradePolicy"] = rolling
    return policy


async def make_scale_set(kit: Kit, name: str, capacity: int, *, upgrade_policy: dict[str, Any] | None = None,
                         zones: list[str] | None = None, tags: dict[str, str] | None = None) -> None:
    """A scale set on `latest` with the Application Health extension; zones at the top level."""
    body: dict[str, Any] = {
        "location": "westus", "sku": {"name": "Standard_DS1_v2", "capacity": capacity}, "tags": tags or {},
        "properties": {
            "upgradePolicy": upgrade_policy or rolling_policy(use_rolling=False),
            "virtualMachineProfile": {
                "storageProfile": {"imageReference": {"publisher": UBUNTU[0], "offer": UBUNTU[1], "sku": UBUNTU[2],
                                                      "version": "latest"}},
                "extensionProfile": {"extensions": [APP_HEALTH]},
            },
        },
    }
    if zones:
        body["zones"] = zones
    kit.plane.scale_sets.put(SUB, "rg", name, body)
    await kit.plane.reconciler.idle()


def rows(kit: Kit, name: str) -> list[Any]:
    return kit.plane.instances.list(SUB, "rg", name)[1]


def by_id(kit: Kit, name: str) -> dict[int, Any]:
    return {row.instance_id: row for row in rows(kit, name)}


def members(kit: Kit, name: str) -> dict[int, Any]:
    run, _ = kit.latest(name)
    with kit.plane.ctx.db.reading() as conn:
        return runs.members(conn, run.id)


def batches(kit: Kit, name: str) -> list[list[int]]:
    """The latest run's batches in order, from its members' batch_index."""
    grouped: dict[int, list[int]] = defaultdict(list)
    for instance_id, member in members(kit, name).items():
        if member.batch_index is not None:
            grouped[member.batch_index].append(instance_id)
    assert sorted(grouped) == list(range(len(grouped))), "batch indexes run 0, 1, 2, ..."
    return [sorted(grouped[index]) for index in sorted(grouped)]


def all_runs(kit: Kit, name: str) -> list[Any]:
    scale_set = kit.plane.scale_sets.get(SUB, "rg", name)
    with kit.plane.ctx.db.reading() as conn:
        return runs.history(conn, scale_set.key)


async def until(kit: Kit, condition: Any, *, limit: float = 3600, step: float = 1) -> None:
    """Let virtual time run until `condition()` holds."""
    start = kit.clock.monotonic()
    while not condition():
        if kit.clock.monotonic() - start > limit:
            raise AssertionError(f"not within {limit} virtual seconds")
        await kit.clock.sleep(step)


async def ended(kit: Kit, name: str, *, step: float = 1) -> Any:
    """The latest run, once it ended; looking every `step` virtual seconds (coarse steps for long runs)."""
    def over() -> bool:
        try:
            return kit.latest(name)[0].state in TERMINAL
        except ArmError:
            return False

    await until(kit, over, limit=24 * 3600, step=step)
    return kit.latest(name)[0]


def in_batch(kit: Kit, name: str, count: int) -> bool:
    """The run has started batch `count` and its reimages are in flight."""
    try:
        run, _ = kit.latest(name)
    except ArmError:
        return False
    return run.batch_count == count and run.phase == "batch"


def in_phase(kit: Kit, name: str, phase: str) -> bool:
    try:
        return kit.latest(name)[0].phase == phase
    except ArmError:
        return False


# -- 1. update domains --------------------------------------------------------------------------

async def test_batches_walk_one_update_domain_at_a_time_in_order_when_the_scale_set_asks_for_it(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        # Half the set may go at once; the walk still keeps each batch inside one update domain.
        await make_scale_set(kit, "walk", 10, tags={"scaleset.updateDomainWalk": "true"},
                             upgrade_policy=rolling_policy(maxBatchInstancePercent=50))
        await kit.publish("1.0.1")
        run = await kit.until_done("walk")
        assert run.state == "Completed", run.error
        domain = {row.instance_id: row.update_domain for row in rows(kit, "walk")}
        walked = batches(kit, "walk")
        assert [{domain[i] for i in batch} for batch in walked] == [{0}, {1}, {2}, {3}, {4}]
        assert walked == [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9]]
        assert kit.versions("walk") == ["1.0.1"] * 10


async def test_without_the_update_domain_walk_a_batch_may_mix_update_domains(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "mixed", 10, upgrade_policy=rolling_policy(maxBatchInstancePercent=50))
        await kit.publish("1.0.1")
        run = await kit.until_done("mixed")
        assert run.state == "Completed", run.error
        domain = {row.instance_id: row.update_domain for row in rows(kit, "mixed")}
        mixed = batches(kit, "mixed")
        assert mixed == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
        assert all(len({domain[i] for i in batch}) > 1 for batch in mixed)


async def test_the_service_fabric_extension_also_asks_for_the_update_domain_walk(tmp_path: Path) -> None:
    from scaleset.upgrade.policy import effective_policy

    body = {"properties": {"virtualMachineProfile": {"extensionProfile": {"extensions": [
        {"name": "sf", "properties": {"publisher": "Microsoft.Azure.ServiceFabric", "type": "ServiceFabricLinuxNode"}}]}}}}
    assert effective_policy(body, started_by="Platform", health_wait=300).walk_update_domains
    assert not effective_policy({"tags": {"scaleset.updateDomainWalk": "false"}}, started_by="Platform",
                                health_wait=300).walk_update_domains


# -- 2. zones -----------------------------------------------------------------------------------

async def test_zones_are_never_upgraded_together_unless_cross_zone_upgrade_is_enabled(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        zones = ["1", "2", "3"]
        await make_scale_set(kit, "zonal", 12, zones=zones, upgrade_policy=rolling_policy(maxBatchInstancePercent=50))
        await make_scale_set(kit, "cross", 12, zones=zones,
                             upgrade_policy=rolling_policy(maxBatchInstancePercent=50, enableCrossZoneUpgrade=True))
        await kit.publish("1.0.1")
        for name in ("zonal", "cross"):
            run = await kit.until_done(name)
            assert run.state == "Completed", run.error
        zone_of = {row.instance_id: row.zone for row in rows(kit, "zonal")}
        assert sorted(set(zone_of.values())) == zones
        zonal = batches(kit, "zonal")
        assert all(len({zone_of[i] for i in batch}) == 1 for batch in zonal), zonal
        assert sorted(i for batch in zonal for i in batch) == list(range(12))
        # zone by zone, each zone finished before the next begins
        order = [zone_of[batch[0]] for batch in zonal]
        assert order == sorted(order)
        cross = batches(kit, "cross")
        zone_of = {row.instance_id: row.zone for row in rows(kit, "cross")}
        assert any(len({zone_of[i] for i in batch}) > 1 for batch in cross), cross
        assert len(cross) < len(zonal)


# -- 3. pause between batches -------------------------------------------------------------------

async def test_pause_time_between_batches_adds_the_pause_after_every_batch_but_the_last(tmp_path: Path) -> None:
    async with engine(tmp_path, **SLOW_TICKS) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "plain", 10, upgrade_policy=rolling_policy())
        await make_scale_set(kit, "paced", 10, upgrade_policy=rolling_policy(pauseTimeBetweenBatches="PT10M"))
        await kit.publish("1.0.1")
        plain = await ended(kit, "plain", step=30)
        paced = await ended(kit, "paced", step=30)
        assert plain.state == paced.state == "Completed"
        assert plain.batch_count == paced.batch_count == 5
        plain_seconds = (plain.ended_at - plain.started_at).total_seconds()
        paced_seconds = (paced.ended_at - paced.started_at).total_seconds()
        assert paced_seconds - plain_seconds >= (paced.batch_count - 1) * 600
        # and not a whole extra pause after the last batch
        assert paced_seconds - plain_seconds < paced.batch_count * 600
        assert paced.policy["pause_between_batches"] == 600


# -- 4. unhealthy first -------------------------------------------------------------------------

async def test_prioritize_unhealthy_instances_puts_the_unhealthy_ones_in_the_first_batch(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "first", 10, upgrade_policy=rolling_policy(prioritizeUnhealthyInstances=True))
        await make_scale_set(kit, "inorder", 10, upgrade_policy=rolling_policy())
        for name in ("first", "inorder"):
            kit.driver.inject(by_id(kit, name)[7].machine_key, healthy=False)  # 10 %: the pre-check lets it start
        await kit.clock.sleep(30)  # the monitor sees it
        assert kit.plane.health.healthy(kit.plane.scale_sets.get(SUB, "rg", "first").key)[7] is False
        await kit.publish("1.0.1")
        for name in ("first", "inorder"):
            run = await kit.until_done(name)
            assert run.state == "Completed", run.error
        assert 7 in batches(kit, "first")[0]
        assert batches(kit, "inorder")[0] == [0, 1]
        assert kit.versions("first") == ["1.0.1"] * 10


# -- 5. platform maintenance during a run -------------------------------------------------------

async def test_instances_taken_down_by_something_else_during_a_batch_stop_the_run_at_the_end_of_that_batch(
        tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10)
        await kit.publish("1.0.1")
        await until(kit, lambda: in_batch(kit, "web", 1))
        batch = set(kit.latest("web")[0].batch)
        others = [row for row in rows(kit, "web") if row.instance_id not in batch]
        for row in others[:3]:  # 30 % of the whole set, while the first batch is in flight
            kit.driver.inject(row.machine_key, power_state=PowerState.STOPPED)
        run = await kit.until_done("web")
        assert run.state == "Faulted"
        assert run.error["code"] == DURING
        assert run.error["code"] in AZURE_STOP_CODES
        assert run.batch_count == 1  # stopped at the end of that batch, no second batch
        assert sorted(kit.versions("web")) == ["1.0.0"] * 8 + ["1.0.1"] * 2
        # the batch itself turned healthy: it is upgraded, not rolled back
        assert run.rollback_info["successfullyRolledbackInstanceCount"] == 0
        progress = {i: m.progress for i, m in members(kit, "web").items()}
        assert {progress[i] for i in batch} == {"successful"}


async def test_instances_powered_off_between_batches_stop_the_run_before_the_next_batch(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10, upgrade_policy=rolling_policy(pauseTimeBetweenBatches="PT10M"))
        await kit.publish("1.0.1")
        await until(kit, lambda: kit.latest("web")[0].phase == "pause")
        kit.plane.instances.act(SUB, "rg", "web", "poweroff", ["5", "6", "7"])
        run = await kit.until_done("web")
        assert run.state == "Faulted"
        assert run.error["code"] == DURING
        assert run.batch_count == 1


# -- 6. which policy applies --------------------------------------------------------------------

async def test_max_batch_instance_percent_applies_with_use_rolling_upgrade_policy(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "used", 10, upgrade_policy=rolling_policy(maxBatchInstancePercent=50))
        await make_scale_set(kit, "ignored", 10, upgrade_policy=rolling_policy(use_rolling=False, maxBatchInstancePercent=50))
        await kit.publish("1.0.1")
        used = await kit.until_done("used")
        ignored = await kit.until_done("ignored")
        assert used.state == ignored.state == "Completed"
        assert [len(b) for b in batches(kit, "used")] == [5, 5]
        assert used.batch_count == 2 and used.policy["max_batch_percent"] == 50
        # without useRollingUpgradePolicy the documented defaults apply, whatever the scale set says
        assert [len(b) for b in batches(kit, "ignored")] == [2] * 5
        assert ignored.batch_count == 5 and ignored.policy["max_batch_percent"] == 20


async def test_rolling_mode_applies_the_rolling_upgrade_policy_to_automatic_os_upgrades(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "rolling", 10,
                             upgrade_policy=rolling_policy(use_rolling=False, mode="Rolling", maxBatchInstancePercent=50))
        await kit.publish("1.0.1")
        run = await kit.until_done("rolling")
        assert run.state == "Completed" and run.batch_count == 2


# -- 7. rollback switched off -------------------------------------------------------------------

async def test_disable_automatic_rollback_leaves_a_failing_batch_on_the_new_version(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10, upgrade_policy=rolling_policy(use_rolling=False, disable_rollback=True))
        await kit.publish("2.0.0", healthy=False)
        run = await kit.until_done("web")
        assert run.state == "Faulted"
        assert run.error["code"] == UPGRADED_LIMIT
        assert run.batch_count == 1
        assert run.rollback_info == {"successfullyRolledbackInstanceCount": 0, "failedRolledbackInstanceCount": 0}
        versions = by_id(kit, "web")
        assert [versions[i].image_urn.rsplit(":", 1)[1] for i in (0, 1)] == ["2.0.0", "2.0.0"]
        assert sorted(kit.versions("web")) == ["1.0.0"] * 8 + ["2.0.0"] * 2
        assert {members(kit, "web")[i].progress for i in (0, 1)} == {"failed"}


async def test_a_user_started_run_does_not_roll_back_a_failing_batch(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10, upgrade_policy=rolling_policy(use_rolling=False, automatic=False))
        await kit.publish("2.0.0", healthy=False)
        with pytest.raises(ArmError):
            kit.latest("web")  # nothing started by itself: automatic OS upgrades are off
        kit.plane.upgrades.start(SUB, "rg", "web")
        run = await kit.until_done("web")
        assert run.started_by == "User"
        assert run.state == "Faulted" and run.error["code"] == UPGRADED_LIMIT
        assert run.rollback_info["successfullyRolledbackInstanceCount"] == 0
        assert sorted(kit.versions("web")) == ["1.0.0"] * 8 + ["2.0.0"] * 2


async def test_a_user_started_run_rolls_back_with_rollback_failed_instances_on_policy_breach(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10, upgrade_policy=rolling_policy(
            use_rolling=False, automatic=False, rollbackFailedInstancesOnPolicyBreach=True))
        await kit.publish("2.0.0", healthy=False)
        kit.plane.upgrades.start(SUB, "rg", "web")
        run = await kit.until_done("web")
        assert run.state == "Faulted"
        assert run.rollback_info["successfullyRolledbackInstanceCount"] == 2
        assert kit.versions("web") == ["1.0.0"] * 10


# -- 8. RollingBack -----------------------------------------------------------------------------

async def test_rolling_back_is_the_state_while_the_rollback_runs(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10)
        await kit.publish("2.0.0", healthy=False)
        seen: list[tuple[str, str]] = []
        while True:
            try:
                run, _ = kit.latest("web")
            except ArmError:
                run = None
            if run is not None:
                if not seen or seen[-1] != (run.state, run.phase):
                    seen.append((run.state, run.phase))
                if run.state in TERMINAL:
                    break
            await kit.clock.sleep(1)
        assert ("RollingBack", "rollback") in seen, seen
        states = [state for state, _ in seen]
        first_back = states.index("RollingBack")
        assert set(states[:first_back]) == {"RollingForward"}
        assert states[-1] == "Faulted"
        assert set(states[first_back:-1]) == {"RollingBack"}
        # and while it rolls back, the batch is being reimaged to its previous version
        assert run.rollback_info["successfullyRolledbackInstanceCount"] == 2


# -- 9. history retention -----------------------------------------------------------------------

async def _forced_runs(kit: Kit, name: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        kit.plane.upgrades.start(SUB, "rg", name, force=True)
        run = await kit.until_done(name)
        assert run.state == "Completed"
        ids.append(run.id)
        await kit.clock.sleep(60)
    return ids


async def test_history_keeps_only_the_newest_history_keep_runs(tmp_path: Path) -> None:
    async with engine(tmp_path, history_keep=2) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 2, upgrade_policy=rolling_policy(automatic=False, use_rolling=False))
        ids = await _forced_runs(kit, "web", 4)
        _, history = kit.plane.upgrades.history(SUB, "rg", "web")
        assert [run.id for run, _ in history] == [ids[3], ids[2]]  # newest first
        assert [run.id for run in all_runs(kit, "web")] == [ids[3], ids[2]]  # the rest are gone from the store
        with kit.plane.ctx.db.reading() as conn:
            orphans = conn.execute(sa.select(sa.func.count()).select_from(runs.upgrade_members)
                                   .where(runs.upgrade_members.c.run_id.in_(ids[:2]))).scalar_one()
        assert orphans == 0


async def test_history_forgets_runs_older_than_the_history_window(tmp_path: Path) -> None:
    async with engine(tmp_path, history_window=3600.0, **SLOW_TICKS) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 2, upgrade_policy=rolling_policy(automatic=False, use_rolling=False))
        [old] = await _forced_runs(kit, "web", 1)
        assert [run.id for run, _ in kit.plane.upgrades.history(SUB, "rg", "web")[1]] == [old]
        await kit.clock.sleep(3600)
        assert kit.plane.upgrades.history(SUB, "rg", "web")[1] == []
        [new] = await _forced_runs(kit, "web", 1)
        assert [run.id for run, _ in kit.plane.upgrades.history(SUB, "rg", "web")[1]] == [new]
        assert [run.id for run in all_runs(kit, "web")] == [new]


# -- 10. one run at a time ----------------------------------------------------------------------

async def test_a_second_start_while_a_run_is_under_way_is_refused_with_409(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10, upgrade_policy=rolling_policy(automatic=False, use_rolling=False))
        await kit.publish("1.0.1")
        kit.plane.upgrades.start(SUB, "rg", "web")
        await until(kit, lambda: in_batch(kit, "web", 1))
        with pytest.raises(ArmError) as refused:
            kit.plane.upgrades.start(SUB, "rg", "web")
        assert refused.value.status == 409
        assert refused.value.code == "RollingUpgradeInProgress"
        with pytest.raises(ArmError) as forced:
            kit.plane.upgrades.start(SUB, "rg", "web", force=True)
        assert forced.value.status == 409
        run = await kit.until_done("web")
        assert run.state == "Completed"
        assert len(all_runs(kit, "web")) == 1


async def test_a_publish_during_a_run_does_not_start_a_second_run(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10)
        await kit.publish("1.0.1")
        await until(kit, lambda: in_batch(kit, "web", 2))
        await kit.publish("1.0.2")
        assert len(all_runs(kit, "web")) == 1
        scale_set = kit.plane.scale_sets.get(SUB, "rg", "web")
        with kit.plane.ctx.db.reading() as conn:
            active = conn.execute(sa.select(sa.func.count()).select_from(upgrade_runs).where(
                upgrade_runs.c.scale_set_key == scale_set.key, upgrade_runs.c.state.in_(runs.ACTIVE))).scalar_one()
        assert active == 1
        run = await kit.until_done("web")
        assert run.state == "Completed" and run.batch_count == 5
        assert len(all_runs(kit, "web")) == 1
        assert kit.versions("web") == ["1.0.1"] * 10  # the run keeps its own target


# -- 11. the scale set deleted mid-run ----------------------------------------------------------

@pytest.mark.parametrize("phase", ["batch", "health", "pause", "rollback"])
async def test_deleting_the_scale_set_mid_run_ends_the_run_quietly_and_removes_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, phase: str) -> None:
    caplog.set_level(logging.WARNING)
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        policy = rolling_policy(pauseTimeBetweenBatches="PT10M") if phase == "pause" else None
        await make_scale_set(kit, "web", 10, upgrade_policy=policy)
        # health and rollback last long only for a version that never turns healthy
        await kit.publish("1.0.1", healthy=phase not in ("health", "rollback"))
        await until(kit, lambda: in_phase(kit, "web", phase))
        run_id, op_id = kit.latest("web")[0].id, kit.latest("web")[0].op_id
        key = kit.plane.scale_sets.get(SUB, "rg", "web").key
        kit.plane.scale_sets.delete(SUB, "rg", "web")

        def gone() -> bool:
            try:
                kit.plane.scale_sets.get(SUB, "rg", "web")
            except ArmError as error:
                return error.status == 404
            return False

        await until(kit, gone)
        await kit.clock.sleep(600)
        assert not kit.plane.upgrades._tasks, "the runner stopped"
        assert runs.load(kit.plane.ctx.db, run_id) is None
        with kit.plane.ctx.db.reading() as conn:
            assert runs.members(conn, run_id) == {}
            assert conn.execute(sa.select(instances_table).where(instances_table.c.scale_set_key == key)).all() == []
        with pytest.raises(ArmError) as missing:
            kit.plane.upgrades.latest(SUB, "rg", "web")
        assert missing.value.status == 404
        assert kit.plane.operation(op_id).status != "InProgress"  # a client polling the run is not left hanging
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert problems == [], [r.getMessage() for r in problems]


# -- 12. scale-out during a run -----------------------------------------------------------------

async def test_instances_added_by_scale_out_during_a_run_are_created_on_the_target_and_not_reimaged(
        tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10)
        await kit.publish("1.0.1")
        await until(kit, lambda: in_batch(kit, "web", 2))
        kit.plane.scale_sets.patch(SUB, "rg", "web", {"sku": {"capacity": 14}})
        run = await kit.until_done("web")
        assert run.state == "Completed", run.error
        assert run.batch_count == 5
        after = by_id(kit, "web")
        assert sorted(after) == list(range(14))
        for instance_id in range(10, 14):
            assert after[instance_id].image_urn.endswith(":1.0.1")
            assert after[instance_id].action_seq == 1  # created, never reimaged
        assert sorted(members(kit, "web")) == list(range(10))
        for instance_id in range(10):
            assert after[instance_id].action_seq == 2
        assert kit.versions("web") == ["1.0.1"] * 14
        _, counts = kit.latest("web")
        assert counts["successfulInstanceCount"] == 10


async def test_an_instance_of_the_batch_deleted_mid_run_leaves_the_run_and_the_run_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10)
        await kit.publish("1.0.1")
        await until(kit, lambda: in_batch(kit, "web", 2))
        doomed = kit.latest("web")[0].batch[0]
        kit.plane.instances.act(SUB, "rg", "web", "delete", [str(doomed)])
        run = await kit.until_done("web")
        assert run.state == "Completed", run.error
        assert doomed not in by_id(kit, "web")
        assert kit.versions("web") == ["1.0.1"] * 9
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert problems == [], [r.getMessage() for r in problems]


async def test_publishing_an_older_version_starts_no_run(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 4)
        await kit.publish("0.9.0")  # a backfilled version is not newer than what the set runs
        await kit.clock.sleep(60)
        with pytest.raises(ArmError):
            kit.latest("web")
        assert kit.versions("web") == ["1.0.0"] * 4


async def test_instances_still_being_created_on_the_target_are_not_reimaged_by_a_run_started_meanwhile(
        tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 4, upgrade_policy=rolling_policy(automatic=False, use_rolling=False))
        await kit.publish("1.0.1")
        kit.plane.scale_sets.patch(SUB, "rg", "web", {"sku": {"capacity": 6}})  # 4 and 5 are created on 1.0.1
        kit.plane.upgrades.start(SUB, "rg", "web")  # while they are still being created
        run = await kit.until_done("web")
        assert run.state == "Completed", run.error
        progress = {i: m.progress for i, m in members(kit, "web").items()}
        assert progress == {0: "successful", 1: "successful", 2: "successful", 3: "successful",
                            4: "skipped", 5: "skipped"}
        after = by_id(kit, "web")
        assert [after[i].action_seq for i in range(6)] == [2, 2, 2, 2, 1, 1]
        assert kit.versions("web") == ["1.0.1"] * 6


async def test_the_dry_run_estimate_learned_from_a_paced_run_counts_its_pauses_once(tmp_path: Path) -> None:
    async with engine(tmp_path, **SLOW_TICKS) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10, upgrade_policy=rolling_policy(automatic=False, pauseTimeBetweenBatches="PT10M"))
        kit.plane.upgrades.start(SUB, "rg", "web", force=True)
        run = await ended(kit, "web", step=30)
        took = (run.ended_at - run.started_at).total_seconds()
        assert run.state == "Completed" and run.batch_count == 5 and took >= 4 * 600
        plan = kit.plane.upgrades.dry_run(SUB, "rg", "web", force=True)
        assert plan["estimate_basis"] == f"the pace of run {run.id}"
        assert len(plan["plan"].batches) == 5
        assert plan["plan"].expected_seconds == pytest.approx(took)  # the same run again takes as long


async def test_a_paused_run_can_be_cancelled_and_ends_without_another_batch(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await make_scale_set(kit, "web", 10)
        await kit.publish("1.0.1")
        await until(kit, lambda: in_batch(kit, "web", 1))
        kit.plane.upgrades.pause(SUB, "rg", "web")
        await until(kit, lambda: in_phase(kit, "web", "next"))
        await kit.clock.sleep(600)
        kit.plane.upgrades.cancel(SUB, "rg", "web")
        run = await kit.until_done("web", limit=60)
        assert run.state == "Cancelled" and run.batch_count == 1
        assert sorted(kit.versions("web")) == ["1.0.0"] * 8 + ["1.0.1"] * 2
