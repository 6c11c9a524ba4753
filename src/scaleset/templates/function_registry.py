"""How a template function is described, and the errors functions raise, worded like ARM's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scaleset.templates.context import EvaluationContext
from scaleset.templates.errors import TemplateError, invalid_template
from scaleset.templates.expressions import Node
from scaleset.templates.json_values import Json, is_int, type_name

FUNCTIONS_HELP = "Please see https://aka.ms/arm-functions for usage details."

EvaluateNode = Callable[[Node, EvaluationContext], Json]


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # the documented spelling; lookups ignore case
    min_args: int
    max_args: int | None  # None: any number
    evaluate: Callable[[EvaluationContext, list[Json]], Json] | None = None
    # For functions that must not evaluate every argument (if() evaluates one branch only).
    evaluate_lazily: Callable[[EvaluationContext, Sequence[Node], EvaluateNode], Json] | None = None
    parameter_default_only: bool = False  # newGuid(): ARM allows it nowhere else
    allowed_in_parameter_default: bool = True  # variables() and reference() are not


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")


def type_error(function: str, expected: str, value: Json, position: int | None = None) -> TemplateError:
    which = "" if position is None else f"{_ORDINALS[min(position, len(_ORDINALS) - 1)]} "
    return invalid_template(f"The template language function '{function}' expects its {which}parameter to be "
                            f"{expected}. The provided value is of type '{type_name(value)}'. {FUNCTIONS_HELP}")


def function_error(function: str, detail: str) -> TemplateError:
    return invalid_template(f"Unable to evaluate template language function '{function}': {detail} "
                            f"{FUNCTIONS_HELP}")


def not_expected_here(function: str, detail: str = "") -> TemplateError:
    extra = f" {detail}" if detail else ""
    return invalid_template(f"The template function '{function}' is not expected at this location.{extra} "
                            f"{FUNCTIONS_HELP}")


def string_argument(function: str, args: list[Json], position: int | None = None) -> str:
    value = args[position or 0]
    if not isinstance(value, str):
        raise type_error(function, "a string", value, position)
    return value


def int_argument(function: str, args: list[Json], position: int | None = None) -> int:
    value = args[position or 0]
    if not is_int(value):
        raise type_error(function, "an integer", value, position)
    return int(value)


def bool_argument(function: str, args: list[Json], position: int | None = None) -> bool:
    value = args[position or 0]
    if not isinstance(value, bool):
        raise type_error(function, "a boolean", value, position)
    return value
