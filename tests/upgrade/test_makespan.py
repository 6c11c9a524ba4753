"""No batch waits for nothing: a run moves on as soon as what it waits for has happened.

On the virtual clock the sim's reimage and the app's warm-up take exact times, so the time a run
takes beyond them is the engine's own delay: noticing a reimage ended, seeing an instance turn
healthy (probed every 0.1 s while settling, not every 5 s), and starting the next batch.
"""

from __future__ import annotations

from pathlib import Path

from tests.upgrade.engine_kit import engine

ROLLING = {"mode": "Rolling", "rollingUpgradePolicy": {"maxBatchInstancePercent": 20}}


async def test_each_batch_ends_within_a_fifth_of_a_second_of_its_instances_turning_healthy(tmp_path: Path) -> None:
    # The engine_kit's settings poll every second; the Application Health probe says every 5 s.
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 10, upgrade_policy=dict(ROLLING))
        await kit.clock.sleep(60)
        # A warm-up that is no multiple of the probe's interval: probing every 5 s would see each
        # batch healthy 2.5 s late.
        await kit.publish("1.0.1", reimageSeconds=60, warmupSeconds=32.5)
        run = await kit.until_done("web")
        assert run.state == "Completed" and run.batch_count == 5
        makespan = (run.ended_at - run.started_at).total_seconds()
        bound = 5 * (60 + 32.5)
        assert bound <= makespan <= bound + 5 * 0.2, makespan  # at most a fifth of a second late per batch


async def test_a_batch_larger_than_32_is_reimaged_all_at_once_on_the_sim_driver(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.booted_rolling("web", 200, 50)
        await kit.publish("1.0.1", reimageSeconds=60)
        run = await kit.until_done("web")
        assert run.state == "Completed" and run.batch_count == 2
        # Two batches of 100, each one reimage long: no batch was cut into waves of 32.
        assert (run.ended_at - run.started_at).total_seconds() < 2 * 60 + 5
