"""Logical and comparison functions: if, equals, not, and, or, greater..., true(), false(), null()."""

from __future__ import annotations

from collections.abc import Sequence

from scaleset.templates.context import EvaluationContext
from scaleset.templates.expressions import Node
from scaleset.templates.function_registry import EvaluateNode, FunctionSpec, bool_argument, function_error, type_error
from scaleset.templates.json_values import Json, is_int, json_equal


def _if(ctx: EvaluationContext, nodes: Sequence[Node], evaluate: EvaluateNode) -> Json:
    # Only the chosen branch is evaluated, so a branch may read what exists only when the condition
    # holds (a conditional resource's reference(), an optional object property).
    condition = evaluate(nodes[0], ctx)
    if not isinstance(condition, bool):
        raise type_error("if", "a boolean", condition, 0)
    return evaluate(nodes[1] if condition else nodes[2], ctx)


def _equals(ctx: EvaluationContext, args: list[Json]) -> bool:
    return json_equal(args[0], args[1])


def _not(ctx: EvaluationContext, args: list[Json]) -> bool:
    return not bool_argument("not", args)


def _and(ctx: EvaluationContext, args: list[Json]) -> bool:
    return all([bool_argument("and", args, i) for i in range(len(args))])


def _or(ctx: EvaluationContext, args: list[Json]) -> bool:
    return any([bool_argument("or", args, i) for i in range(len(args))])


def _true(ctx: EvaluationContext, args: list[Json]) -> bool:
    return True


def _false(ctx: EvaluationContext, args: list[Json]) -> bool:
    return False


def _null(ctx: EvaluationContext, args: list[Json]) -> None:
    return None


def _ordering(function: str, args: list[Json]) -> int:
    """-1, 0 or 1: integers numerically, strings as .NET's invariant culture orders them."""
    left, right = args
    if is_int(left) and is_int(right):
        return int(left > right) - int(left < right)
    if isinstance(left, str) and isinstance(right, str):
        # Invariant culture compares letters ignoring case first, then puts lowercase before uppercase.
        left_key, right_key = (left.casefold(), left.swapcase()), (right.casefold(), right.swapcase())
        return (left_key > right_key) - (left_key < right_key)
    raise function_error(function, "the parameters must be two integers or two strings.")


def _less(ctx: EvaluationContext, args: list[Json]) -> bool:
    return _ordering("less", args) < 0


def _less_or_equals(ctx: EvaluationContext, args: list[Json]) -> bool:
    return _ordering("lessOrEquals", args) <= 0


def _greater(ctx: EvaluationContext, args: list[Json]) -> bool:
    return _ordering("greater", args) > 0


def _greater_or_equals(ctx: EvaluationContext, args: list[Json]) -> bool:
    return _ordering("greaterOrEquals", args) >= 0


FUNCTIONS = [
    FunctionSpec("if", 3, 3, evaluate_lazily=_if),
    FunctionSpec("equals", 2, 2, _equals),
    FunctionSpec("not", 1, 1, _not),
    FunctionSpec("and", 2, None, _and),
    FunctionSpec("or", 2, None, _or),
    FunctionSpec("true", 0, 0, _true),
    FunctionSpec("false", 0, 0, _false),
    FunctionSpec("null", 0, 0, _null),
    FunctionSpec("less", 2, 2, _less),
    FunctionSpec("lessOrEquals", 2, 2, _less_or_equals),
    FunctionSpec("greater", 2, 2, _greater),
    FunctionSpec("greaterOrEquals", 2, 2, _greater_or_equals),
]
