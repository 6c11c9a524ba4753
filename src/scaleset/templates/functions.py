"""Every template function this engine knows, looked up case-insensitively as ARM does."""

from __future__ import annotations

from scaleset.templates import (arithmetic_functions, collection_functions, conversion_functions,
                                deployment_functions, logic_functions, resource_functions, string_functions)
from scaleset.templates.errors import TemplateError, invalid_template
from scaleset.templates.expressions import FunctionCall
from scaleset.templates.function_registry import FUNCTIONS_HELP, FunctionSpec

_TABLE: dict[str, FunctionSpec] = {
    spec.name.lower(): spec
    for module in (string_functions, collection_functions, arithmetic_functions, logic_functions,
                   conversion_functions, deployment_functions, resource_functions)
    for spec in module.FUNCTIONS
}


def function_for(call: FunctionCall) -> FunctionSpec:
    """The function call names, once its name and number of arguments are known to be valid."""
    spec = _TABLE.get(call.name.lower())
    if spec is None:
        raise invalid_template(f"The template function '{call.name}' is not valid. {FUNCTIONS_HELP}")
    count = len(call.arguments)
    if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
        raise _arity_error(spec, count)
    return spec


def _arity_error(spec: FunctionSpec, count: int) -> TemplateError:
    if spec.max_args == spec.min_args:
        expected = f"exactly '{spec.min_args}'"
    elif spec.max_args is None:
        expected = f"at least '{spec.min_args}'"
    else:
        expected = f"between '{spec.min_args}' and '{spec.max_args}'"
    return invalid_template(f"Unable to evaluate template language function '{spec.name}': function requires "
                            f"{expected} argument(s) while '{count}' were provided. {FUNCTIONS_HELP}")
