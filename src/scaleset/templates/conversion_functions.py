"""Conversions: int(), string(), bool(), json()."""

from __future__ import annotations

import json
import re

from scaleset.templates.context import EvaluationContext
from scaleset.templates.function_registry import FunctionSpec, function_error, string_argument, type_error
from scaleset.templates.json_values import Json, compact_json, dotnet_string, is_int

_INTEGER_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")


def _int(ctx: EvaluationContext, args: list[Json]) -> int:
    value = args[0]
    if is_int(value):
        return int(value)
    if not isinstance(value, str):
        raise type_error("int", "an integer or a string", value)
    if not _INTEGER_TEXT.match(value):
        raise function_error("int", f"the value '{value}' cannot be converted to an integer.")
    return int(value)


def _string(ctx: EvaluationContext, args: list[Json]) -> str:
    value = args[0]
    return compact_json(value) if isinstance(value, (dict, list)) else dotnet_string(value)


def _bool(ctx: EvaluationContext, args: list[Json]) -> bool:
    value = args[0]
    if isinstance(value, bool):
        return value
    if is_int(value):
        return bool(value != 0)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise function_error("bool", f"the value '{_string(ctx, [value])}' cannot be converted to a boolean.")


def _json(ctx: EvaluationContext, args: list[Json]) -> Json:
    text = string_argument("json", args)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise function_error("json", f"the value '{text}' is not valid JSON.") from None


FUNCTIONS = [
    FunctionSpec("int", 1, 1, _int),
    FunctionSpec("string", 1, 1, _string),
    FunctionSpec("bool", 1, 1, _bool),
    FunctionSpec("json", 1, 1, _json),
]
