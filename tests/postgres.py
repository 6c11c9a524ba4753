"""A fresh PostgreSQL database per test, on the server SCALESET_TEST_DB names (skipped without it)."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import sqlalchemy as sa

from scaleset.store.database import normalize_url

ENV = "SCALESET_TEST_DB"


class fresh_postgres_database:  # noqa: N801 - used as a context manager
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
            for attempt in range(50):
                try:
                    with self.admin.connect() as conn:
                        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
                    return
                except sa.exc.DBAPIError:
                    # FORCE may end only our own role's sessions: an autovacuum worker analysing the
                    # test's fresh tables belongs to the server's, and fails the drop until it is done.
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
        finally:
            self.admin.dispose()
