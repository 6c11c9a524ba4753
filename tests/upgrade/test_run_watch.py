"""A run's scale set is watched from the moment the run begins.

A Manual scale set without automatic OS upgrades is not watched until a run of it begins, and a
run's first batch waits on its instances' verdicts: the watch must take the scale set up at once,
and must not lose the run's start when it happens to read the store for another scale set first
(which left `az vmss rolling-upgrade start` waiting forever while other runs began alongside).
"""

from __future__ import annotations

from pathlib import Path

from scaleset.service.scale_sets import key_of
from scaleset.upgrade import runs
from scaleset.upgrade.planner import Policy
from tests.upgrade.engine_kit import SUB, engine


async def test_a_run_started_on_a_manual_scale_set_launches_its_first_batch_at_once(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        for name in ("one", "two", "three"):
            await kit.scale_set(name, 3, automatic=False, health=False)  # as `az vmss create` leaves it
        await kit.clock.sleep(60)
        await kit.publish("1.0.1", reimageSeconds=60)
        for name in ("one", "two", "three"):
            kit.plane.upgrades.start(SUB, "rg", name)
            # Not at the watch's next reread of the store (every 10 s): within its next look.
            await kit.clock.sleep(0.5)
            run, _ = kit.latest(name)
            assert run.batch_count == 1, name
            await kit.clock.sleep(3.3)  # the starts land at different points of the reread's cycle


async def test_a_run_begun_while_the_watch_reads_another_scale_set_is_taken_up_at_the_next_reread(tmp_path: Path) -> None:
    # The run is begun the way another replica begins one: a row in the store, no nudge here, and
    # (leases renewed every 200 s) no lease round to take it up meanwhile.
    async with engine(tmp_path, lease_period=600.0) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("busy", 2)  # automatic upgrades: watched all along
        await kit.scale_set("idle", 3, automatic=False, health=False)
        await kit.clock.sleep(250)  # past the lease round that took the new scale sets' leases
        idle = key_of(SUB, "rg", "idle")
        assert kit.plane.health.healthy(idle) == {}
        with kit.plane.ctx.db.transaction() as conn:
            runs.create(conn, scale_set_key=idle, started_by="User", target_urn="Canonical:UbuntuServer:18.04-LTS:1.0.0",
                        force=True, policy=Policy(), op_id=None, now=kit.clock.now())
        kit.plane.health.nudge(key_of(SUB, "rg", "busy"))  # a read of another scale set comes first
        await kit.clock.sleep(0.5)
        await kit.clock.sleep(10)  # the watch's reread of the whole store
        assert kit.plane.health.healthy(idle) == {0: True, 1: True, 2: True}
