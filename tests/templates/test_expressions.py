"""The expression language: literals and their escapes, nesting, property and index access, syntax errors."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scaleset.templates.expressions import (FunctionCall, IndexAccess, IntegerLiteral, PropertyAccess,
                                            StringLiteral, is_expression, literal_text, parse_expression)
from tests.templates.helpers import evaluate, evaluation_error, quote


def test_a_call_with_nested_calls_property_and_index_access_parses_into_a_tree() -> None:
    node = parse_expression("[concat(parameters('a'), 'b')[0].name]")
    assert node == PropertyAccess(
        IndexAccess(FunctionCall("concat", (FunctionCall("parameters", (StringLiteral("a"),)), StringLiteral("b"))),
                    IntegerLiteral(0)), "name")


def test_whitespace_between_tokens_and_negative_integers() -> None:
    assert parse_expression("[ add( 1 , -2 ) ]") == FunctionCall("add", (IntegerLiteral(1), IntegerLiteral(-2)))
    assert evaluate("[ add( 1 , -2 ) ]") == -1


def test_doubled_quotes_escape_a_quote_in_a_string_literal() -> None:
    assert evaluate("[concat('it''s', '''')]") == "it's'"


def test_only_bracketed_strings_are_expressions_and_a_double_bracket_escapes_one() -> None:
    assert evaluate("plain [text]") == "plain [text]"
    assert evaluate("[[not an expression]") == "[not an expression]"
    assert evaluate("[[no closing bracket") == "[[no closing bracket"
    assert not is_expression("[[x]") and is_expression("[x()]") and not is_expression("[")


def test_property_access_chains_and_indexes_by_string_or_integer() -> None:
    assert evaluate("[createObject('a', createArray(createObject('b-c', 7)))['a'][0]['b-c']]") == 7
    assert evaluate("[json('{\"x\": {\"y\": [1, 2]}}').x.y[1]]") == 2


def test_property_names_are_case_insensitive() -> None:
    assert evaluate("[resourceGroup().LOCATION]") == "westeurope"


def test_function_names_are_case_insensitive() -> None:
    assert evaluate("[CONCAT(ToLower('AB'), toupper('c'))]") == "abC"


def test_a_missing_property_names_the_ones_available() -> None:
    error = evaluation_error("[createObject('a', 1, 'b', 2).c]")
    assert error.code == "InvalidTemplateDeployment"
    assert "The language expression property 'c' doesn't exist, available properties are 'a, b'." in error.message
    assert error.target == "resources[0].properties.value"


def test_an_index_out_of_bounds_is_refused() -> None:
    error = evaluation_error("[createArray(1, 2)[2]]")
    assert error.code == "InvalidTemplateDeployment" and "array index '2' is out of bounds" in error.message


def test_syntax_errors_are_invalid_templates_at_the_string_that_holds_them() -> None:
    for text in ("[concat('a']", "[concat('a)]", "[concat]", "[]", "['a' 'b']", "[add(1, 2) + 3]", "[true]"):
        error = evaluation_error({"nested": [text]})
        assert error.code == "InvalidTemplate", text
        assert error.target == "resources[0].properties.value.nested[0]", text
        assert "Unable to parse language expression" in error.message, text


def test_an_unknown_function_is_named_with_arms_words() -> None:
    error = evaluation_error("[concat(foo('x'))]")
    assert error.code == "InvalidTemplate"
    assert error.message == ("Deployment template validation failed: 'The template function 'foo' is not valid. "
                             "Please see https://aka.ms/arm-functions for usage details.'")


def test_a_wrong_argument_count_names_the_function() -> None:
    error = evaluation_error("[add(1)]")
    assert error.code == "InvalidTemplate"
    assert "'add': function requires exactly '2' argument(s) while '1' were provided" in error.message


def test_a_wrong_argument_type_names_the_function() -> None:
    error = evaluation_error("[toLower(1)]")
    assert error.code == "InvalidTemplate"
    assert "The template language function 'toLower' expects its parameter to be a string. The provided value " \
           "is of type 'Integer'." in error.message


@given(st.text())
def test_any_text_survives_quoting_as_a_string_literal(text: str) -> None:
    assert parse_expression(f"[concat({quote(text)})]") == FunctionCall("concat", (StringLiteral(text),))


@given(st.text())
def test_any_text_escaped_with_a_double_bracket_reads_back_as_itself(text: str) -> None:
    written = "[[" + text + "]"
    assert not is_expression(written)
    assert literal_text(written) == "[" + text + "]"
