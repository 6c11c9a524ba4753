"""The store under test, on SQLite and on PostgreSQL.

`database` is an empty, unmigrated `Database`: a fresh SQLite file, or a fresh PostgreSQL database
made for the one test and dropped after it, so tests never see each other's rows. PostgreSQL runs
only when SCALESET_TEST_DB names a server whose role may create databases, e.g.
postgresql+psycopg://scaleset:scaleset@127.0.0.1:5432/scaleset_test
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scaleset.store.database import Database, sqlite_url
from tests.postgres import fresh_postgres_database

_fresh_postgres_database = fresh_postgres_database  # the name other tests import


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
