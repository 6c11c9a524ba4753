"""JSON values as ARM's expression language treats them (Python bool is an int; ARM's is not)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

Json = Any


def is_int(value: Json) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def type_name(value: Json) -> str:
    """The JSON token type name ARM puts in its messages."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "Object"


def json_equal(left: Json, right: Json) -> bool:
    """Deep equality that, unlike ==, never takes true for 1; object key order does not matter."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if type(left) is not type(right) and not (is_number(left) and is_number(right)):
        return False
    return bool(left == right)


def is_number(value: Json) -> bool:
    return is_int(value) or isinstance(value, float)


def compact_json(value: Json) -> str:
    """Objects and arrays turned into text the way ARM's string() does: no whitespace."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def dotnet_string(value: Json) -> str:
    """A scalar as .NET prints it: ARM's concat(true()) gives 'True', concat(null()) gives ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def find_key(obj: Mapping[str, Json], name: str) -> str | None:
    """The key of obj that name means: ARM property names are case-insensitive."""
    if name in obj:
        return name
    folded = name.casefold()
    return next((key for key in obj if key.casefold() == folded), None)


def get_member(obj: Mapping[str, Json], name: str, default: Json = None) -> Json:
    key = find_key(obj, name)
    return default if key is None else obj[key]
