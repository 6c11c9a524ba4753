"""Checks every expression in a template before anything is evaluated or deployed, as ARM does:
syntax, function names, argument counts, and functions used where ARM forbids them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from scaleset.templates.errors import TemplateError
from scaleset.templates.expressions import function_calls, is_expression, parse_expression
from scaleset.templates.function_registry import not_expected_here
from scaleset.templates.functions import function_for
from scaleset.templates.json_paths import item, member
from scaleset.templates.json_values import Json

_RESOURCE_NOTES = {"comments", "metadata"}  # free text ARM never evaluates


def check_template_expressions(template: Mapping[str, Json]) -> None:
    for path, text, in_parameter_default in _expression_strings(template):
        try:
            _check_expression(text, in_parameter_default)
        except TemplateError as error:
            raise error.located(path) from None


def _check_expression(text: str, in_parameter_default: bool) -> None:
    for call in function_calls(parse_expression(text)):
        spec = function_for(call)
        if in_parameter_default and not spec.allowed_in_parameter_default:
            raise not_expected_here(spec.name, "It can't be used in a parameter default value.")
        if spec.parameter_default_only and not in_parameter_default:
            raise not_expected_here(spec.name, "The function can only be used with parameter default value.")


def _expression_strings(template: Mapping[str, Json]) -> Iterator[tuple[str, str, bool]]:
    """(path, text, in a parameter default) for every expression string ARM would evaluate."""
    for name, definition in (template.get("parameters") or {}).items():
        if isinstance(definition, Mapping) and "defaultValue" in definition:
            for path, text in _strings(definition["defaultValue"], member(member("parameters", name), "defaultValue")):
                yield path, text, True
    for section in ("variables", "outputs"):
        for path, text in _strings(template.get(section) or {}, section):
            yield path, text, False
    for path, text in _resource_strings(template["resources"], "resources"):
        yield path, text, False


def _resource_strings(resources: Json, path: str) -> Iterator[tuple[str, str]]:
    if not isinstance(resources, list):
        return
    for index, resource in enumerate(resources):
        resource_path = item(path, index)
        if not isinstance(resource, Mapping):
            continue
        for key, value in resource.items():
            if key.lower() == "resources":
                yield from _resource_strings(value, member(resource_path, key))
            elif key.lower() not in _RESOURCE_NOTES:
                yield from _strings(value, member(resource_path, key))


def _strings(value: Json, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if is_expression(value):
            yield path, value
    elif isinstance(value, list):
        for index, element in enumerate(value):
            yield from _strings(element, item(path, index))
    elif isinstance(value, Mapping):
        for key, element in value.items():
            yield from _strings(element, member(path, key))
