from __future__ import annotations

import json

import pytest

from scaleset.cli.output import Column, cell_text, default_columns, lookup, render

ROWS = [
    {"name": "web", "sku": {"capacity": 3}, "zones": ["1", "2"], "properties": {"ok": True}},
    {"name": "api", "sku": {"capacity": 0}, "zones": None, "properties": {"ok": False}},
]
COLUMNS = (
    Column("Name", "name"),
    Column("Capacity", "sku.capacity"),
    Column("Zones", "zones"),
    Column("Healthy", "properties.ok"),
    Column("Upper", lambda row: row["name"].upper()),
)


def test_json_is_az_shaped_sorted_and_indented() -> None:
    text = render({"b": 1, "a": {"d": 2, "c": "é"}}, "json")
    assert text == '{\n  "a": {\n    "c": "é",\n    "d": 2\n  },\n  "b": 1\n}'
    assert json.loads(text) == {"b": 1, "a": {"d": 2, "c": "é"}}


def test_nothing_is_printed_for_no_result() -> None:
    assert render(None, "json") is None
    assert render(None, "table", columns=COLUMNS) is None


def test_an_empty_list_is_brackets_in_json_and_nothing_in_table_or_tsv() -> None:
    assert render([], "json") == "[]"
    assert render([], "table", columns=COLUMNS) is None
    assert render([], "tsv", columns=COLUMNS) is None


def test_table_has_headers_a_rule_and_one_line_per_row() -> None:
    lines = render(ROWS, "table", columns=COLUMNS).splitlines()
    assert lines[0].split() == ["Name", "Capacity", "Zones", "Healthy", "Upper"]
    assert set(lines[1].replace(" ", "")) == {"─"}
    assert lines[2].split() == ["web", "3", "1,2", "True", "WEB"]
    assert lines[3].split() == ["api", "0", "False", "API"]
    assert len(lines) == 4
    assert all(line == line.rstrip() for line in lines)


def test_table_never_truncates_long_values() -> None:
    long_id = "/subscriptions/" + "x" * 300
    text = render([{"id": long_id}], "table", columns=[Column("Id", "id")])
    assert long_id in text


def test_tsv_has_no_header_and_tab_separated_cells() -> None:
    assert render(ROWS, "tsv", columns=COLUMNS) == "web\t3\t1,2\tTrue\tWEB\napi\t0\t\tFalse\tAPI"


def test_a_single_object_is_one_row() -> None:
    assert render(ROWS[0], "tsv", columns=COLUMNS[:2]) == "web\t3"


def test_rows_function_picks_the_rows_out_of_the_data() -> None:
    view = {"summary": [{"code": "PowerState/running", "count": 2}]}
    text = render(view, "tsv", columns=[Column("Code", "code"), Column("Count", "count")],
                  rows=lambda data: data["summary"])
    assert text == "PowerState/running\t2"


def test_default_columns_are_the_top_level_scalars() -> None:
    columns = default_columns([{"name": "a", "nested": {"x": 1}, "count": 2}, {"extra": True}])
    assert [column.header for column in columns] == ["Name", "Count", "Extra"]
    assert render([{"name": "a", "nested": {}}], "tsv") == "a"


def test_scalar_lists_get_a_result_column() -> None:
    assert render(["a", "b"], "tsv") == "a\nb"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "True"),
        (0, "0"),
        (["1", 2], "1,2"),
        ({"b": 1, "a": [1]}, '{"a":[1],"b":1}'),
        ("tab\there\nnewline", "tab here newline"),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


def test_lookup_follows_dots_and_list_digits_and_forgives_missing_steps() -> None:
    row = {"a": {"b": [{"c": 1}]}}
    assert lookup(row, "a.b.0.c") == 1
    assert lookup(row, "a.b.-1.c") == 1
    assert lookup(row, "a.b.5.c") is None
    assert lookup(row, "a.x.y") is None
    assert lookup(row, "a.b.c") is None


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(ValueError):
        render({}, "yaml")
