"""osRollingUpgradeDeferral: a platform run holds each batch until its instances are approved."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaleset.service.errors import ArmError
from tests.upgrade.engine_kit import SUB, engine

DEFERRED = {"mode": "Manual", "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True, "osRollingUpgradeDeferral": True}}


async def test_a_deferred_batch_waits_for_approval_and_then_upgrades(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 10, upgrade_policy=dict(DEFERRED))
        await kit.publish("1.0.1")
        await kit.clock.sleep(3600)  # an hour of waiting changes nothing without an approval
        run, counts = kit.latest("web")
        assert run.phase == "approval" and run.batch == [0, 1]
        assert kit.versions("web") == ["1.0.0"] * 10
        assert counts["inProgressInstanceCount"] == 2
        _, _, _, awaiting = kit.plane.upgrades.latest(SUB, "rg", "web")
        assert awaiting == [0, 1]

        kit.plane.upgrades.approve(SUB, "rg", "web", ["0"])
        await kit.clock.sleep(600)
        assert kit.versions("web") == ["1.0.0"] * 10  # half a batch approved is not enough
        kit.plane.upgrades.approve(SUB, "rg", "web", ["1"])
        await kit.until_batch("web", 2)
        assert sorted(kit.versions("web")) == ["1.0.0"] * 8 + ["1.0.1"] * 2

        kit.plane.upgrades.approve(SUB, "rg", "web", None)  # the rest, at once
        run = await kit.until_done("web")
        assert run.state == "Completed" and kit.versions("web") == ["1.0.1"] * 10


async def test_cancelling_an_unapproved_batch_touches_nothing(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 5, upgrade_policy=dict(DEFERRED))
        await kit.publish("1.0.1")
        while kit.latest("web")[0].phase != "approval":
            await kit.clock.sleep(1)
        kit.plane.upgrades.cancel(SUB, "rg", "web")
        run = await kit.until_done("web")
        assert run.state == "Cancelled"
        _, counts = kit.latest("web")
        assert counts["pendingInstanceCount"] == 5 and counts["inProgressInstanceCount"] == 0
        assert kit.versions("web") == ["1.0.0"] * 5


async def test_a_user_started_run_is_not_deferred(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 5, upgrade_policy=dict(DEFERRED))
        kit.plane.scale_sets.patch(SUB, "rg", "web", {"properties": {"upgradePolicy": {
            "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": False}}}})
        await kit.publish("1.0.1")
        kit.plane.upgrades.start(SUB, "rg", "web")
        run = await kit.until_done("web")
        assert run.state == "Completed"


async def test_approving_without_a_run_or_for_a_stranger_is_refused(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 5, upgrade_policy=dict(DEFERRED))
        with pytest.raises(ArmError) as none:
            kit.plane.upgrades.approve(SUB, "rg", "web", None)
        assert none.value.status == 409
        await kit.publish("1.0.1")
        with pytest.raises(ArmError) as stranger:
            kit.plane.upgrades.approve(SUB, "rg", "web", ["99"])
        assert stranger.value.status == 400 and stranger.value.target == "instanceIds"
