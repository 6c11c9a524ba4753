"""Resource functions: providers(), resourceId(), subscriptionResourceId(), reference()."""

from __future__ import annotations

from scaleset.templates.arm_ids import group_resource_id, subscription_resource_id, type_levels
from scaleset.templates.context import EvaluationContext
from scaleset.templates.errors import invalid_deployment, invalid_template
from scaleset.templates.function_registry import FunctionSpec, function_error, not_expected_here, string_argument
from scaleset.templates.json_values import Json


def _split_arguments(function: str, args: list[Json], max_scope_args: int) -> tuple[list[str], str, list[str]]:
    """ARM's overloads: [scope args...], 'Namespace/type[/child]', names... The type is the first
    argument containing a '/'; what precedes it is the subscription and/or resource group."""
    texts = [string_argument(function, args, i) for i in range(len(args))]
    type_position = next((i for i, text in enumerate(texts) if "/" in text.strip("/")), None)
    if type_position is None or type_position > max_scope_args:
        raise function_error(function, "function requires exactly one multi-segmented argument which must be "
                                       "resource type including resource provider namespace. Current function "
                                       f"arguments '{','.join(texts)}'.")
    full_type = texts[type_position].strip("/")
    # A name argument may itself hold several segments ('vnet/subnet'); only the total must match.
    names = [segment for text in texts[type_position + 1:] for segment in text.strip("/").split("/")]
    expected = len(type_levels(full_type)) - 1
    if len(names) != expected:
        raise function_error(function, f"the type '{full_type}' requires '{expected}' resource name argument(s).")
    return texts[:type_position], full_type, names


def _resource_id(ctx: EvaluationContext, args: list[Json]) -> str:
    scope_args, full_type, names = _split_arguments("resourceId", args, max_scope_args=2)
    subscription, group = ctx.scope.subscription_id, ctx.scope.group_name
    if len(scope_args) == 2:
        subscription, group = scope_args
    elif scope_args:
        group = scope_args[0]
    return group_resource_id(subscription, group, full_type, names)


def _subscription_resource_id(ctx: EvaluationContext, args: list[Json]) -> str:
    scope_args, full_type, names = _split_arguments("subscriptionResourceId", args, max_scope_args=1)
    subscription = scope_args[0] if scope_args else ctx.scope.subscription_id
    return subscription_resource_id(subscription, full_type, names)


def _reference(ctx: EvaluationContext, args: list[Json]) -> Json:
    if ctx.resources is None:
        raise not_expected_here("reference", "The function can only be used in resource properties and outputs.")
    target = string_argument("reference", args, 0)
    api_version = string_argument("reference", args, 1) if len(args) > 1 and args[1] is not None else None
    full = False
    if len(args) == 3:
        if string_argument("reference", args, 2).lower() != "full":
            raise function_error("reference", f"the third parameter must be 'Full'; it is '{args[2]}'.")
        full = True
    directory = ctx.resources.directory
    if target.startswith("/"):
        resource_id = target
    elif "/" in target:
        resource_id = directory.typed_id(target) or target
    else:
        named = directory.named(target)
        if not named:
            raise invalid_template(f"The template reference '{target}' is not valid: could not find template "
                                   "resource or resource copy with this name. Please see "
                                   "https://aka.ms/arm-template-expressions/#reference for usage details.")
        resource_id = named[0].id
    in_template = directory.by_id(resource_id)
    if api_version is None and in_template is not None:
        api_version = in_template.api_version
    return ctx.resources.reference(in_template.id if in_template else resource_id, api_version, full)


# The resource types this server provides, each with the api-versions it answers, newest first.
# providers() reports them: az's own templates read `providers(ns, type).apiVersions[0]`.
PROVIDED = {
    "microsoft.compute": ("Microsoft.Compute", ("virtualMachineScaleSets",)),
    "microsoft.network": ("Microsoft.Network", ("loadBalancers", "virtualNetworks", "publicIPAddresses",
                                                "networkSecurityGroups")),
    "microsoft.resources": ("Microsoft.Resources", ("deployments",)),
}
API_VERSIONS = ("2024-11-01", "2024-07-01", "2024-03-01", "2023-09-01", "2022-11-01", "2021-11-01", "2018-10-01")


def _providers(ctx: EvaluationContext, args: list[Json]) -> Json:
    namespace = string_argument("providers", args, 0)
    known = PROVIDED.get(namespace.lower())
    if known is None:
        raise invalid_deployment(f"The resource provider namespace '{namespace}' is not registered on this server.")
    spelt, kinds = known
    described = [{"resourceType": kind, "locations": [ctx.scope.group_location], "apiVersions": list(API_VERSIONS)}
                 for kind in kinds]
    if len(args) == 1:
        return {"namespace": spelt, "resourceTypes": described}
    wanted = string_argument("providers", args, 1)
    for item in described:
        if str(item["resourceType"]).lower() == wanted.lower():
            return item
    raise invalid_deployment(f"The resource type '{wanted}' is not provided by '{spelt}' on this server.")


FUNCTIONS = [
    FunctionSpec("providers", 1, 2, _providers),
    FunctionSpec("resourceId", 1, None, _resource_id),
    FunctionSpec("subscriptionResourceId", 1, None, _subscription_resource_id),
    FunctionSpec("reference", 1, 3, _reference, allowed_in_parameter_default=False),
]
