"""Integer functions. ARM integers are 64-bit and its division truncates toward zero, like C#."""

from __future__ import annotations

from scaleset.templates.context import EvaluationContext
from scaleset.templates.function_registry import FunctionSpec, function_error, int_argument, type_error
from scaleset.templates.json_values import Json, is_int

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
MAX_RANGE_COUNT = 10_000


def _checked(function: str, value: int) -> int:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise function_error(function, "the result overflows a 64-bit integer.")
    return value


def _operands(function: str, args: list[Json]) -> tuple[int, int]:
    return int_argument(function, args, 0), int_argument(function, args, 1)


def _divisor(function: str, args: list[Json]) -> tuple[int, int]:
    dividend, divisor = _operands(function, args)
    if divisor == 0:
        raise function_error(function, "the divisor must not be zero.")
    return dividend, divisor


def _truncated_quotient(dividend: int, divisor: int) -> int:
    quotient = abs(dividend) // abs(divisor)
    return quotient if (dividend < 0) == (divisor < 0) else -quotient


def _add(ctx: EvaluationContext, args: list[Json]) -> int:
    left, right = _operands("add", args)
    return _checked("add", left + right)


def _sub(ctx: EvaluationContext, args: list[Json]) -> int:
    left, right = _operands("sub", args)
    return _checked("sub", left - right)


def _mul(ctx: EvaluationContext, args: list[Json]) -> int:
    left, right = _operands("mul", args)
    return _checked("mul", left * right)


def _div(ctx: EvaluationContext, args: list[Json]) -> int:
    return _checked("div", _truncated_quotient(*_divisor("div", args)))


def _mod(ctx: EvaluationContext, args: list[Json]) -> int:
    dividend, divisor = _divisor("mod", args)
    return dividend - divisor * _truncated_quotient(dividend, divisor)


def _numbers(function: str, args: list[Json]) -> list[int]:
    """min/max take integers, or a single array of them."""
    values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if not values:
        raise function_error(function, "the array must not be empty.")
    for value in values:
        if not is_int(value):
            raise type_error(function, "integers or an array of integers", value)
    return values


def _min(ctx: EvaluationContext, args: list[Json]) -> int:
    return min(_numbers("min", args))


def _max(ctx: EvaluationContext, args: list[Json]) -> int:
    return max(_numbers("max", args))


def _range(ctx: EvaluationContext, args: list[Json]) -> list[int]:
    start, count = _operands("range", args)
    if not 0 <= count <= MAX_RANGE_COUNT:
        raise function_error("range", f"the count must be between 0 and {MAX_RANGE_COUNT}; it is '{count}'.")
    return list(range(start, start + count))


FUNCTIONS = [
    FunctionSpec("add", 2, 2, _add),
    FunctionSpec("sub", 2, 2, _sub),
    FunctionSpec("mul", 2, 2, _mul),
    FunctionSpec("div", 2, 2, _div),
    FunctionSpec("mod", 2, 2, _mod),
    FunctionSpec("min", 1, None, _min),
    FunctionSpec("max", 1, None, _max),
    FunctionSpec("range", 2, 2, _range),
]
