"""The ARM template engine: evaluates deployment templates as Azure Resource Manager does and orders
their resources for deployment. Pure: the caller deploys, and answers reference() through a callback.

    plan = prepare(template, parameters, scope)    # raises TemplateError when either is wrong
    for layer in plan.layers():                    # each layer may deploy in parallel
        for resource in layer:
            if resource.condition:
                put(resource.id, resource.api_version, plan.body(resource, reference))
    outputs = plan.outputs(reference)
"""

from scaleset.templates.context import Reference
from scaleset.templates.errors import INVALID_DEPLOYMENT, INVALID_TEMPLATE, TemplateError
from scaleset.templates.plan import Plan, prepare
from scaleset.templates.resources import PlannedResource
from scaleset.templates.scope import Scope

__all__ = ["INVALID_DEPLOYMENT", "INVALID_TEMPLATE", "Plan", "PlannedResource", "Reference", "Scope",
           "TemplateError", "prepare"]
