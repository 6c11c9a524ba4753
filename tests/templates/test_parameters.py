"""Parameters: definitions checked, values typed, coerced from text, constrained; defaults evaluated."""

from __future__ import annotations

from typing import Any

import pytest

from tests.templates.helpers import planned, refused, template, values


def with_parameters(**definitions: dict[str, Any]) -> dict[str, Any]:
    return template(parameters=definitions)


@pytest.mark.parametrize(("declared", "given", "expected"), [
    ("string", "x", "x"),
    ("String", "x", "x"),
    ("int", 5, 5),
    ("INT", "1023", 1023),  # az sends --parameters x=1023 as text
    ("int", " -7 ", -7),
    ("bool", True, True),
    ("bool", "True", True),
    ("bool", "false", False),
    ("object", {"a": 1}, {"a": 1}),
    ("array", [1, "b"], [1, "b"]),
])
def test_values_are_typed_and_text_coerced_as_arm_does(declared: str, given: Any, expected: Any) -> None:
    plan = planned(with_parameters(p={"type": declared}), values(p=given))
    assert plan.parameters["p"]["value"] == expected


@pytest.mark.parametrize(("declared", "given", "actual"), [
    ("string", 5, "Integer"),
    ("int", "five", "String"),
    ("int", True, "Boolean"),
    ("int", 1.5, "Float"),
    ("bool", "yes", "String"),
    ("object", [1], "Array"),
    ("array", {"a": 1}, "Object"),
    ("securestring", 1, "Integer"),
])
def test_a_value_of_the_wrong_type_is_refused_at_the_parameter(declared: str, given: Any, actual: str) -> None:
    error = refused(with_parameters(p={"type": declared}), values(p=given))
    assert error.code == "InvalidTemplateDeployment" and error.target == "parameters.p"
    assert "Template parameter JToken type is not valid." in error.message and f"Actual '{actual}'" in error.message


def test_defaults_apply_and_may_be_expressions_over_other_parameters_and_the_group() -> None:
    plan = planned(with_parameters(
        name={"type": "string", "defaultValue": "[concat(parameters('prefix'), '-', resourceGroup().location)]"},
        prefix={"type": "string", "defaultValue": "app"},
        count={"type": "int", "defaultValue": 2}))
    assert plan.parameters["name"] == {"type": "String", "value": "app-westeurope"}
    assert plan.parameters["count"] == {"type": "Int", "value": 2}


def test_a_given_value_wins_over_the_default_which_is_then_not_evaluated() -> None:
    plan = planned(with_parameters(p={"type": "string", "defaultValue": "[deployment().properties.templateLink.uri]"}),
                   values(p="given"))
    assert plan.parameters["p"]["value"] == "given"


def test_a_null_value_counts_as_not_given() -> None:
    plan = planned(with_parameters(p={"type": "int", "defaultValue": 3}), {"p": {"value": None}})
    assert plan.parameters["p"]["value"] == 3


def test_secure_values_are_left_out_of_the_reported_parameters() -> None:
    plan = planned(with_parameters(pw={"type": "securestring"}, obj={"type": "secureObject"}),
                   values(pw="s3cret", obj={"k": "v"}))
    assert plan.parameters == {"pw": {"type": "SecureString"}, "obj": {"type": "SecureObject"}}


def test_parameter_names_match_case_insensitively() -> None:
    assert planned(with_parameters(adminUsername={"type": "string"}), values(ADMINUSERNAME="me")) \
        .parameters["adminUsername"]["value"] == "me"


def test_a_missing_value_without_default_is_named() -> None:
    error = refused(with_parameters(adminPassword={"type": "securestring"}))
    assert error.code == "InvalidTemplateDeployment" and error.target == "parameters.adminPassword"
    assert "The value for the template parameter 'adminPassword' at 'parameters.adminPassword' is not provided." \
        in error.message


