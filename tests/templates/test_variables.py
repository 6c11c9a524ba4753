"""Variables: any JSON with expressions, using each other in any order, copy loops; cycles refused."""

from __future__ import annotations

from tests.templates.helpers import evaluate, evaluation_error, refused, resource, template


def test_variables_may_use_variables_defined_after_them() -> None:
    assert evaluate("[variables('first')]", variables={
        "first": "[concat(variables('second').nested, '-1')]",
        "second": {"nested": "[toUpper(variables('third'))]"},
        "third": "x",
    }) == "X-1"


def test_a_variable_holds_any_json_with_expressions_inside() -> None:
    assert evaluate("[variables('config')]", variables={
        "config": {"list": [1, "[add(1, 1)]", {"deep": "[[literal]"}], "flag": True}}) == \
        {"list": [1, 2, {"deep": "[literal]"}], "flag": True}


def test_the_variables_copy_section_defines_array_variables() -> None:
    assert evaluate("[variables('disks')]", variables={
        "copy": [{"name": "disks", "count": 3, "input": {"lun": "[copyIndex('disks')]",
                                                          "name": "[concat('d', copyIndex('disks', 1))]"}}]}) == \
        [{"lun": 0, "name": "d1"}, {"lun": 1, "name": "d2"}, {"lun": 2, "name": "d3"}]


def test_a_copy_array_inside_a_variable_makes_an_array_property() -> None:
    assert evaluate("[variables('profile')]", variables={
        "profile": {"size": "S", "copy": [{"name": "ports", "count": 2, "input": "[add(8080, copyIndex('ports'))]"}]}}) \
        == {"size": "S", "ports": [8080, 8081]}


def test_variables_that_use_each_other_in_a_circle_are_refused() -> None:
    error = evaluation_error("[variables('a')]", variables={"a": "[variables('b')]", "b": "[variables('a')]"})
    assert error.code == "InvalidTemplate" and error.target == "variables.a"
    assert "The template variable 'a' has a circular reference: a -> b -> a." in error.message


def test_a_cycle_is_refused_even_in_a_variable_no_resource_uses() -> None:
    error = refused(template([resource("a")], variables={"loop": "[variables('loop')]"}))
    assert error.code == "InvalidTemplate" and "circular reference" in error.message


def test_an_error_inside_a_variable_is_placed_in_the_variable() -> None:
    error = refused(template([resource("a")], variables={"bad": {"x": ["[div(1, 0)]"]}}))
    assert error.code == "InvalidTemplate" and error.target == "variables.bad.x[0]"


def test_a_variable_defined_twice_in_different_case_is_refused() -> None:
    error = refused(template([], variables={"name": 1, "NAME": 2}))
    assert error.code == "InvalidTemplate" and error.target == "variables.NAME"
