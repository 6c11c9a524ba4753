"""reference() through the caller's callback, and outputs."""

from __future__ import annotations

import pytest

from scaleset.templates import TemplateError
from tests.templates.helpers import FakeReference, evaluate, no_reference, planned, refused, resource, rid, template

PIP = "Microsoft.Network/publicIPAddresses"
PIP_ID = rid(PIP, "pip1")
DEPLOYED = {PIP_ID: {"id": PIP_ID, "name": "pip1", "properties": {"ipAddress": "10.1.2.3",
                                                                   "dnsSettings": {"fqdn": "a.example"}}}}


def test_reference_by_template_resource_name_uses_its_id_and_api_version() -> None:
    reference = FakeReference(DEPLOYED)
    plan = planned(template([resource("pip1", PIP, apiVersion="2021-02-01"),
                             resource("a", properties={"ip": "[reference('pip1').ipAddress]"})]))
    assert plan.body(plan.resources[1], reference) == {"properties": {"ip": "10.1.2.3"}}
    assert reference.calls == [(PIP_ID, "2021-02-01", False)]


def test_reference_by_id_with_api_version_and_full() -> None:
    reference = FakeReference(DEPLOYED)
    assert evaluate(f"[reference('{PIP_ID}', '2020-01-01', 'Full').name]", reference=reference) == "pip1"
    assert reference.calls == [(PIP_ID, "2020-01-01", True)]


def test_reference_to_a_resource_outside_the_template_passes_no_api_version_when_none_is_given() -> None:
    reference = FakeReference(DEPLOYED)
    assert evaluate(f"[reference(resourceId('{PIP}', 'pip1')).dnsSettings.fqdn]", reference=reference) == "a.example"
    assert reference.calls == [(PIP_ID, None, False)]


def test_the_callers_not_found_error_comes_through_with_the_resource_named() -> None:
    plan = planned(template([resource("a", properties={"x": f"[reference('{rid(PIP, 'gone')}').ipAddress]"})]))
    with pytest.raises(TemplateError) as caught:
        plan.body(plan.resources[0], FakeReference())
    error = caught.value
    assert error.code == "InvalidTemplateDeployment" and error.target == "resources[0].properties.x"
    assert error.message.startswith(f"Unable to process template language expressions for resource "
                                    f"'{rid('Microsoft.Network/virtualNetworks', 'a')}'")


def test_reference_to_an_unknown_bare_name_is_an_invalid_template() -> None:
    error = refused(template([resource("a", properties={"x": "[reference('nothere').x]"})]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[0].properties.x")
    assert "could not find template resource or resource copy with this name" in error.message


def test_reference_cannot_name_a_resource() -> None:
    error = refused(template([resource("pip1", PIP), resource("[reference('pip1').ipAddress]")]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[1].name")


def test_a_body_error_that_needs_no_deployed_resource_is_found_by_prepare() -> None:
    error = refused(template([resource("pip1", PIP), resource("a", properties={
        "ok": "[reference('pip1').ipAddress]", "bad": "[createObject('a', 1).b]"})]))
    assert (error.code, error.target) == ("InvalidTemplateDeployment", "resources[1].properties.bad")


def test_outputs_are_typed_as_arm_returns_them_and_secure_ones_are_left_out() -> None:
    plan = planned(template([resource("pip1", PIP)], parameters={"pw": {"type": "securestring", "defaultValue": "x"}},
                            outputs={
                                "ip": {"type": "string", "value": "[reference('pip1').ipAddress]"},
                                "count": {"type": "INT", "value": "[length(createArray(1, 2))]"},
                                "ok": {"type": "bool", "value": "[true()]"},
                                "obj": {"type": "object", "value": {"a": "[parameters('pw')]"}},
                                "list": {"type": "array", "value": "[createArray(1)]"},
                                "secret": {"type": "securestring", "value": "[parameters('pw')]"},
                                "skipped": {"type": "string", "condition": "[false()]", "value": "x"},
                                "loop": {"type": "array", "copy": {"count": 2, "input": "[copyIndex()]"}},
                            }))
    assert plan.outputs(FakeReference(DEPLOYED)) == {
        "ip": {"type": "String", "value": "10.1.2.3"},
        "count": {"type": "Int", "value": 2},
        "ok": {"type": "Bool", "value": True},
        "obj": {"type": "Object", "value": {"a": "x"}},
        "list": {"type": "Array", "value": [1]},
        "loop": {"type": "Array", "value": [0, 1]},
    }


def test_an_output_of_the_wrong_type_is_refused() -> None:
    error = refused(template([], outputs={"n": {"type": "int", "value": "five"}}))
    assert (error.code, error.target) == ("InvalidTemplate", "outputs.n.value")
    assert "Expected 'Integer'. Actual 'String'." in error.message


@pytest.mark.parametrize(("output", "target"), [
    ({"type": "text", "value": 1}, "outputs.o.type"),
    ({"type": "string"}, "outputs.o"),
    ({"type": "string", "value": "a", "valu": "typo"}, "outputs.o.valu"),
])
def test_bad_output_definitions_are_refused(output: dict, target: str) -> None:
    error = refused(template([], outputs={"o": output}))
    assert (error.code, error.target) == ("InvalidTemplate", target)


def test_outputs_with_a_syntax_error_are_refused_before_deployment() -> None:
    error = refused(template([], outputs={"o": {"type": "string", "value": "[concat('a']"}}))
    assert (error.code, error.target) == ("InvalidTemplate", "outputs.o.value")


def test_body_and_outputs_can_be_evaluated_again_with_fresh_reference_answers() -> None:
    plan = planned(template([resource("pip1", PIP)], outputs={"ip": {"type": "string",
                                                                     "value": "[reference('pip1').ipAddress]"}}))
    first = plan.outputs(FakeReference(DEPLOYED))["ip"]["value"]
    changed = {PIP_ID: {"properties": {"ipAddress": "10.9.9.9"}}}
    assert (first, plan.outputs(FakeReference(changed))["ip"]["value"]) == ("10.1.2.3", "10.9.9.9")
    assert plan.body(plan.resources[0], no_reference) == {}
