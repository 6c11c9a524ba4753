"""Evaluates expressions and whole JSON trees of a template, expanding property copy loops."""

from __future__ import annotations

from collections.abc import Mapping

from scaleset.templates.context import Deferred, EvaluationContext
from scaleset.templates.copy_loops import PropertyLoop, checked_count, property_loops
from scaleset.templates.errors import TemplateError, invalid_deployment
from scaleset.templates.expressions import (FunctionCall, IntegerLiteral, Node, PropertyAccess, StringLiteral,
                                            is_expression, literal_text, parse_expression)
from scaleset.templates.functions import function_for
from scaleset.templates.json_paths import item, member
from scaleset.templates.json_values import Json, find_key, is_int, type_name


def evaluate_node(node: Node, ctx: EvaluationContext) -> Json:
    if isinstance(node, (StringLiteral, IntegerLiteral)):
        return node.value
    if isinstance(node, FunctionCall):
        spec = function_for(node)
        if spec.evaluate_lazily is not None:
            return spec.evaluate_lazily(ctx, node.arguments, evaluate_node)
        assert spec.evaluate is not None
        return spec.evaluate(ctx, [evaluate_node(argument, ctx) for argument in node.arguments])
    if isinstance(node, PropertyAccess):
        return property_of(evaluate_node(node.target, ctx), node.name)
    return _index(evaluate_node(node.target, ctx), evaluate_node(node.index, ctx))


def property_of(value: Json, name: str) -> Json:
    if not isinstance(value, Mapping):
        raise invalid_deployment(f"The language expression property '{name}' can't be evaluated on a value of "
                                 f"type '{type_name(value)}'.")
    key = find_key(value, name)
    if key is None:
        raise invalid_deployment(f"The language expression property '{name}' doesn't exist, available properties "
                                 f"are '{', '.join(value)}'.")
    return value[key]


def _index(value: Json, index: Json) -> Json:
    if isinstance(value, list) and is_int(index):
        if not 0 <= index < len(value):
            raise invalid_deployment(f"The language expression property array index '{index}' is out of bounds.")
        return value[index]
    if isinstance(value, Mapping) and isinstance(index, str):
        return property_of(value, index)
    raise invalid_deployment(f"The language expression property '{index}' can't be evaluated on a value of type "
                             f"'{type_name(value)}'.")


def evaluate_string(text: str, ctx: EvaluationContext, path: str) -> Json:
    if not is_expression(text):
        return literal_text(text)
    try:
        return evaluate_node(parse_expression(text), ctx)
    except TemplateError as error:
        raise error.located(path) from None
    except Deferred:
        if ctx.dry_run is None:
            raise
        return None  # a dry run carries on: this value only exists at deployment


def evaluate_tree(value: Json, ctx: EvaluationContext, path: str, *, expand_copies: bool = False) -> Json:
    """value with every expression in it evaluated; with expand_copies, 'copy' arrays in objects
    become the array properties they describe (ARM allows that in resource properties and variables)."""
    if isinstance(value, str):
        return evaluate_string(value, ctx, path)
    if isinstance(value, list):
        return [evaluate_tree(element, ctx, item(path, i), expand_copies=expand_copies)
                for i, element in enumerate(value)]
    if isinstance(value, Mapping):
        result: dict[str, Json] = {}
        for key, element in value.items():
            element_path = member(path, key)
            if expand_copies and key.lower() == "copy":
                for loop in property_loops(element, element_path):
                    result[loop.name] = expand_loop(loop, ctx)
            else:
                result[key] = evaluate_tree(element, ctx, element_path, expand_copies=expand_copies)
        return result
    return value


def expand_loop(loop: PropertyLoop, ctx: EvaluationContext) -> list[Json]:
    count_path = member(loop.path, "count")
    count = evaluate_tree(loop.count, ctx, count_path)
    if count is None and ctx.dry_run is not None:
        return []  # the count needs a deployed resource: known only at deployment
    return [evaluate_tree(loop.input, ctx.entering(loop.name, index), member(loop.path, "input"), expand_copies=True)
            for index in range(checked_count(count, count_path))]
