"""Rendering results as az does: `json` (everything), `table` and `tsv` (chosen columns).

Each command declares its columns next to itself; a command without columns gets az's fallback:
every top-level scalar field.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

FORMATS = ("json", "table", "tsv", "none")  # none: print nothing, as az -o none


@dataclass(frozen=True)
class Column:
    """A table/tsv column: its header and where its value comes from.

    `source` is a dotted path into the row (`properties.upgradePolicy.mode`, `zones.0`) or a
    function of the row, for values that need computing (a resource group parsed from an id).
    """

    header: str
    source: str | Callable[[Any], Any]

    def value(self, row: Any) -> Any:
        if callable(self.source):
            return self.source(row)
        return lookup(row, self.source)


def render(
    data: Any,
    output: str,
    *,
    columns: Sequence[Column] | None = None,
    rows: Callable[[Any], list[Any]] | None = None,
) -> str | None:
    """The text to print for `data`, or None when there is nothing to print.

    An empty list prints `[]` as json but nothing at all as a table or tsv, as az does.

    `rows` turns the data into table rows when they are not the data itself (an instance view's
    statuses, say); by default a list is its own rows and anything else is one row.
    """
    if data is None or output == "none":
        return None
    if output == "json":
        return render_json(data)
    table_rows = rows(data) if rows else (list(data) if isinstance(data, list) else [data])
    if not table_rows:
        return None  # az prints no header for an empty table
    table_columns = list(columns) if columns else default_columns(table_rows)
    if output == "table":
        return render_table(table_rows, table_columns)
    if output == "tsv":
        return render_tsv(table_rows, table_columns)
    raise ValueError(f"unknown output format {output!r}; expected one of {', '.join(FORMATS)}")


def render_json(data: Any) -> str:
    # Sorted keys and two-space indent: the exact shape of az's default output.
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


def render_table(rows: Sequence[Any], columns: Sequence[Column]) -> str:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style=None)
    for column in columns:
        table.add_column(column.header, no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(cell_text(column.value(row)) for column in columns))
    # A wide off-screen console: never truncate or wrap a cell; the terminal wraps if it must.
    buffer = io.StringIO()
    Console(file=buffer, width=10_000, color_system=None, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).strip("\n")


def render_tsv(rows: Sequence[Any], columns: Sequence[Column]) -> str:
    # No header line: az's tsv is meant for `read` and `cut` in scripts.
    return "\n".join(
        "\t".join(cell_text(column.value(row)) for column in columns) for row in rows
    )


def default_columns(rows: Sequence[Any]) -> list[Column]:
    headers: dict[str, None] = {}
    for row in rows:
        if isinstance(row, Mapping):
            for key, value in row.items():
                if not isinstance(value, (Mapping, list)):
                    headers.setdefault(key)
    if not headers and rows and not isinstance(rows[0], Mapping):
        return [Column("Result", lambda row: row)]
    return [Column(_title(key), key) for key in headers]


def lookup(row: Any, path: str) -> Any:
    """The value at a dotted path, None when any step is missing. Digits index lists."""
    current = row
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            current = current[index] if -len(current) <= index < len(current) else None
        else:
            return None
    return current


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list) and all(not isinstance(item, (Mapping, list)) for item in value):
        return ",".join(cell_text(item) for item in value)
    if isinstance(value, (Mapping, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value).replace("\t", " ").replace("\n", " ")


def _title(key: str) -> str:
    return key[:1].upper() + key[1:]
