"""Functions that read the deployment: parameters(), variables(), copyIndex(), resourceGroup(),
subscription(), deployment()."""

from __future__ import annotations

from collections.abc import Mapping

from scaleset.templates.context import EvaluationContext
from scaleset.templates.function_registry import (FunctionSpec, function_error, int_argument, not_expected_here,
                                                  string_argument)
from scaleset.templates.json_values import Json
from scaleset.templates.scope import Scope


def deployment_object(scope: Scope, template: Mapping[str, Json]) -> dict[str, Json]:
    """What deployment() returns for a template sent inline: there is no properties.templateLink."""
    return {
        "name": scope.deployment_name,
        "properties": {
            "template": {key: template[key] for key in ("$schema", "contentVersion") if key in template},
            "mode": "Incremental",
            "provisioningState": "Accepted",
        },
    }


def _parameters(ctx: EvaluationContext, args: list[Json]) -> Json:
    return ctx.parameter(string_argument("parameters", args))


def _variables(ctx: EvaluationContext, args: list[Json]) -> Json:
    if ctx.variable is None:
        raise not_expected_here("variables")
    return ctx.variable(string_argument("variables", args), ctx)


def _copy_index(ctx: EvaluationContext, args: list[Json]) -> int:
    loop: str | None = None
    offset = 0
    if args and isinstance(args[0], str):
        loop = args[0]
        if len(args) == 2:
            offset = int_argument("copyIndex", args, 1)
    elif args:
        if len(args) == 2:
            raise function_error("copyIndex", "the first of two parameters must be the copy loop name.")
        offset = int_argument("copyIndex", args, 0)
    index = ctx.copy.index(loop)
    if index is None:
        where = f"in a copy loop named '{loop}'" if loop else "in a resource, property, variable or output with copy"
        raise not_expected_here("copyIndex", f"The function can only be used {where}.")
    return index + offset


def _resource_group(ctx: EvaluationContext, args: list[Json]) -> dict[str, Json]:
    scope = ctx.scope
    return {
        "id": scope.group_id,
        "name": scope.group_name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": scope.group_location,
        "tags": {},
        "properties": {"provisioningState": "Succeeded"},
    }


def _subscription(ctx: EvaluationContext, args: list[Json]) -> dict[str, Json]:
    scope = ctx.scope
    return {
        "id": scope.subscription_resource_id,
        "subscriptionId": scope.subscription_id,
        "tenantId": scope.tenant_id,
        "displayName": scope.subscription_name,
    }


def _deployment(ctx: EvaluationContext, args: list[Json]) -> Json:
    return ctx.deployment


FUNCTIONS = [
    FunctionSpec("parameters", 1, 1, _parameters),
    FunctionSpec("variables", 1, 1, _variables, allowed_in_parameter_default=False),
    FunctionSpec("copyIndex", 0, 2, _copy_index),
    FunctionSpec("resourceGroup", 0, 0, _resource_group),
    FunctionSpec("subscription", 0, 0, _subscription),
    FunctionSpec("deployment", 0, 0, _deployment),
]
