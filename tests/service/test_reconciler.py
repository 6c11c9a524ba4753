"""The reconciler records what the driver really did."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from scaleset.drivers.base import DriverError, PowerState
from scaleset.drivers.sim import SimDriver
from scaleset.store.tables import instances
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


async def test_a_reimage_overtaken_by_a_newer_intent_still_records_the_disk_it_laid(tmp_path: Path) -> None:
    """A stop written while a reimage runs supersedes it; the instance then runs the new image
    all the same, and the store must say so (found by the fault simulation, seed 1281)."""
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 1, automatic=False)
        await kit.publish("2.0.0")  # a reimage takes 60 s on the simulator
        kit.plane.instances.act(SUB, "rg", "web", "reimage", None)
        await kit.clock.sleep(10)
        kit.plane.instances.act(SUB, "rg", "web", "poweroff", None)
        await kit.plane.reconciler.idle()
        _, (row,), _ = kit.plane.instances.list(SUB, "rg", "web")
        assert (await kit.driver.status(row.machine_key)).image_urn.endswith(":2.0.0")
        assert row.image_urn.endswith(":2.0.0")


class _DeletesThenTimesOut(SimDriver):
    async def delete(self, key: str, *, fence: int = 0) -> None:
        await super().delete(key, fence=fence)
        raise DriverError("timed out waiting for the delete to finish")


async def test_a_delete_that_fails_after_the_machine_went_is_done(tmp_path: Path) -> None:
    async with engine(tmp_path, driver_class=_DeletesThenTimesOut) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 2, automatic=False)
        kit.plane.scale_sets.patch(SUB, "rg", "web", {"sku": {"capacity": 1}})
        await kit.plane.reconciler.idle()
        _, rows, _ = kit.plane.instances.list(SUB, "rg", "web")
        assert [row.instance_id for row in rows] == [0]


async def test_an_instance_whose_create_was_never_recorded_learns_its_image_from_the_machine(tmp_path: Path) -> None:
    """A crash cut the create short, and a newer intent (a start) replaced it before it was done
    again: the machine has an image the store never heard of (fault simulation, seed 9530)."""
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 1, automatic=False)
        with kit.plane.ctx.db.transaction() as conn:
            conn.execute(instances.update().values(image_urn=None))
        kit.plane.instances.act(SUB, "rg", "web", "restart", None)
        await kit.plane.reconciler.idle()
        _, (row,), _ = kit.plane.instances.list(SUB, "rg", "web")
        assert row.image_urn is not None and row.image_urn.endswith(":1.0.0")


async def test_a_look_at_the_machines_writes_only_the_instances_whose_states_changed(tmp_path: Path, store: str | None) -> None:
    """The states stored are compared with the driver's as they would be stored, not decoded: an
    instance whose power and extensions' states are as stored costs a read, and no write."""
    async with engine(tmp_path, store=store) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 3, automatic=False)
        await kit.clock.sleep(120)  # up, with the health extension's state recorded
        await kit.plane.reconciler.observe()
        _, rows, _ = kit.plane.instances.list(SUB, "rg", "web")
        assert all(row.extensions and row.extensions[0]["name"] == "HealthExtension" for row in rows)
        writes: list[str] = []

        def count(_conn, _cursor, statement: str, *_args: object) -> None:  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith("UPDATE INSTANCES"):
                writes.append(statement)

        sa.event.listen(kit.plane.ctx.db.engine, "before_cursor_execute", count)
        for row in rows:
            kit.driver.inject(row.machine_key, healthy=True)  # the driver reports a change: nothing the store keeps
        await kit.plane.reconciler.observe()
        assert writes == []
        kit.driver.inject(rows[1].machine_key, power_state=PowerState.STOPPED)
        await kit.plane.reconciler.observe()
        assert len(writes) == 1
        _, after, _ = kit.plane.instances.list(SUB, "rg", "web")
        assert [row.power_state for row in after] == ["running", "stopped", "running"]
