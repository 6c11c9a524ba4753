"""Migrations build exactly the schema the code declares, and running them again changes nothing."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from scaleset.store.database import MIGRATIONS, Database
from scaleset.store.tables import metadata, subscriptions


def head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()  # type: ignore[return-value]


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema(db: Database) -> dict[str, object]:
    """Everything the inspector sees, comparable across runs."""
    inspector = sa.inspect(db.engine)
    found: dict[str, object] = {}
    for table in sorted(inspector.get_table_names()):
        found[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"]) for f in inspector.get_foreign_keys(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        }
    return found


def test_an_empty_database_has_no_revision(database: Database) -> None:
    assert current_revision(database) is None
    assert sa.inspect(database.engine).get_table_names() == []


def test_migrate_builds_exactly_the_declared_schema(database: Database) -> None:
    database.migrate()
    with database.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
    assert set(sa.inspect(database.engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}


def test_migrate_leaves_the_database_at_head(database: Database) -> None:
    database.migrate()
    assert current_revision(database) == head()


def test_migrating_twice_is_a_no_op(database: Database) -> None:
    database.migrate()
    first = schema(database)
    with database.transaction() as conn:
        conn.execute(subscriptions.insert().values(id="kept", display_name="kept", created_at=datetime.now(timezone.utc)))
    database.migrate()
    assert schema(database) == first
    assert current_revision(database) == head()
    with database.reading() as conn:
        assert conn.execute(sa.select(subscriptions.c.id)).scalars().all() == ["kept"]


def test_a_second_database_object_on_the_same_store_migrates_as_a_no_op(database: Database) -> None:
    """Several replicas start against one store: each runs migrate()."""
    database.migrate()
    other = Database(database.engine.url.render_as_string(hide_password=False))
    try:
        other.migrate()
        assert current_revision(other) == head()
    finally:
        other.close()
