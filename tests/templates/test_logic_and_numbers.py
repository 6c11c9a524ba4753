"""Logic, comparison, arithmetic and conversion functions, each as ARM evaluates it."""

from __future__ import annotations

import pytest

from tests.templates.helpers import evaluate, evaluation_error


@pytest.mark.parametrize(("expression", "expected"), [
    ("[if(true(), 'yes', 'no')]", "yes"),
    ("[if(equals(1, 2), 'yes', 'no')]", "no"),
    ("[equals(createObject('a', createArray(1)), createObject('a', createArray(1)))]", True),
    ("[equals(1, '1')]", False),
    ("[equals(true(), 1)]", False),
    ("[equals('a', 'A')]", False),
    ("[not(false())]", True),
    ("[and(true(), true(), false())]", False),
    ("[or(false(), true())]", True),
    ("[greater(2, 1)]", True),
    ("[greaterOrEquals(2, 2)]", True),
    ("[less('a', 'B')]", True),  # invariant culture: letters compare ignoring case first
    ("[less('a', 'A')]", True),  # ...then lowercase sorts first
    ("[lessOrEquals(3, 2)]", False),
    ("[add(2, 3)]", 5),
    ("[sub(2, 3)]", -1),
    ("[mul(-4, 3)]", -12),
    ("[div(7, 2)]", 3),
    ("[div(-7, 2)]", -3),  # truncates toward zero, as C# does
    ("[mod(7, 3)]", 1),
    ("[mod(-7, 3)]", -1),  # takes the dividend's sign, as C# does
    ("[min(3, 1, 2)]", 1),
    ("[max(createArray(3, 9, 2))]", 9),
    ("[range(5, 3)]", [5, 6, 7]),
    ("[range(0, 0)]", []),
    ("[int('1023')]", 1023),
    ("[int(' -4 ')]", -4),
    ("[int(12)]", 12),
    ("[string(12)]", "12"),
    ("[string(true())]", "True"),
    ("[string(createObject('a', createArray(1, 'b')))]", '{"a":[1,"b"]}'),
    ("[string(null())]", ""),
    ("[bool('TRUE')]", True),
    ("[bool('false')]", False),
    ("[bool(0)]", False),
    ("[bool(1)]", True),
    ("[null()]", None),
    ("[true()]", True),
])
def test_logic_or_number_function(expression: str, expected: object) -> None:
    assert evaluate(expression) == expected


def test_if_evaluates_only_the_branch_it_takes() -> None:
    assert evaluate("[if(false(), createObject().missing, 'safe')]") == "safe"
    assert evaluate("[if(true(), 'safe', div(1, 0))]") == "safe"


@pytest.mark.parametrize(("expression", "words"), [
    ("[div(1, 0)]", "the divisor must not be zero"),
    ("[mod(1, 0)]", "the divisor must not be zero"),
    ("[add(9223372036854775807, 1)]", "overflows a 64-bit integer"),
    ("[int('1.5')]", "cannot be converted to an integer"),
    ("[int('1_000')]", "cannot be converted to an integer"),
    ("[bool('yes')]", "cannot be converted to a boolean"),
    ("[not('true')]", "expects its parameter to be a boolean"),
    ("[and(true(), 1)]", "expects its second parameter to be a boolean"),
    ("[if('true', 1, 2)]", "expects its first parameter to be a boolean"),
    ("[greater(1, 'a')]", "two integers or two strings"),
    ("[range(0, 10001)]", "the count must be between 0 and 10000"),
    ("[add('1', 2)]", "expects its first parameter to be an integer"),
])
def test_bad_arguments_are_invalid_templates_naming_the_function(expression: str, words: str) -> None:
    error = evaluation_error(expression)
    assert error.code == "InvalidTemplate"
    assert words in error.message
