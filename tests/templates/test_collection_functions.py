"""Array and object functions, each as ARM evaluates it."""

from __future__ import annotations

import pytest

from tests.templates.helpers import evaluate, evaluation_error


@pytest.mark.parametrize(("expression", "expected"), [
    ("[length(createArray(1, 2, 3))]", 3),
    ("[length('abcd')]", 4),
    ("[length(createObject('a', 1))]", 1),
    ("[length(null())]", 0),
    ("[empty(createArray())]", True),
    ("[empty('')]", True),
    ("[empty(createObject('a', 1))]", False),
    ("[empty(null())]", True),
    ("[contains(createArray(1, 'two'), 'two')]", True),
    ("[contains(createArray(1), '1')]", False),
    ("[contains(createObject('Key', 1), 'KEY')]", True),  # object keys: case-insensitive
    ("[contains('Hello', 'ell')]", True),
    ("[contains('Hello', 'ELL')]", False),  # substrings: case-sensitive
    ("[first(createArray(5, 6))]", 5),
    ("[last(createArray(5, 6))]", 6),
    ("[first('abc')]", "a"),
    ("[last('abc')]", "c"),
    ("[first(createArray())]", None),
    ("[take(createArray(1, 2, 3), 2)]", [1, 2]),
    ("[take('abc', 5)]", "abc"),
    ("[skip(createArray(1, 2, 3), 2)]", [3]),
    ("[skip('abc', -1)]", "abc"),
    ("[union(createArray(1, 2), createArray(2, 3))]", [1, 2, 3]),
    ("[union(createObject('a', 1, 'n', createObject('x', 1)), createObject('b', 2, 'n', createObject('y', 2)))]",
     {"a": 1, "n": {"x": 1, "y": 2}, "b": 2}),
    ("[union(createObject('a', 1), createObject('A', 2))]", {"A": 2}),
    ("[intersection(createArray(1, 2, 3), createArray(3, 2, 9))]", [2, 3]),
    ("[intersection(createObject('a', 1, 'b', 2), createObject('a', 1, 'b', 3))]", {"a": 1}),
    ("[createArray()]", []),
    ("[createArray('a', createObject('b', 1))]", ["a", {"b": 1}]),
    ("[createObject('a', 1, 'b', createArray(true()))]", {"a": 1, "b": [True]}),
    ("[array('x')]", ["x"]),
    ("[array(createArray('x'))]", ["x"]),
    ("[coalesce(null(), null(), 'c', 'd')]", "c"),
    ("[coalesce(null())]", None),
    ("[items(createObject('b', 2, 'A', 1))]", [{"key": "A", "value": 1}, {"key": "b", "value": 2}]),
    ("[join(createArray('a', 'b'), '-')]", "a-b"),
    ("[json('[1, {\"a\": null}]')]", [1, {"a": None}]),
])
def test_collection_function(expression: str, expected: object) -> None:
    assert evaluate(expression) == expected


def test_union_refuses_mixed_kinds() -> None:
    assert evaluation_error("[union(createArray(1), createObject())]").code == "InvalidTemplate"


def test_create_object_refuses_duplicate_and_odd_arguments() -> None:
    assert "given more than once" in evaluation_error("[createObject('a', 1, 'a', 2)]").message
    assert "even number" in evaluation_error("[createObject('a', 1, 'b')]").message


def test_length_refuses_an_integer() -> None:
    error = evaluation_error("[length(5)]")
    assert error.code == "InvalidTemplate" and "'length'" in error.message


def test_json_refuses_invalid_text() -> None:
    assert "is not valid JSON" in evaluation_error("[json('{oops')]").message
