"""The database: engine, schema migration and one transaction per change.

SQLite is the default (a file in the data dir, in WAL mode so readers never wait on the writer);
any SQLAlchemy URL works, PostgreSQL (psycopg 3) being the one for several replicas.

`fetch` is the hot reads' way in: SELECTs compiled once and run straight on a DBAPI connection. SQLAlchemy's per-call work (statement construction, cache keys, execution context,
events) cost ~110 us of the ~125 us one indexed lookup took through `reading()`; this takes ~15 us.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")


_IN_LIST = 500  # values in one IN (...): well under SQLite's cap on a statement's binds


def chunks(values: Sequence[T], size: int = _IN_LIST) -> Iterator[Sequence[T]]:
    """`values` in slices small enough for one `IN (...)` each (SQLite caps a statement's binds)."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def sqlite_url(path: Path) -> str:
    return f"sqlite+pysqlite:///{path}"


def normalize_url(url: str) -> str:
    """Let users write postgresql:// and get the psycopg 3 driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = _make_engine(self.url)
        # fetch() on SQLite keeps a connection per thread: checking one out of the pool and back in
        # cost as much as the read. Not on a server database: there the pool's pre-ping finds a
        # connection the server dropped, which a held one would meet as an error.
        self._hold = self.engine.dialect.name == "sqlite"
        self._held = threading.local()
        self._all_held: list[Any] = []

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        with self.engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One change, all or nothing."""
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """A read-only look; on SQLite it never waits for a writer (WAL snapshot)."""
        with self.engine.connect().execution_options(scaleset_reading=True) as connection:
            yield connection

    def fetch(self, *reads: tuple[sa.Select[Any], dict[str, Any]]) -> list[list[tuple[Any, ...]]]:
        """The rows of each (statement, bind values) as the driver returns them (`prepared(s).typed`
        turns one into a row with the columns' Python types), all in one read transaction as in
        `reading()`. Statements are compiled on first use and kept: pass module-level ones.

        A list bound to an expanding bind (`sa.bindparam(name, expanding=True)`) fills its
        `IN (...)`; a longer one than an IN list may hold is read in slices, their rows together."""
        statements = sum(len(_parts(values)) for _, values in reads)
        raw = getattr(self._held, "raw", None) if self._hold else None
        if raw is None:
            raw = self.engine.raw_connection()
            if self._hold:
                self._held.raw = raw
                self._all_held.append(raw)
        # SQLite's driver is in autocommit here: one statement is a snapshot of its own, several
        # need a transaction. Other drivers begin one at the first statement.
        begin = self._hold and statements > 1
        try:
            cursor = raw.cursor()
            if begin:
                cursor.execute("BEGIN")
            results = [[row for _ in _run(cursor, self.engine.dialect, statement, values) for row in cursor.fetchall()]
                       for statement, values in reads]
            cursor.close()
            if begin or not self._hold:
                raw.rollback()  # nothing was written: end the read transaction
        except BaseException:
            if self._hold:
                self._held.raw = None
                self._all_held.remove(raw)
            raw.invalidate()  # in an unknown state: not to be used again
            raise
        finally:
            if not self._hold:
                raw.close()
        return results

    def rows(self, *reads: tuple[sa.Select[Any], dict[str, Any]]) -> list[list[Any]]:
        """As `fetch`, each row typed: a named tuple of the columns' Python values."""
        found = self.fetch(*reads)
        return [self.prepared(statement, _widths(_parts(values)[0])).typed_all(rows)
                for (statement, values), rows in zip(reads, found, strict=True)]

    def sql(self, statement: sa.Select[Any], values: dict[str, Any]) -> str:
        """The SQL `fetch` sends for this read (for its first slice)."""
        return self.prepared(statement, _widths(_parts(values)[0])).sql

    def prepared(self, statement: sa.Select[Any], widths: tuple[tuple[str, int], ...] = ()) -> Prepared:
        """The statement compiled; with `widths`, each expanding bind named there given that many places."""
        return _compiled(self.engine.dialect, statement, widths)

    def close(self) -> None:
        for raw in self._all_held:
            raw.close()
        self._all_held.clear()
        self._held = threading.local()
        self.engine.dispose()


@dataclass(frozen=True)
class Prepared:
    """A SELECT compiled for one dialect: its SQL, how to pass its bind values, and how to turn a
    driver row into one with the columns' Python types (what SQLAlchemy's result processing does)."""

    sql: str
    order: tuple[str, ...] | None  # bind names in order for a positional driver; None: by name
    defaults: dict[str, Any]  # the statement's own bind values (literals in it become binds)
    processors: tuple[Callable[[Any], Any] | None, ...]
    row: type
    plain: bool  # no column has a processor: the driver's values are the Python ones already
    widths: tuple[tuple[str, int], ...] = ()  # expanding binds, and the places each has

    @classmethod
    def compile(cls, statement: sa.Select[Any], dialect: sa.Dialect, widths: tuple[tuple[str, int], ...] = ()) -> Prepared:
        compiled = statement.compile(dialect=dialect)
        defaults = {name: value for name, value in compiled.params.items() if not compiled.binds[name].required}
        sql, order = str(compiled), tuple(compiled.positiontup or ()) if compiled.positional else None
        if widths:
            # The IN lists written out, one place per value: `name_1`, `name_2`, ... as binds.
            expanded = compiled.construct_expanded_state({**compiled.params, **{n: [0] * w for n, w in widths}})
            sql, order = expanded.statement, tuple(expanded.positiontup) if compiled.positional else None
        columns = list(statement.selected_columns) if isinstance(statement, sa.Select) else []
        processors = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        return cls(sql, order, defaults, processors, namedtuple("Row", [c.key for c in columns]),  # type: ignore[misc]
                   not any(processors), widths)

    def bind(self, values: dict[str, Any]) -> Any:
        """The driver's parameters. Values go as given, without SQLAlchemy's bind processing: pass
        strings and integers only."""
        values = {**self.defaults, **values}
        for name, width in self.widths:
            given = values.pop(name)
            # Places beyond the values repeat the last: `x IN (1, 2, 2, 2)` is `x IN (1, 2)`.
            values.update(zip(_places(name, width), itertools.chain(given, itertools.repeat(given[-1] if given else None))))
        return values if self.order is None else tuple(values[name] for name in self.order)

    def typed(self, raw: tuple[Any, ...]) -> Any:
        if self.plain:
            return self.row._make(raw)
        return self.row(*(value if p is None or value is None else p(value)
                          for p, value in zip(self.processors, raw, strict=True)))

    def typed_all(self, raws: list[tuple[Any, ...]]) -> list[Any]:
        """`typed` of each (the runs and the health watch type thousands of rows a read)."""
        if self.plain:
            make = tuple.__new__  # what `_make` does, less a call and a length check per row
            return [make(self.row, raw) for raw in raws]
        return list(map(self.typed, raws))


# Straight on the database driver within a transaction SQLAlchemy holds: for the writes made for
# each batch of thousands of scale sets, where SQLAlchemy's statement machinery cost more than the
# write. The same binds as `Database.fetch`; pass module-level statements.

def write(conn: sa.Connection, statement: sa.Executable, values: dict[str, Any]) -> int:
    """Run an UPDATE or DELETE in `conn`'s transaction, an expanding bind's list sliced as
    `Database.fetch` slices it; returns the rows it changed."""
    with closing(conn.connection.cursor()) as cursor:
        return sum(cursor.rowcount for _ in _run(cursor, conn.dialect, statement, values))


def read(conn: sa.Connection, statement: sa.Select[Any], values: dict[str, Any]) -> list[Any]:
    """As `Database.rows` for one read, in `conn`'s transaction: what a write goes by."""
    with closing(conn.connection.cursor()) as cursor:
        return [row for query in _run(cursor, conn.dialect, statement, values) for row in query.typed_all(cursor.fetchall())]


def _run(cursor: Any, dialect: sa.Dialect, statement: sa.Executable, values: dict[str, Any]) -> Iterator[Prepared]:
    """Execute the statement on the driver's cursor, once per slice of its bind values, yielding
    after each (its rows, or its count, are the cursor's then)."""
    for part in _parts(values):
        query = _compiled(dialect, statement, _widths(part))
        cursor.execute(query.sql, query.bind(part))
        yield query


_COMPILED: dict[tuple[Any, ...], Prepared] = {}


def _compiled(dialect: sa.Dialect, statement: sa.Executable, widths: tuple[tuple[str, int], ...]) -> Prepared:
    """The statement compiled for a kind of database and driver (its SQL depends on nothing else),
    kept for good: pass module-level statements."""
    key = (statement, dialect.name, dialect.driver, widths)
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = Prepared.compile(statement, dialect, widths)  # type: ignore[arg-type]
    return found


@functools.cache
def _places(name: str, width: int) -> tuple[str, ...]:
    """The bind names of an expanding bind's places, as SQLAlchemy writes them out."""
    return tuple(f"{name}_{n}" for n in range(1, width + 1))


def _parts(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The bind values of one read as one statement's each: a list longer than `chunks` allows
    in an IN list (SQLite caps a statement's binds) goes in slices; one such list per read."""
    long = [name for name, value in values.items() if isinstance(value, list | tuple) and len(value) > _IN_LIST]
    if not long:
        return [values]
    if len(long) > 1:
        raise ValueError(f"one read can slice one long IN list, not {len(long)}: {', '.join(long)}")
    return [{**values, long[0]: list(part)} for part in chunks(values[long[0]], _IN_LIST)]


def _widths(values: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    """The places each list among the bind values gets: the next power of two, so that a few
    compiled forms serve lists of every length (0 stays 0: SQLAlchemy writes an empty IN)."""
    return tuple(sorted((name, 1 << (len(value) - 1).bit_length() if value else 0)
                        for name, value in values.items() if isinstance(value, list | tuple)))


def _make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take over so writers serialize cleanly
        # (BEGIN IMMEDIATE takes the write lock up front), while readers only take a snapshot.
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_begin(connection: sa.Connection) -> None:
    reading = connection.get_execution_options().get("scaleset_reading", False)
    connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.isolation_level = None  # autocommit at the driver; SQLAlchemy issues BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
