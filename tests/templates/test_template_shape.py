"""The template as a whole: required members, unknown members refused, every expression checked up front."""

from __future__ import annotations

from typing import Any

import pytest

from tests.templates.helpers import SCHEMA, planned, refused, resource, template


@pytest.mark.parametrize(("broken", "target", "words"), [
    ({"$schema": None}, "$schema", "'$schema' as a string"),
    ({"contentVersion": 1}, "contentVersion", "'contentVersion' as a string"),
    ({"contentVersion": "1.0"}, "contentVersion", "content version '1.0' is not valid"),
    ({"resources": {}}, "resources", "'resources' as an array"),
    ({"variables": []}, "variables", "must be an object"),
    ({"resourcez": []}, "resourcez", "Could not find member 'resourcez' on object of type 'Template'"),
    ({"languageVersion": "2.0"}, "languageVersion", "not supported"),
    ({"functions": [{"namespace": "x", "members": {}}]}, "functions", "not supported"),
])
def test_a_malformed_template_is_refused(broken: dict[str, Any], target: str, words: str) -> None:
    body = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [], **broken}
    error = refused({key: value for key, value in body.items() if value is not None})
    assert (error.code, error.target) == ("InvalidTemplate", target)
    assert words in error.message


def test_optional_sections_may_be_absent_or_empty() -> None:
    assert planned(template([], parameters={}, variables={}, outputs={}, functions=[], metadata={"a": 1},
                            apiProfile="2018-03-01-hybrid")).resources == []


def test_an_unknown_function_is_refused_even_in_a_resource_that_would_deploy_last() -> None:
    error = refused(template([resource("a"), resource("b", dependsOn=["a"], properties={
        "deep": [{"x": "[resourceGroup().id]"}, {"y": "[nosuch(1)]"}]})]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[1].properties.deep[1].y")
    assert "The template function 'nosuch' is not valid." in error.message


def test_an_expression_error_in_a_conditioned_out_resource_is_still_found() -> None:
    error = refused(template([resource("a", condition=False, properties={"x": "[concat('a',]"})]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[0].properties.x")


def test_comments_and_metadata_are_not_evaluated() -> None:
    plan = planned(template([resource("a", comments="[not an expression", metadata={"d": "[nosuch()]"})],
                            parameters={"p": {"type": "string", "defaultValue": "x",
                                              "metadata": {"description": "[nosuch()]"}}}))
    assert plan.resources[0].name == "a"


def test_prepare_does_not_depend_on_the_callers_dict_staying_the_same() -> None:
    body = template([resource("a", properties={"v": "[parameters('p')]"})], parameters={"p": {"type": "string"}})
    plan = planned(body, {"p": {"value": "one"}})
    body["resources"][0]["properties"]["v"] = "changed"
    assert plan.body(plan.resources[0], lambda *a: {}) == {"properties": {"v": "one"}}
