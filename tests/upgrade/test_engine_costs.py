"""The engine's work grows with what changes, not with what exists.

On a driver that reports its machines' changes (the sim), an instance that changes nothing is
neither probed nor looked at; a batch's intents and outcomes are written a batch at a time; and a
run waiting on its batch does not read the whole scale set each time it looks. These are what let
one server upgrade a million simulated instances (bench/scale.py); here they are counted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from scaleset.drivers.sim import SimDriver
from scaleset.store.database import Database
from scaleset.store.tables import upgrade_members
from scaleset.upgrade.planner import Progress
from tests.upgrade.engine_kit import SUB, engine



class CountingSim(SimDriver):
    probes = 0
    statuses = 0
    batches: list[int] = []  # the size of each reimage_many call

    async def reimage_many(self, specs: Any, **kwargs: Any) -> Any:
        self.batches.append(len(specs))
        return await super().reimage_many(specs, **kwargs)

    def answer_now(self, key: str, spec: Any, clock: Any) -> Any:  # every probe of the simulator's is answered here
        self.probes += 1
        return super().answer_now(key, spec, clock)

    async def status(self, key: str) -> Any:
        self.statuses += 1
        return await super().status(key)


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement sent meanwhile, through SQLAlchemy or straight on the database driver
    (`Database.fetch`); executemany counts once."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    fetch = db.fetch

    def fetch_noted(*reads: tuple[sa.Select[Any], dict[str, Any]]) -> list[list[tuple[Any, ...]]]:
        for statement, values in reads:
            seen.append(" ".join(db.sql(statement, values).split()))
        return fetch(*reads)

    sa.event.listen(db.engine, "before_cursor_execute", note)
    db.fetch = fetch_noted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
        del db.fetch


async def test_an_idle_healthy_instance_on_the_sim_is_neither_probed_nor_looked_at_until_it_changes(tmp_path: Path) -> None:
    async with engine(tmp_path, driver_class=CountingSim) as kit:
        await kit.publish("1.0.0", warmupSeconds=10)
        await kit.scale_set("web", 5)
        await kit.clock.sleep(60)
        _, rows, _ = kit.plane.instances.list(SUB, "rg", "web")
        key = rows[0].scale_set_key
        assert set(kit.plane.health.healthy(key).values()) == {True}
        probes, statuses = kit.driver.probes, kit.driver.statuses
        await kit.clock.sleep(600)
        # Probed every 5 s and looked at every 5 s, that would be 600 probes and 600 looks.
        assert (kit.driver.probes, kit.driver.statuses) == (probes, statuses)

        # A change is seen when probing every 5 s would have seen it, and no later.
        kit.driver.inject(rows[0].machine_key, healthy=False)
        injected = kit.clock.monotonic()
        while kit.plane.health.healthy(key)[rows[0].instance_id] is not False:
            await kit.clock.sleep(0.25)
        assert kit.clock.monotonic() - injected <= 5 + 1  # the interval, and one tick of the watch
        assert kit.driver.probes <= probes + 2


async def upgrade_of_50(tmp_path: Path) -> tuple[Any, list[str]]:
    """An upgrade of 50 instances in 5 batches: its run, and every SQL statement sent meanwhile."""
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.booted_rolling("web", 50, 20)
        with statements(kit.plane.ctx.db) as seen:
            await kit.publish("1.0.1", reimageSeconds=60, warmupSeconds=30)
            await kit.clock.sleep(5 * 95)
        run, _ = kit.latest("web")
        assert set(kit.versions("web")) == {"1.0.1"}
        return run, seen


async def test_the_health_watch_is_told_of_a_batch_s_reimages_and_how_they_ended_and_reads_none_of_it(tmp_path: Path) -> None:
    # The run tells the watch of the intents it wrote (HealthMonitor.intended) and the outcomes'
    # writer what the instances are now (HealthMonitor.told): the watch read each batch's
    # instances when their reimages began and again when they ended, 10 reads for 5 batches.
    run, seen = await upgrade_of_50(tmp_path)
    assert run.state == "Completed" and run.batch_count == 5
    watch_reads = [s for s in seen if "instances.power_state" in s and "instance_id IN" in s]
    assert watch_reads == []


async def test_an_upgrade_writes_each_batch_s_intents_and_outcomes_a_batch_at_a_time(tmp_path: Path) -> None:
    run, seen = await upgrade_of_50(tmp_path)
    assert run.state == "Completed" and run.batch_count == 5
    updates = [s for s in seen if s.startswith("UPDATE instances")]
    # One by one, it was three per instance (its intent, its extensions, its outcome): 150.
    assert len(updates) <= 5 * 3, updates


async def test_a_run_waiting_on_its_batch_does_not_read_the_whole_scale_set_each_time_it_looks(tmp_path: Path) -> None:
    run, seen = await upgrade_of_50(tmp_path)
    assert run.state == "Completed"
    # A read of every instance of the scale set, by anyone: the runner, the health watch, the
    # reconciler. Looking at the whole set each time anything changed, it was 1,280.
    whole = [s for s in seen if "FROM instances" in s and "instance_id IN" not in s
             and "machine_key IN" not in s and "count(" not in s and "WHERE" in s]
    assert len(whole) <= 5 * 10, len(whole)


async def test_a_change_reported_while_a_batch_warms_up_is_seen_at_once(tmp_path: Path) -> None:
    # The sim vouches that a warming app answers unhealthy until its warm-up ends, so the watch does
    # not probe it meanwhile; a change the sim reports (here the app made healthy early) is probed at once.
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.booted_rolling("web", 5, 100)
        await kit.publish("1.0.1", reimageSeconds=60, warmupSeconds=3000)
        await kit.clock.sleep(63.3)  # reimaged, warming up (between two of its 5-second probes)
        run, _ = kit.latest("web")
        assert run.phase == "health"
        _, rows, _ = kit.plane.instances.list(SUB, "rg", "web")
        for row in rows:
            kit.driver.inject(row.machine_key, healthy=True)
        await kit.clock.sleep(1)
        run, _ = kit.latest("web")
        assert run.state == "Completed", (run.state, run.phase)


async def test_a_batch_judged_by_power_and_extension_states_moves_on_as_soon_as_they_say_healthy(tmp_path: Path) -> None:
    # No health probe: an instance is healthy when running with its extensions provisioned. That
    # verdict comes from reading the store, and must wake the run as a probe's verdict does: a
    # run sleeps until told, and would otherwise wait out the whole health wait for each batch.
    async with engine(tmp_path, health_wait=600.0, upgrade_poll=5.0) as kit:
        await kit.publish("1.0.0")
        await kit.scale_set("web", 5, automatic=False, health=False)  # as `az vmss create` leaves it
        await kit.clock.sleep(60)
        await kit.publish("1.0.1", reimageSeconds=60)
        kit.plane.upgrades.start(SUB, "rg", "web")
        run = await kit.until_done("web", limit=3600)
        assert run.state == "Completed" and run.batch_count == 5
        assert (run.ended_at - run.started_at).total_seconds() < 5 * (60 + 10)


async def test_a_run_reads_its_scale_set_whole_once_then_its_batches_and_the_database_s_sums(tmp_path: Path) -> None:
    # It read the whole set, members and all, for each batch's judgement and the first choice (6
    # reads for 5 batches); it keeps what it read (known_sets) and checks it against two sums.
    run, seen = await upgrade_of_50(tmp_path)
    assert run.state == "Completed" and run.batch_count == 5
    whole = [s for s in seen if "LEFT OUTER JOIN upgrade_members" in s]
    assert len(whole) == 1, whole
    tallies = [s for s in seen if "sum(upgrade_members.instance_id)" in s]
    assert len(tallies) == 5, tallies  # a judgement each


async def test_a_run_reads_its_set_whole_again_when_its_members_changed_under_it(tmp_path: Path) -> None:
    # Another writer (a replica that held the scale set meanwhile, say) settles a member the run
    # kept as pending: the members' tally disagrees, so the run reads its set again and leaves it be.
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.booted_rolling("web", 10, 20)
        with statements(kit.plane.ctx.db) as seen:
            await kit.publish("1.0.1", reimageSeconds=60, warmupSeconds=30)
            await kit.until_batch("web", 1)
            run, _ = kit.latest("web")
            untouched = max(set(range(10)) - set(run.batch))
            with kit.plane.ctx.db.transaction() as conn:
                conn.execute(upgrade_members.update().where(upgrade_members.c.run_id == run.id,
                                                            upgrade_members.c.instance_id == untouched)
                             .values(progress=str(Progress.SKIPPED)))
            run = await kit.until_done("web")
        assert run.state == "Completed"
        assert kit.versions("web").count("1.0.0") == 1  # the one settled elsewhere, not reimaged
        assert len([s for s in seen if "LEFT OUTER JOIN upgrade_members" in s]) == 2


async def test_a_batch_s_reimages_are_one_call_to_the_driver(tmp_path: Path) -> None:
    # A task and a driver call each, a fifth of a million instances in flight cost ~4 KB apiece.
    CountingSim.batches = []
    async with engine(tmp_path, driver_class=CountingSim) as kit:
        await kit.publish("1.0.0")
        await kit.booted_rolling("web", 50, 20)
        await kit.publish("1.0.1", reimageSeconds=60, warmupSeconds=30)
        run = await kit.until_done("web", limit=3600)
        assert run.state == "Completed" and set(kit.versions("web")) == {"1.0.1"}
        assert kit.driver.batches == [10] * 5


async def test_the_simulator_s_machines_answer_their_probes_without_a_task_each(tmp_path: Path) -> None:
    # A task per probe (a million instances, each probed as it settles) was 7% of the CPU of
    # bench/scale.py; a machine of the simulator's answers at once, so the watch waits on nothing.
    async with engine(tmp_path, driver_class=CountingSim) as kit:
        await kit.publish("1.0.0")
        await kit.booted_rolling("web", 50, 20)
        loop, created = asyncio.get_running_loop(), Counter[str]()

        def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            created[coro.__qualname__] += 1
            return asyncio.Task(coro, loop=loop, **kwargs)

        probes = kit.driver.probes
        loop.set_task_factory(counting)
        try:
            await kit.publish("1.0.1", reimageSeconds=60, warmupSeconds=30)
            run = await kit.until_done("web", limit=3600)
        finally:
            loop.set_task_factory(None)
        assert run.state == "Completed" and set(kit.versions("web")) == {"1.0.1"}
        assert kit.driver.probes - probes >= 2 * 50  # each reimaged instance probed warming, then healthy
        assert not {name for name in created if name.startswith("HealthMonitor.")}, created


async def test_a_run_looks_at_its_batch_when_it_comes_back_and_when_it_turns_healthy(tmp_path: Path) -> None:
    # A batch warming up answers unhealthy first: that does not move a run waiting on it, so it
    # does not wake it either (it was three looks a batch).
    run, seen = await upgrade_of_50(tmp_path)
    assert run.state == "Completed" and run.batch_count == 5
    looks = [s for s in seen if "instances.last_error" in s and "instance_id IN" in s and "FROM instances" in s]
    assert len(looks) <= 5 * 2, len(looks)


async def test_what_the_driver_reports_of_a_machine_under_an_action_is_not_looked_at(tmp_path: Path) -> None:
    # A reimage's machine changes as it goes (stopping, starting): the action's own doing, and its
    # outcome writes how it left the machine. Observation read each batch once more after its
    # outcome (5 reads); now only a machine reported changed after its outcome took its states.
    run, seen = await upgrade_of_50(tmp_path)
    assert run.state == "Completed" and run.batch_count == 5
    observed = [s for s in seen if "FROM instances WHERE instances.machine_key IN" in s]
    assert observed == []


async def test_a_machine_changed_after_its_action_s_outcome_took_its_states_is_looked_at(tmp_path: Path) -> None:
    async with engine(tmp_path) as kit:
        await kit.publish("1.0.0")
        await kit.booted_rolling("web", 5, 20)
        _, rows, _ = kit.plane.instances.list(SUB, "rg", "web")
        machine = rows[0].machine_key
        reconciler = kit.plane.reconciler
        # As the outcome is made: the machine is still the action's, its states just taken.
        reconciler._flying.add(machine)
        reconciler._ended.add(machine)
        await kit.driver.stop(machine)  # reported while in flight, after its states were taken
        assert (await kit.plane.ctx.driver.status(machine)).power_state.value == "stopped"
        reconciler._done([], [machine])
        await kit.clock.sleep(10)  # the next observation
        _, rows, _ = kit.plane.instances.list(SUB, "rg", "web")
        assert rows[0].power_state == "stopped"
