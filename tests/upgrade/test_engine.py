"""The upgrade engine end to end on the sim driver and the virtual clock: minutes of waiting, in milliseconds."""

from __future__ import annotations

from pathlib import Path

from tests.upgrade.engine_kit import SUB, engine


async def test_publishing_a_new_version_upgrades_an_automatic_scale_set_by_itself(tmp_path: Path, store: str | None) -> None:
    """On either store: the runner reads its run's row straight on the database driver, typed as
    SQLAlchemy would (times with their zone, JSON decoded)."""
    async with engine(tmp_path, store=store) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 10)
        assert kit.versions("web") == ["1.0.0"] * 10
        await kit.publish("1.0.1")
        run = await kit.until_done("web")
        assert run.state == "Completed", run.error
        assert run.started_by == "Platform"
        assert run.batch_count == 5
        assert kit.versions("web") == ["1.0.1"] * 10


async def test_a_version_that_never_turns_healthy_stops_after_one_batch_and_rolls_it_back(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 10)
        started = kit.clock.monotonic()
        await kit.publish("2.0.0", healthy=False)
        run = await kit.until_done("web")
        assert run.state == "Faulted"
        assert run.error["code"] == "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
        assert run.batch_count == 1
        assert run.rollback_info["successfullyRolledbackInstanceCount"] == 2
        assert run.rollback_info["failedRolledbackInstanceCount"] == 0
        assert kit.versions("web") == ["1.0.0"] * 10  # the batch got its previous image back
        _, counts = kit.latest("web")
        assert counts == {"successfulInstanceCount": 8, "failedInstanceCount": 2, "inProgressInstanceCount": 0,
                          "pendingInstanceCount": 0} or counts["failedInstanceCount"] == 2
        # it waited the full health wait (5 virtual minutes) before judging the batch
        assert kit.clock.monotonic() - started >= 300


async def test_precheck_refuses_to_start_when_too_many_are_unhealthy(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 10)
        _, rows, _ = kit.plane.instances.list(SUB, "rg", "web")
        for row in rows[:3]:
            kit.driver.inject(row.machine_key, healthy=False)
        await kit.clock.sleep(30)  # let the monitor see it
        await kit.publish("1.0.1")
        run = await kit.until_done("web")
        assert run.state == "Faulted"
        assert run.error["code"] == "MaxUnhealthyInstancePercentExceededBeforeRollingUpgrade"
        assert run.batch_count == 0
        assert kit.versions("web") == ["1.0.0"] * 10


async def test_a_manual_start_with_everything_current_completes_at_once_touching_nothing(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 4, automatic=False)
        seqs = [row.action_seq for row in kit.plane.instances.list(SUB, "rg", "web")[1]]
        kit.plane.upgrades.start(SUB, "rg", "web")
        run = await kit.until_done("web", limit=5)
        assert run.state == "Completed" and run.started_by == "User" and run.batch_count == 0
        after = [row.action_seq for row in kit.plane.instances.list(SUB, "rg", "web")[1]]
        assert after == seqs


async def test_force_reimage_reimages_every_instance_in_rolling_batches(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 5, automatic=False)
        seqs = [row.action_seq for row in kit.plane.instances.list(SUB, "rg", "web")[1]]
        kit.plane.upgrades.start(SUB, "rg", "web", force=True)
        run = await kit.until_done("web")
        assert run.state == "Completed"
        assert run.batch_count == 5  # 20% of 5 is one instance a batch
        after = [row.action_seq for row in kit.plane.instances.list(SUB, "rg", "web")[1]]
        assert all(a == s + 1 for a, s in zip(after, seqs, strict=True))


async def test_cancel_lets_the_batch_in_flight_finish_then_stops(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 10)
        await kit.publish("1.0.1")
        await kit.until_batch("web", 1)
        kit.plane.upgrades.cancel(SUB, "rg", "web")
        run = await kit.until_done("web")
        assert run.state == "Cancelled"
        assert run.last_action == "Cancel"
        assert sorted(kit.versions("web")) == ["1.0.0"] * 8 + ["1.0.1"] * 2


async def test_pause_holds_the_run_between_batches_and_resume_continues_it(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 10)
        await kit.publish("1.0.1")
        await kit.until_batch("web", 1)
        kit.plane.upgrades.pause(SUB, "rg", "web")
        await kit.clock.sleep(3600)
        run, _ = kit.latest("web")
        assert run.state == "RollingForward" and run.paused and run.batch_count == 1
        kit.plane.upgrades.resume(SUB, "rg", "web")
        run = await kit.until_done("web")
        assert run.state == "Completed" and run.batch_count == 5


async def test_disabling_automatic_upgrades_cancels_a_platform_run(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 10)
        await kit.publish("1.0.1")
        await kit.until_batch("web", 1)
        kit.plane.scale_sets.patch(SUB, "rg", "web", {"properties": {"upgradePolicy": {
            "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": False}}}})
        run = await kit.until_done("web")
        assert run.state == "Cancelled"
