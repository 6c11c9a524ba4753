"""maxSurge: each batch's replacements are created first; the old instances go once the new are healthy."""

from __future__ import annotations

from pathlib import Path

from tests.upgrade.engine_kit import SUB, engine

SURGE = {"mode": "Manual",
         "rollingUpgradePolicy": {"maxSurge": True},
         "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": True, "useRollingUpgradePolicy": True}}


def _ids(kit, name: str) -> list[int]:  # type: ignore[no-untyped-def]
    _, rows, _ = kit.plane.instances.list(SUB, "rg", name)
    return [row.instance_id for row in rows if row.pending_action != "delete"]


async def test_surge_replaces_every_instance_with_new_ones_never_dropping_below_capacity(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 10, upgrade_policy=dict(SURGE))
        before = _ids(kit, "web")
        await kit.publish("1.0.1")
        fewest, most = 10, 10
        while True:
            run, _ = kit.latest("web")
            _, rows, _ = kit.plane.instances.list(SUB, "rg", "web")
            serving = [r for r in rows if r.pending_action is None and r.image_urn is not None]
            fewest, most = min(fewest, len(serving)), max(most, len(rows))
            if run.state != "RollingForward":
                break
            await kit.clock.sleep(1)
        assert run.state == "Completed", run.error
        await kit.plane.reconciler.idle()
        after = _ids(kit, "web")
        assert len(after) == 10 and not set(after) & set(before)  # new instances, new ids
        assert kit.versions("web") == ["1.0.1"] * 10
        assert fewest >= 10  # the old kept serving until their replacements were in
        assert most <= 12  # never more than one batch (20% of 10) over capacity
        assert kit.plane.scale_sets.get(SUB, "rg", "web").body["sku"]["capacity"] == 10
        _, counts = kit.latest("web")
        assert counts["successfulInstanceCount"] == 10


async def test_surge_with_a_broken_version_deletes_the_new_instances_and_keeps_the_old(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 10, upgrade_policy=dict(SURGE))
        before = _ids(kit, "web")
        seqs = {row.instance_id: row.action_seq for row in kit.plane.instances.list(SUB, "rg", "web")[1]}
        await kit.publish("2.0.0", healthy=False)
        run = await kit.until_done("web")
        await kit.plane.reconciler.idle()
        assert run.state == "Faulted"
        assert run.error["code"] == "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
        assert run.rollback_info["successfullyRolledbackInstanceCount"] == 2
        assert _ids(kit, "web") == before  # the replacements are gone
        assert kit.versions("web") == ["1.0.0"] * 10
        # the old instances were never touched
        assert {row.instance_id: row.action_seq for row in kit.plane.instances.list(SUB, "rg", "web")[1]} == seqs


async def test_a_patch_during_a_surge_batch_keeps_the_new_instances(tmp_path: Path) -> None:
    """The replacements are the run's, beside the capacity: a PATCH (here of the batch size) must
    not scale them in as if the set had grown (found by the fault simulation, seed 30)."""
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 5, upgrade_policy=dict(SURGE))
        await kit.publish("1.0.1")
        while (run := kit.latest("web")[0]).phase not in ("batch", "health"):
            await kit.clock.sleep(1)
        surge = list(run.batch)
        kit.plane.scale_sets.patch(SUB, "rg", "web", {"properties": {"upgradePolicy": {
            "rollingUpgradePolicy": {"maxSurge": True, "maxBatchInstancePercent": 40}}}})
        _, rows, _ = kit.plane.instances.list(SUB, "rg", "web")
        assert all(row.pending_action != "delete" for row in rows if row.instance_id in surge)
        run = await kit.until_done("web")
        await kit.plane.reconciler.idle()
        assert run.state == "Completed", run.error
        assert kit.versions("web") == ["1.0.1"] * 5
