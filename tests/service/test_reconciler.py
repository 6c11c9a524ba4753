"""The reconciler records what the driver really did."""

from __future__ import annotations

from pathlib import Path

from tests.upgrade.engine_kit import SUB, engine


async def test_a_reimage_that_fails_before_the_new_disk_leaves_the_instance_on_its_old_image(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 1, automatic=False)
        await kit.publish("2.0.0")
        _, (row,), _ = kit.plane.instances.list(SUB, "rg", "web")
        kit.driver.inject(row.machine_key, fail_next="reimage")
        kit.plane.instances.act(SUB, "rg", "web", "reimage", None)
        await kit.plane.reconciler.idle()
        _, (after,), _ = kit.plane.instances.list(SUB, "rg", "web")
        assert after.provisioning_state == "Failed"
        assert after.image_urn.endswith(":1.0.0")  # the disk it really has, not the one intended
        assert "simulated failure" in after.last_error
