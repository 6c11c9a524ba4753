"""Microsoft.Resources/deployments at resource-group scope: ARM templates, as `az deployment group
create` and `az vmss create` send them. The template is checked whole before anything is deployed;
a bad one is a 400 naming the JSON path of what is wrong."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.responses import Response

from scaleset.api.app import ArmRequest
from scaleset.api.endpoints.paths import GROUP
from scaleset.api.responses import json_response, lro_headers
from scaleset.api.router import Router
from scaleset.model import resource_ids
from scaleset.service.deployments import TYPE
from scaleset.service.errors import ArmError
from scaleset.service.network import NETWORK_TYPES
from scaleset.templates import Plan, Scope, TemplateError, prepare

DEPLOYMENTS = GROUP + "/providers/Microsoft.Resources/deployments"
# The resource types this server's API creates, lower-cased: a template naming any other is refused
# before anything is deployed, rather than failing halfway with some of its resources made.
DEPLOYABLE_TYPES = frozenset({resource_ids.SCALE_SET_TYPE.lower()}
                             | {canonical.lower() for canonical, _ in NETWORK_TYPES.values()}
                             | {f"{canonical}/{child}".lower() for canonical, children in NETWORK_TYPES.values()
                                for child in children})
# ARM also answers the older path without the provider segment; az's `deployment operation` uses it.
LEGACY_DEPLOYMENTS = GROUP + "/deployments"


def register(router: Router) -> None:
    for collection in (DEPLOYMENTS, LEGACY_DEPLOYMENTS):
        deployment = collection + "/{deployment}"
        router.add("GET", collection, list_deployments)
        router.add("PUT", deployment, put_deployment, jsonc=True)
        router.add("GET", deployment, get_deployment)
        router.add("HEAD", deployment, head_deployment)
        router.add("DELETE", deployment, delete_deployment)
        router.add("POST", deployment + "/validate", validate_deployment, jsonc=True)
        router.add("POST", deployment + "/cancel", cancel_deployment)
        router.add("GET", deployment + "/operations", list_operations)
        router.add("GET", deployment + "/operations/{operation}", get_operation)


def _names(req: ArmRequest) -> tuple[str, str, str]:
    return req.param("subscription"), req.param("group"), req.param("deployment")


def _plan(req: ArmRequest) -> tuple[Plan, dict[str, Any]]:
    """The checked plan of the deployment in the body, and the properties to record for it."""
    sub, group, name = _names(req)
    body = req.body
    if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be an object with 'properties'.",
                       target="properties")
    props = body["properties"]
    if props.get("templateLink") or props.get("parametersLink"):
        raise ArmError(400, "InvalidTemplate", "Linked templates are not supported by this server: send the template "
                       "itself in 'properties.template'.", target="properties.templateLink")
    template = props.get("template")
    if not isinstance(template, dict):
        raise ArmError(400, "InvalidTemplate", "The deployment must have a template object in 'properties.template'.",
                       target="properties.template")
    mode = str(props.get("mode") or "")
    if mode.lower() != "incremental":
        raise ArmError(400, "InvalidDeploymentMode",
                       f"The deployment mode '{mode}' is not supported: this server deploys in 'Incremental' mode "
                       "(Complete mode, which deletes what the template does not name, is not offered).",
                       target="properties.mode")
    parameters = props.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ArmError(400, "InvalidTemplate", "'properties.parameters' must be an object.", target="properties.parameters")
    group_row = req.plane.groups.get(sub, group)
    scope = Scope(subscription_id=sub.lower(), group_name=group_row.name, group_location=group_row.location,
                  deployment_name=name, tenant_id=req.request.app.state.tenant)
    try:
        plan = prepare(template, parameters, scope)
    except TemplateError as error:
        raise ArmError(400, error.code, error.message, target=error.deployment_target) from None
    _check_providers(plan)
    recorded = {"templateHash": _template_hash(template), "parameters": plan.parameters, "mode": "Incremental",
                "providers": _providers(plan), "dependencies": _dependencies(plan)}
    return plan, recorded


async def put_deployment(req: ArmRequest) -> Response:
    sub, group, name = _names(req)
    plan, recorded = _plan(req)
    tags = req.body.get("tags") if isinstance(req.body.get("tags"), dict) else None
    resource, op, created = req.plane.deployments.begin(sub, group, name, recorded, tags=tags)
    req.request.app.state.deployment_runner.start(resource["id"], plan, authorization=req.request.headers["authorization"],
                                                  base_url=str(req.request.base_url))
    location = req.plane.groups.get(sub, group).location
    headers = lro_headers(req.request, req.plane.settings, sub, location, op, req.api_version, with_location=False)
    return json_response(resource, 201 if created else 200, headers)


async def validate_deployment(req: ArmRequest) -> Response:
    sub, group, name = _names(req)
    plan, recorded = _plan(req)
    return json_response({
        "id": resource_ids.resource_id(sub, group, TYPE, name), "name": name, "type": TYPE,
        "properties": {**recorded, "provisioningState": "Succeeded",
                       "validatedResources": [{"id": r.id} for r in plan.resources if r.condition]},
    })


async def get_deployment(req: ArmRequest) -> Response:
    return json_response(req.plane.deployments.get(*_names(req)))


async def head_deployment(req: ArmRequest) -> Response:
    req.plane.deployments.get(*_names(req))
    return Response(status_code=204)


async def list_deployments(req: ArmRequest) -> Response:
    return json_response({"value": req.plane.deployments.list(req.param("subscription"), req.param("group"))})


async def delete_deployment(req: ArmRequest) -> Response:
    return Response(status_code=200 if req.plane.deployments.delete(*_names(req)) else 204)


async def cancel_deployment(req: ArmRequest) -> Response:
    resource = req.plane.deployments.get(*_names(req))
    if not req.request.app.state.deployment_runner.cancel(resource["id"]):
        raise ArmError(409, "DeploymentCannotBeCancelled",
                       f"The deployment '{resource['name']}' cannot be canceled: it is "
                       f"'{resource['properties']['provisioningState']}'.")
    return Response(status_code=204)


async def list_operations(req: ArmRequest) -> Response:
    return json_response({"value": req.plane.deployments.operations(*_names(req))})


async def get_operation(req: ArmRequest) -> Response:
    for op in req.plane.deployments.operations(*_names(req)):
        if op["operationId"].lower() == req.param("operation").lower():
            return json_response(op)
    raise ArmError(404, "DeploymentOperationNotFound", f"Deployment operation '{req.param('operation')}' could not be found.")


def _check_providers(plan: Plan) -> None:
    for resource in plan.resources:
        if resource.condition and resource.type.lower() not in DEPLOYABLE_TYPES:
            raise ArmError(400, "NoRegisteredProviderFound",
                           f"No registered resource provider found for type '{resource.type}' and api version "
                           f"'{resource.api_version}'. This server deploys Microsoft.Compute/virtualMachineScaleSets "
                           "and Microsoft.Network load balancers, virtual networks, public IP addresses and network "
                           "security groups, with their child resources.",
                           target=f"properties.template.{resource.path}.type")


def _template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return str(int.from_bytes(digest[:8], "big"))


def _providers(plan: Plan) -> list[dict[str, Any]]:
    by_namespace: dict[str, set[str]] = {}
    for resource in plan.resources:
        namespace, _, kind = resource.type.partition("/")
        by_namespace.setdefault(namespace, set()).add(kind)
    return [{"namespace": ns, "resourceTypes": [{"resourceType": kind} for kind in sorted(kinds)]}
            for ns, kinds in sorted(by_namespace.items())]


def _dependencies(plan: Plan) -> list[dict[str, Any]]:
    by_id = {r.id: r for r in plan.resources}
    return [{"id": r.id, "resourceType": r.type, "resourceName": r.name,
             "dependsOn": [{"id": dep, "resourceType": by_id[dep].type, "resourceName": by_id[dep].name}
                           for dep in r.depends_on if dep in by_id]}
            for r in plan.resources if r.depends_on]
