"""Runs begun in the same instant (virtual time; a coarse clock) keep their order in the history."""

from __future__ import annotations

from pathlib import Path

from scaleset.upgrade import runs
from scaleset.upgrade.planner import Policy
from tests.upgrade.engine_kit import SUB, engine


async def test_of_two_runs_begun_in_one_instant_the_later_is_listed_first(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 1, automatic=False)
        key = kit.plane.scale_sets.get(SUB, "rg", "web").key
        now = kit.clock.now()
        with kit.plane.ctx.db.transaction() as conn:
            made = []
            for _ in range(3):
                made.append(runs.create(conn, scale_set_key=key, started_by="User", target_urn="x", force=False,
                                        policy=Policy(), op_id=None, now=now))
                runs.update(conn, made[-1], state="Cancelled")
        with kit.plane.ctx.db.reading() as conn:
            listed = runs.history(conn, key)
        assert [run.id for run in listed] == made[::-1]
        # by their start alone, whatever order the database returns ties in (PostgreSQL's is its own)
        assert len({run.started_at for run in listed}) == 3
