"""Functions reading the deployment: resourceGroup(), subscription(), deployment(), resourceId()..., copyIndex(), newGuid()."""

from __future__ import annotations

import uuid

import pytest

from tests.templates.helpers import (GROUP_ID, SCOPE, evaluate, evaluation_error, no_reference, planned, refused,
                                     resource, rid, template, values)

SUBSCRIPTION = SCOPE.subscription_id


def test_resource_group_describes_the_deployment_group() -> None:
    group = evaluate("[resourceGroup()]")
    assert group["id"] == GROUP_ID and group["name"] == "rg1" and group["location"] == "westeurope"
    assert group["type"] == "Microsoft.Resources/resourceGroups"
    assert evaluate("[resourceGroup().properties.provisioningState]") == "Succeeded"


def test_subscription_describes_the_deployment_subscription() -> None:
    assert evaluate("[subscription()]") == {"id": f"/subscriptions/{SUBSCRIPTION}", "subscriptionId": SUBSCRIPTION,
                                            "tenantId": "tenant-1", "displayName": "scaleset"}


def test_deployment_has_a_name_and_no_template_link_for_an_inline_template() -> None:
    assert evaluate("[deployment().name]") == "deploy1"
    assert evaluate("[deployment().properties.template.contentVersion]") == "1.0.0.0"
    error = evaluation_error("[deployment().properties.templateLink.uri]")
    assert error.code == "InvalidTemplateDeployment" and "'templateLink' doesn't exist" in error.message


@pytest.mark.parametrize(("expression", "expected"), [
    ("[resourceId('Microsoft.Network/virtualNetworks', 'vnet1')]", rid("Microsoft.Network/virtualNetworks", "vnet1")),
    ("[resourceId('Microsoft.Network/virtualNetworks/', 'vnet1')]", rid("Microsoft.Network/virtualNetworks", "vnet1")),
    ("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet1', 'sub1')]",
     rid("Microsoft.Network/virtualNetworks/subnets", "vnet1", "sub1")),
    ("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet1/sub1')]",
     rid("Microsoft.Network/virtualNetworks/subnets", "vnet1", "sub1")),
    ("[resourceId('otherRg', 'Microsoft.Network/virtualNetworks', 'v')]",
     f"/subscriptions/{SUBSCRIPTION}/resourceGroups/otherRg/providers/Microsoft.Network/virtualNetworks/v"),
    ("[resourceId('sub2', 'otherRg', 'Microsoft.Network/virtualNetworks', 'v')]",
     "/subscriptions/sub2/resourceGroups/otherRg/providers/Microsoft.Network/virtualNetworks/v"),
    ("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r1')]",
     f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/r1"),
    ("[subscriptionResourceId('sub2', 'Microsoft.Authorization/roleDefinitions', 'r1')]",
     "/subscriptions/sub2/providers/Microsoft.Authorization/roleDefinitions/r1"),
])
def test_resource_id_overloads(expression: str, expected: str) -> None:
    assert evaluate(expression) == expected


@pytest.mark.parametrize(("expression", "words"), [
    ("[resourceId('vnet1')]", "must be resource type including resource provider namespace"),
    ("[resourceId('a', 'b', 'c', 'Microsoft.Network/virtualNetworks', 'v')]", "multi-segmented argument"),
    ("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet1')]", "requires '2' resource name argument(s)"),
])
def test_resource_id_refuses_arguments_that_make_no_id(expression: str, words: str) -> None:
    error = evaluation_error(expression)
    assert error.code == "InvalidTemplate" and "'resourceId'" in error.message and words in error.message


def test_parameters_and_variables_are_found_case_insensitively() -> None:
    assert evaluate("[concat(parameters('NAME'), variables('SUFFIX'))]",
                    parameters={"name": {"type": "string", "defaultValue": "a"}}, variables={"suffix": "b"}) == "ab"


def test_an_unknown_parameter_or_variable_is_an_invalid_template() -> None:
    error = evaluation_error("[parameters('nope')]")
    assert error.code == "InvalidTemplate" and "The template parameter 'nope' is not found." in error.message
    error = evaluation_error("[variables('nope')]")
    assert error.code == "InvalidTemplate" and "The template variable 'nope' is not found." in error.message


def test_copy_index_counts_the_resource_loop_with_an_offset_and_by_name() -> None:
    plan = planned(template([resource("[concat('v', copyIndex(1))]", copy={"name": "vnets", "count": 2},
                                      properties={"i": "[copyIndex()]", "named": "[copyIndex('VNETS', 10)]"})]))
    assert [r.name for r in plan.resources] == ["v1", "v2"]
    assert [plan.body(r, no_reference)["properties"] for r in plan.resources] == [{"i": 0, "named": 10}, {"i": 1, "named": 11}]


def test_copy_index_outside_a_loop_is_not_expected() -> None:
    error = evaluation_error("[copyIndex()]")
    assert error.code == "InvalidTemplate" and "The template function 'copyIndex' is not expected at this location" \
        in error.message
    assert error.target == "resources[0].properties.value"


def test_new_guid_is_allowed_in_a_parameter_default_only() -> None:
    plan = planned(template(parameters={"id": {"type": "string", "defaultValue": "[newGuid()]"}}))
    assert uuid.UUID(plan.parameters["id"]["value"]).version == 4
    error = refused(template([resource("a", properties={"id": "[newGuid()]"})]))
    assert error.code == "InvalidTemplate" and error.target == "resources[0].properties.id"
    assert "The template function 'newGuid' is not expected at this location." in error.message


@pytest.mark.parametrize("function", ["variables('x')", "reference('a')"])
def test_parameter_defaults_cannot_use_variables_or_reference(function: str) -> None:
    error = refused(template([resource("a")], variables={"x": 1},
                             parameters={"p": {"type": "string", "defaultValue": f"[string({function})]"}}),
                    values(p="given"))
    assert error.code == "InvalidTemplate" and error.target == "parameters.p.defaultValue"
    assert "is not expected at this location" in error.message
