"""prepare(): a template and its parameters validated and turned into a deployment plan.

Everything that can be checked before deploying is checked here (shape, every expression's syntax
and functions, parameters, variables, resource names/types/apiVersions, dependencies, and each
resource's body and the outputs in a dry run). What needs deployed resources, reference(), is
evaluated later by body() and outputs() through the caller's Reference callback.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace

from scaleset.templates.context import EvaluationContext, Reference, ReferenceRecorder, ResourceAccess
from scaleset.templates.dependencies import add_dependencies, deployment_layers, deployment_order
from scaleset.templates.deployment_functions import deployment_object
from scaleset.templates.errors import TemplateError
from scaleset.templates.json_values import Json
from scaleset.templates.outputs import check_output_definitions, evaluate_outputs
from scaleset.templates.parameters import ParameterValues, read_definitions
from scaleset.templates.resource_body import evaluate_body
from scaleset.templates.resource_directory import ResourceDirectory
from scaleset.templates.resources import PlannedResource, expand_resources
from scaleset.templates.scope import Scope
from scaleset.templates.template_shape import check_template_shape
from scaleset.templates.template_syntax import check_template_expressions
from scaleset.templates.variables import VariableDefinition, VariableTable, read_variables


class Plan:
    """The resources of one deployment in a valid order, and how to evaluate each when its turn comes."""

    def __init__(self, *, template: Mapping[str, Json], context: EvaluationContext,
                 variables: Mapping[str, VariableDefinition], variable_values: Mapping[str, Json],
                 resources: list[PlannedResource], directory: ResourceDirectory,
                 parameters: dict[str, dict[str, Json]]) -> None:
        self._template = template
        self._context = context  # parameters bound; no variables or resource access yet
        self._variables = variables
        self._variable_values = variable_values  # those that need no deployed resource, computed once
        self._directory = directory
        self.resources = resources
        self.parameters = parameters

    def layers(self) -> list[list[PlannedResource]]:
        return deployment_layers(self.resources)

    def body(self, resource: PlannedResource, reference: Reference) -> dict[str, Json]:
        """The resource's JSON to PUT: its definition evaluated, without the template-only keys."""
        try:
            return evaluate_body(resource, self._deployed_context(reference).at(resource.copy_index))
        except TemplateError as error:
            raise error.in_context(f"Unable to process template language expressions for resource "
                                   f"'{resource.id}'") from None

    def outputs(self, reference: Reference) -> dict[str, dict[str, Json]]:
        try:
            return evaluate_outputs(self._template, self._deployed_context(reference))
        except TemplateError as error:
            raise error.in_context("Unable to evaluate template outputs") from None

    def _deployed_context(self, reference: Reference) -> EvaluationContext:
        table = VariableTable(self._variables, self._variable_values)
        return replace(self._context, variable=table.get, resources=ResourceAccess(self._directory, reference))


def prepare(template: dict[str, Json], parameters: dict[str, Json], scope: Scope) -> Plan:
    """Validates template and parameters for a deployment in scope; raises TemplateError if either is wrong."""
    check_template_shape(template)
    template = copy.deepcopy(template)  # the plan evaluates it later: the caller's dict may change meanwhile
    check_template_expressions(template)
    check_output_definitions(template)
    deployment = deployment_object(scope, template)
    values = ParameterValues(read_definitions(template), parameters, scope, deployment)
    effective_parameters = values.effective()
    base = EvaluationContext(scope=scope, deployment=deployment, parameter=values.get)

    variables = read_variables(template)
    table = VariableTable(variables)
    context = replace(base, variable=table.get)
    expansion = expand_resources(template["resources"], context)
    directory = ResourceDirectory(scope, expansion.resources, expansion.loop_names)
    # Dry runs evaluate what will only be evaluated for real at deployment, so their errors surface
    # now; reference() there defers its value instead of reading a resource that does not exist yet.
    dry_run = replace(context, resources=ResourceAccess(directory, ReferenceRecorder()))
    table.evaluate_all(dry_run)
    add_dependencies(expansion.resources, directory, context)
    ordered = deployment_order(expansion.resources)
    evaluate_outputs(template, dry_run)
    return Plan(template=template, context=base, variables=variables, variable_values=table.values,
                resources=ordered, directory=directory, parameters=effective_parameters)
