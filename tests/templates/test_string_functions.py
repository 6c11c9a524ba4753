"""String functions, each as ARM evaluates it."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scaleset.templates.dotnet_format import FormatError, composite_format
from scaleset.templates.hashing import ARM_GUID_NAMESPACE
from tests.templates.helpers import GROUP_ID, evaluate, evaluation_error, quote


@pytest.mark.parametrize(("expression", "expected"), [
    ("[concat('a', 1, true(), null(), 'b')]", "a1Trueb"),  # .NET prints booleans as True/False
    ("[concat(createArray(1, 2), createArray(3))]", [1, 2, 3]),
    ("[toLower('AbC')]", "abc"),
    ("[toUpper('AbC')]", "ABC"),
    ("[trim('  a b \t')]", "a b"),
    ("[replace('a-b-c', '-', '')]", "abc"),
    ("[replace('aAa', 'a', 'x')]", "xAx"),
    ("[split('a,b;c', createArray(',', ';'))]", ["a", "b", "c"]),
    ("[split('a,,b', ',')]", ["a", "", "b"]),
    ("[substring('hello', 1, 3)]", "ell"),
    ("[substring('hello', 2)]", "llo"),
    ("[padLeft(7, 3, '0')]", "007"),
    ("[padLeft('ab', 4)]", "  ab"),
    ("[startsWith('Hello', 'he')]", True),
    ("[endsWith('Hello', 'LO')]", True),
    ("[endsWith('Hello', 'x')]", False),
    ("[indexOf('abcABC', 'B')]", 1),
    ("[lastIndexOf('abcABC', 'b')]", 4),
    ("[indexOf('abc', 'z')]", -1),
    ("[indexOf(createArray('a', 'b'), 'b')]", 1),
    ("[base64('hello')]", "aGVsbG8="),
    ("[base64ToString(base64('héllo'))]", "héllo"),
    ("[base64ToJson(base64('{\"a\": 1}')).a]", 1),
    ("[uri('https://example.com/a/b/', 'c.sh?x=1')]", "https://example.com/a/b/c.sh?x=1"),
    ("[uri('https://example.com/a/b', 'c.sh')]", "https://example.com/a/c.sh"),
    ("[uriComponent('a b/c')]", "a%20b%2Fc"),
    ("[uriComponentToString('a%20b%2Fc')]", "a b/c"),
    ("[format('{0}-{1:D3}-{2}', 'x', 7, true())]", "x-007-True"),
    ("[format('{0,5}|{0,-5}|', 'ab')]", "   ab|ab   |"),
    ("[format('{{{0}}}', 1)]", "{1}"),
    ("[format('{0:N0} {0:X} {0:x4} {0:F1}', 1234567)]", "1,234,567 12D687 12d687 1234567.0"),
    ("[format('{0:000} {0:#,##0}', 1234)]", "1234 1,234"),
    ("[format('{0}', createObject('a', 'b'))]", "{'a':'b'}"),
])
def test_string_function(expression: str, expected: object) -> None:
    assert evaluate(expression) == expected


# Values computed by Azure Resource Manager (and Bicep, which shares its implementation).
@pytest.mark.parametrize(("arguments", "expected"), [
    (["test"], "rbgf3xv4ufgzg"),
    (["hello", "world"], "a7wkljktk6wne"),
    (["abc"], "cgtzqvhu4i23s"),
    (["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg"], "bmg7c6xu4tw46"),
    (["foo", "bar", "baz"], "xzi4ioaxtmth4"),
])
def test_unique_string_is_azures_hash(arguments: list[str], expected: str) -> None:
    assert evaluate(f"[uniqueString({', '.join(quote(a) for a in arguments)})]") == expected


def test_unique_string_of_the_group_id_is_stable_and_13_base32_characters() -> None:
    value = evaluate("[uniqueString(resourceGroup().id)]")
    assert value == evaluate(f"[uniqueString('{GROUP_ID}')]")
    assert len(value) == 13 and set(value) <= set("abcdefghijklmnopqrstuvwxyz234567")


def test_guid_is_a_version_5_uuid_of_the_dash_joined_arguments_in_arms_namespace() -> None:
    value = evaluate("[guid('a', 'b')]")
    assert value == str(uuid.uuid5(ARM_GUID_NAMESPACE, "a-b"))
    assert uuid.UUID(value).version == 5
    assert value != evaluate("[guid('a', 'c')]")


def test_substring_out_of_range_is_refused_with_arms_message() -> None:
    error = evaluation_error("[substring('hello', 3, 5)]")
    assert error.code == "InvalidTemplate"
    assert "The index and length parameters must refer to a location within the string. The index parameter: " \
           "'3', the length parameter: '5', the length of the string parameter: '5'." in error.message


def test_format_with_a_missing_argument_is_refused() -> None:
    error = evaluation_error("[format('{1}', 'a')]")
    assert error.code == "InvalidTemplate" and "'format'" in error.message


def test_concat_refuses_objects_mixed_with_strings() -> None:
    assert evaluation_error("[concat('a', createObject())]").code == "InvalidTemplate"


_format_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))


@given(_format_text)
def test_format_with_doubled_braces_gives_back_the_text(text: str) -> None:
    escaped = text.replace("{", "{{").replace("}", "}}")
    assert composite_format(escaped, []) == text


@given(_format_text, st.integers(min_value=-(2**63), max_value=2**63 - 1), st.integers(min_value=0, max_value=20))
def test_format_places_arguments_and_pads_integers(text: str, number: int, digits: int) -> None:
    assert composite_format("{0}|{1}|{1:D" + str(digits) + "}", [text, number]) == \
        f"{text}|{number}|{'-' if number < 0 else ''}{str(abs(number)).zfill(digits)}"


@given(_format_text, st.integers(min_value=-30, max_value=30))
def test_format_alignment_pads_left_or_right(text: str, width: int) -> None:
    expected = text.rjust(width) if width >= 0 else text.ljust(-width)
    assert composite_format("{0," + str(width) + "}", [text]) == expected


@pytest.mark.parametrize("template", ["{", "}", "{a}", "{0:Q}", "{0"])
def test_malformed_format_strings_are_refused(template: str) -> None:
    with pytest.raises(FormatError):
        composite_format(template, [1])
