"""Array and object functions: length, contains, first/last, take/skip, union, createArray/Object..."""

from __future__ import annotations

from scaleset.templates.context import EvaluationContext
from scaleset.templates.function_registry import FunctionSpec, function_error, int_argument, string_argument, type_error
from scaleset.templates.json_values import Json, find_key, json_equal


def _length(ctx: EvaluationContext, args: list[Json]) -> int:
    value = args[0]
    if value is None:
        return 0
    if not isinstance(value, (str, list, dict)):
        raise type_error("length", "an array, object, or a string", value)
    return len(value)


def _empty(ctx: EvaluationContext, args: list[Json]) -> bool:
    value = args[0]
    if value is None:
        return True
    if not isinstance(value, (str, list, dict)):
        raise type_error("empty", "an array, object, or a string", value)
    return len(value) == 0


def _contains(ctx: EvaluationContext, args: list[Json]) -> bool:
    container, item = args
    if isinstance(container, list):
        return any(json_equal(element, item) for element in container)
    if isinstance(container, dict):  # object keys compare case-insensitively, like every ARM property name
        return find_key(container, string_argument("contains", args, 1)) is not None
    if isinstance(container, str):  # substrings compare case-sensitively
        return string_argument("contains", args, 1) in container
    raise type_error("contains", "an array, object, or a string", container, 0)


def _first(ctx: EvaluationContext, args: list[Json]) -> Json:
    return _end("first", args[0], 0)


def _last(ctx: EvaluationContext, args: list[Json]) -> Json:
    return _end("last", args[0], -1)


def _end(function: str, value: Json, position: int) -> Json:
    if value is None:
        return None
    if isinstance(value, list):
        return value[position] if value else None
    if isinstance(value, str):
        return value[position] if value else ""
    raise type_error(function, "an array or a string", value)


def _take(ctx: EvaluationContext, args: list[Json]) -> Json:
    return _slice("take", args, take=True)


def _skip(ctx: EvaluationContext, args: list[Json]) -> Json:
    return _slice("skip", args, take=False)


def _slice(function: str, args: list[Json], *, take: bool) -> Json:
    value = args[0]
    count = max(int_argument(function, args, 1), 0)
    if value is None:
        return None
    if not isinstance(value, (list, str)):
        raise type_error(function, "an array or a string", value, 0)
    return value[:count] if take else value[count:]


def _same_kind(function: str, args: list[Json]) -> type:
    kinds = {type(arg) for arg in args}
    if len(kinds) != 1 or not (kinds <= {list} or kinds <= {dict}):
        raise function_error(function, "the parameters must be all arrays or all objects.")
    return kinds.pop()


def _union(ctx: EvaluationContext, args: list[Json]) -> Json:
    if _same_kind("union", args) is list:
        merged: list[Json] = []
        for element in (e for arg in args for e in arg):
            if not any(json_equal(element, kept) for kept in merged):
                merged.append(element)
        return merged
    result: dict[str, Json] = {}
    for arg in args:
        result = _merge(result, arg)
    return result


def _merge(base: dict[str, Json], patch: dict[str, Json]) -> dict[str, Json]:
    """ARM's union of objects: later values win, nested objects merge (arrays do not)."""
    merged = dict(base)
    for key, value in patch.items():
        existing = find_key(merged, key)
        if existing is not None and isinstance(merged[existing], dict) and isinstance(value, dict):
            merged[existing] = _merge(merged[existing], value)
        else:
            if existing is not None:
                del merged[existing]
            merged[key] = value
    return merged


def _intersection(ctx: EvaluationContext, args: list[Json]) -> Json:
    first, rest = args[0], args[1:]
    if _same_kind("intersection", args) is list:
        common: list[Json] = []
        for element in first:
            if all(any(json_equal(element, other) for other in arg) for arg in rest) and \
                    not any(json_equal(element, kept) for kept in common):
                common.append(element)
        return common
    return {key: value for key, value in first.items()
            if all(key in arg and json_equal(arg[key], value) for arg in rest)}


def _create_array(ctx: EvaluationContext, args: list[Json]) -> list[Json]:
    return list(args)


def _create_object(ctx: EvaluationContext, args: list[Json]) -> dict[str, Json]:
    if len(args) % 2:
        raise function_error("createObject", f"the function expects an even number of parameters but received "
                                             f"'{len(args)}'.")
    result: dict[str, Json] = {}
    for position in range(0, len(args), 2):
        key = string_argument("createObject", args, position)
        if find_key(result, key) is not None:
            raise function_error("createObject", f"the property name '{key}' is given more than once.")
        result[key] = args[position + 1]
    return result


def _array(ctx: EvaluationContext, args: list[Json]) -> list[Json]:
    return args[0] if isinstance(args[0], list) else [args[0]]


def _coalesce(ctx: EvaluationContext, args: list[Json]) -> Json:
    return next((arg for arg in args if arg is not None), None)


def _items(ctx: EvaluationContext, args: list[Json]) -> list[Json]:
    value = args[0]
    if not isinstance(value, dict):
        raise type_error("items", "an object", value)
    return [{"key": key, "value": value[key]} for key in sorted(value, key=str.casefold)]


def _join(ctx: EvaluationContext, args: list[Json]) -> str:
    values, delimiter = args[0], string_argument("join", args, 1)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise type_error("join", "an array of strings", values, 0)
    return delimiter.join(values)


FUNCTIONS = [
    FunctionSpec("length", 1, 1, _length),
    FunctionSpec("empty", 1, 1, _empty),
    FunctionSpec("contains", 2, 2, _contains),
    FunctionSpec("first", 1, 1, _first),
    FunctionSpec("last", 1, 1, _last),
    FunctionSpec("take", 2, 2, _take),
    FunctionSpec("skip", 2, 2, _skip),
    FunctionSpec("union", 2, None, _union),
    FunctionSpec("intersection", 2, None, _intersection),
    FunctionSpec("createArray", 0, None, _create_array),
    FunctionSpec("createObject", 0, None, _create_object),
    FunctionSpec("array", 1, 1, _array),
    FunctionSpec("coalesce", 1, None, _coalesce),
    FunctionSpec("items", 1, 1, _items),
    FunctionSpec("join", 2, 2, _join),
]
