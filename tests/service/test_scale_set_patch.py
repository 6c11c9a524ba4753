"""PATCH of a scale set changes its model only when the model changes."""

from __future__ import annotations

from pathlib import Path

from tests.upgrade.engine_kit import SUB, engine


async def test_a_tags_only_patch_keeps_the_model_and_every_instance_on_the_latest_model(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 2, automatic=False, health=False)
        before = kit.plane.scale_sets.get(SUB, "rg", "web").model_version
        kit.plane.scale_sets.patch(SUB, "rg", "web", {"tags": {"team": "web"}})
        after = kit.plane.scale_sets.get(SUB, "rg", "web")
        assert after.body["tags"] == {"team": "web"}
        assert after.model_version == before
        _, rows, _ = kit.plane.instances.list(SUB, "rg", "web")
        assert [row.model_version for row in rows] == [before, before]
