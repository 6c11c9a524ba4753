"""The HA tests use the store tests' `database` fixture: each runs on SQLite and on PostgreSQL."""

from tests.store.conftest import database  # noqa: F401 - a fixture, found by name
