"""The store under test, on SQLite and on PostgreSQL.

`database` is an empty, unmigrated `Database`: a fresh SQLite file, or a fresh PostgreSQL database
made for the one test and dropped after it, so tests never see each other's rows. PostgreSQL runs
only when SCALESET_TEST_DB names a server whose role may create databases, e.g.
postgresql+psycopg://scaleset:scaleset@127.0.0.1:5432/scaleset_test
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from scaleset.store.database import Database, normalize_url, sqlite_url

ENV = "SCALESET_TEST_DB"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = Database(sqlite_url(tmp_path / "scaleset.db"))
        try:
            yield db
        finally:
            db.close()
        return
    with _fresh_postgres_database() as url:
        db = Database(url)
        try:
            yield db
        finally:
            db.close()


class _fresh_postgres_database:  # noqa: N801 - used as a context manager
    """CREATE DATABASE on entry, DROP DATABASE on exit, on the server SCALESET_TEST_DB names."""

    def __enter__(self) -> str:
        given = os.environ.get(ENV)
        if not given:
            pytest.skip(f"PostgreSQL store tests need {ENV}=postgresql+psycopg://user:password@host:port/db "
                        "(a role that may create databases)")
        base = sa.engine.make_url(normalize_url(given))
        if not base.drivername.startswith("postgresql"):
            pytest.skip(f"{ENV} names a {base.drivername} database, not PostgreSQL")
        self.admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        self.name = f"scaleset_test_{uuid.uuid4().hex[:16]}"
        try:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        except sa.exc.OperationalError as error:
            self.admin.dispose()
            pytest.fail(f"{ENV} is set but PostgreSQL is not reachable: {error}")
        return base.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *_exc: object) -> None:
        try:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            self.admin.dispose()
