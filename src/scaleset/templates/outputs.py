"""Template outputs: checked before deployment, evaluated after, typed as ARM returns them."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from scaleset.templates.context import EvaluationContext
from scaleset.templates.copy_loops import checked_count
from scaleset.templates.errors import invalid_template
from scaleset.templates.evaluator import evaluate_tree
from scaleset.templates.json_paths import member
from scaleset.templates.json_values import Json, find_key, get_member, is_int, type_name
from scaleset.templates.parameters import PARAMETER_TYPES, SECURE_TYPES

_OUTPUT_KEYS = {"type", "value", "copy", "condition", "metadata"}
_OUTPUT_LOOP = "output copy"  # outputs' copy loops have no name; copyIndex() counts this one
_EXPECTED: dict[str, tuple[str, Callable[[Json], bool]]] = {"String": ("String", lambda v: isinstance(v, str)), "Int": ("Integer", is_int),
             "Bool": ("Boolean", lambda v: isinstance(v, bool)), "Object": ("Object", lambda v: isinstance(v, Mapping)),
             "Array": ("Array", lambda v: isinstance(v, list))}


def check_output_definitions(template: Mapping[str, Json]) -> None:
    for name, output in (template.get("outputs") or {}).items():
        path = member("outputs", name)
        if not isinstance(output, Mapping):
            raise invalid_template(f"The template output '{name}' must be an object with 'type' and 'value'.", path)
        for key in output:
            if key not in _OUTPUT_KEYS:
                raise invalid_template(f"Could not find member '{key}' on object of type 'TemplateOutput'. Path "
                                       f"'{member(path, key)}'.", member(path, key))
        declared = output.get("type")
        if not isinstance(declared, str) or declared.lower() not in PARAMETER_TYPES:
            raise invalid_template(f"The template output '{name}' has an invalid type '{declared}'.",
                                   member(path, "type"))
        if ("value" in output) == ("copy" in output):
            raise invalid_template(f"The template output '{name}' must have either 'value' or 'copy'.", path)
        if "copy" in output:
            loop = output["copy"]
            if not isinstance(loop, Mapping) or "count" not in loop or "input" not in loop:
                raise invalid_template(f"The copy of template output '{name}' must be an object with 'count' and "
                                       "'input'.", member(path, "copy"))


def evaluate_outputs(template: Mapping[str, Json], ctx: EvaluationContext) -> dict[str, dict[str, Json]]:
    """{"name": {"type": "String", "value": ...}}; secure outputs are never returned, as in ARM."""
    results: dict[str, dict[str, Json]] = {}
    for name, output in (template.get("outputs") or {}).items():
        path = member("outputs", name)
        declared = PARAMETER_TYPES[output["type"].lower()]
        if declared in SECURE_TYPES or not _wanted(output, ctx, path):
            continue
        value = _value(output, ctx, path)
        expected, matches = _EXPECTED[declared]
        if value is not None and not matches(value):  # None: a dry run left it for deployment
            raise invalid_template(f"The template output '{name}' is not valid: Template output JToken type is not "
                                   f"valid. Expected '{expected}'. Actual '{type_name(value)}'.", member(path, "value"))
        results[name] = {"type": declared, "value": value}
    return results


def _wanted(output: Mapping[str, Json], ctx: EvaluationContext, path: str) -> bool:
    key = find_key(output, "condition")
    if key is None:
        return True
    condition = evaluate_tree(output[key], ctx, member(path, key))
    if condition is not None and not isinstance(condition, bool):
        raise invalid_template(f"The output condition must be a boolean; it is of type '{type_name(condition)}'.",
                               member(path, key))
    return condition is not False


def _value(output: Mapping[str, Json], ctx: EvaluationContext, path: str) -> Json:
    if "value" in output:
        return evaluate_tree(output["value"], ctx, member(path, "value"))
    loop_path = member(path, "copy")
    count_path = member(loop_path, "count")
    count = evaluate_tree(get_member(output["copy"], "count"), ctx, count_path)
    if count is None and ctx.dry_run is not None:
        return None
    return [evaluate_tree(get_member(output["copy"], "input"), ctx.entering(_OUTPUT_LOOP, index, current=True),
                          member(loop_path, "input"))
            for index in range(checked_count(count, count_path))]