def test_a_value_for_an_undeclared_parameter_is_an_invalid_template() -> None:
    error = refused(with_parameters(a={"type": "string"}), values(a="x", foo=1))
    assert error.code == "InvalidTemplate" and error.target == "parameters.foo"
    assert "The template parameters 'foo' in the parameters file are not valid; they are not present in the " \
           "original template and can therefore not be provided at deployment time." in error.message


def test_a_key_vault_reference_is_not_supported() -> None:
    error = refused(with_parameters(pw={"type": "securestring"}),
                    {"pw": {"reference": {"keyVault": {"id": "/x"}, "secretName": "s"}}})
    assert error.code == "InvalidTemplateDeployment" and error.target == "parameters.pw"
    assert "Key Vault reference" in error.message and "not supported" in error.message


def test_a_bare_value_without_the_value_wrapper_is_refused() -> None:
    error = refused(with_parameters(p={"type": "string"}), {"p": "x"})
    assert error.code == "InvalidTemplateDeployment" and error.target == "parameters.p"
    assert "'value'" in error.message


@pytest.mark.parametrize(("definition", "given", "words"), [
    ({"type": "string", "allowedValues": ["a", "b"]}, "c", "The value 'c' is not part of the allowed value(s): 'a,b'."),
    ({"type": "array", "allowedValues": ["a", "b"]}, ["a", "z"], "The value 'z' is not part of the allowed value(s)"),
    ({"type": "int", "minValue": 1}, 0, "The value '0' is less than the minimum value of '1'."),
    ({"type": "int", "maxValue": 100}, "101", "The value '101' is greater than the maximum value of '100'."),
    ({"type": "string", "minLength": 3}, "ab", "Length of the value should be greater than or equal to '3'."),
    ({"type": "array", "maxLength": 1}, [1, 2], "Length of the value should be less than or equal to '1'."),
])
def test_values_outside_the_constraints_are_refused(definition: dict[str, Any], given: Any, words: str) -> None:
    error = refused(with_parameters(p=definition), values(p=given))
    assert error.code == "InvalidTemplateDeployment" and error.target == "parameters.p"
    assert "The provided value for the template parameter 'p' is not valid." in error.message and words in error.message


def test_a_refused_secure_value_is_not_echoed() -> None:
    error = refused(with_parameters(pw={"type": "securestring", "allowedValues": ["a"]}), values(pw="hunter2"))
    assert "hunter2" not in error.message


def test_defaults_are_checked_against_the_constraints_too() -> None:
    error = refused(with_parameters(size={"type": "string", "defaultValue": "L", "allowedValues": ["S", "M"]}))
    assert error.code == "InvalidTemplateDeployment" and error.target == "parameters.size"


@pytest.mark.parametrize(("definition", "target", "words"), [
    ({"type": "text"}, "parameters.p.type", "has an invalid type 'text'"),
    ({}, "parameters.p.type", "has an invalid type 'None'"),
    ("string", "parameters.p", "must be an object"),
    ({"type": "string", "descripton": "typo"}, "parameters.p.descripton", "Could not find member 'descripton'"),
    ({"type": "string", "allowedValues": "a"}, "parameters.p.allowedValues", "must be an array"),
    ({"type": "int", "minValue": "1"}, "parameters.p.minValue", "must be an integer"),
    ({"type": "int", "minValue": 5, "maxValue": 1}, "parameters.p.minValue", "greater than its maxValue"),
])
def test_bad_definitions_are_invalid_templates(definition: Any, target: str, words: str) -> None:
    error = refused(with_parameters(p=definition), values(p=1))
    assert error.code == "InvalidTemplate" and error.target == target and words in error.message


def test_defaults_that_use_each_other_in_a_circle_are_refused() -> None:
    error = refused(with_parameters(a={"type": "string", "defaultValue": "[parameters('b')]"},
                                    b={"type": "string", "defaultValue": "[parameters('a')]"}))
    assert error.code == "InvalidTemplate" and "circular reference" in error.message and "a -> b -> a" in error.message
