"""az's generic update over plain ARM JSON: `--set a.b[0].c=value` and `--remove a.b`.

Pure functions: each takes a document and returns a changed deep copy, never touching its input.

Matching follows what az did when its SDK models stood between the path and the wire (az <= 2.80):
- keys match case-insensitively (an exact match wins), so `UpgradePolicy` finds `upgradePolicy`;
- a key missing at one level is also looked up in that level's `properties` object, because the SDK
  models flatten ARM's `properties` envelope away (`--set upgradePolicy.mode=...` on a scale set);
- a key found nowhere is created, with the casing given, in the object being walked;
- `[3]` indexes a list (negative from the end), `[name=web]` picks the list element whose `name`
  is `web`; lists are never grown by indexing.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Index",
    "Key",
    "Match",
    "PathError",
    "apply_updates",
    "get_value",
    "parse_path",
    "parse_value",
    "remove_value",
    "removal_paths",
    "set_value",
    "split_assignment",
]


class PathError(ValueError):
    """A path that does not parse, or does not fit the document."""


@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class Index:
    position: int


@dataclass(frozen=True)
class Match:
    key: str
    value: str


Step = Key | Index | Match

_NAME_STOPS = frozenset(".[]=")
_INTEGER = re.compile(r"-?[0-9]+")


def parse_path(path: str) -> list[Step]:
    """`a.b[0].c[name=x]` -> [Key a, Key b, Index 0, Key c, Match name=x]."""
    steps: list[Step] = []
    position = 0
    expect_name = True
    while position < len(path):
        if expect_name:
            end = position
            while end < len(path) and path[end] not in _NAME_STOPS:
                end += 1
            if end == position:
                raise PathError(f"expected a property name at position {position} of {path!r}")
            steps.append(Key(path[position:end]))
            position = end
            expect_name = False
        elif path[position] == ".":
            position += 1
            expect_name = True
        elif path[position] == "[":
            close = path.find("]", position)
            if close < 0:
                raise PathError(f"unclosed '[' at position {position} of {path!r}")
            steps.append(_parse_bracket(path[position + 1 : close], path))
            position = close + 1
        else:
            raise PathError(f"unexpected {path[position]!r} at position {position} of {path!r}")
    if expect_name:
        raise PathError(f"{path!r} is empty or ends with '.'" if path else "empty path")
    return steps


def split_assignment(expression: str) -> tuple[str, str]:
    """`a[name=x].b=1=2` -> ('a[name=x].b', '1=2'): the first '=' outside brackets splits."""
    depth = 0
    for position, char in enumerate(expression):
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        elif char == "=" and depth == 0:
            if position == 0:
                raise PathError(f"{expression!r} has no path before '='")
            return expression[:position], expression[position + 1 :]
    raise PathError(f"expected PATH=VALUE, got {expression!r}")


def parse_value(text: str, *, force_string: bool = False) -> Any:
    """JSON when the text is JSON (`true`, `5`, `{"a": 1}`), else the text itself, as az does."""
    if force_string:
        return text
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return text


def get_value(document: Any, path: str | Sequence[Step]) -> Any:
    steps = _steps(path)
    return _walk(document, steps, _text(path), create=False)


def set_value(document: Any, path: str | Sequence[Step], value: Any) -> Any:
    steps = _steps(path)
    result = copy.deepcopy(document)
    parent = _walk(result, steps[:-1], _text(path), create=True)
    _assign(parent, steps[-1], copy.deepcopy(value), _text(path))
    return result


def remove_value(document: Any, path: str | Sequence[Step]) -> Any:
    steps = _steps(path)
    result = copy.deepcopy(document)
    parent = _walk(result, steps[:-1], _text(path), create=False)
    last = steps[-1]
    if isinstance(last, Key):
        holder, key = _require_key(parent, last.name, _text(path))
        del holder[key]
    else:
        del parent[_list_position(parent, last, _text(path))]
    return result


def removal_paths(tokens: Iterable[str]) -> list[str]:
    """az's `--remove` arguments as paths: `a.b 0` (list then index) becomes `a.b[0]`."""
    paths: list[str] = []
    for token in tokens:
        if paths and _is_integer(token):
            paths[-1] = f"{paths[-1]}[{int(token)}]"
        else:
            paths.append(token)
    return paths


def apply_updates(
    document: Any,
    *,
    sets: Iterable[str] = (),
    removes: Iterable[str] = (),
    force_string: bool = False,
) -> Any:
    """Every `--set PATH=VALUE` in order, then every `--remove`, as `az ... update` applies them."""
    result = document
    for expression in sets:
        path, raw = split_assignment(expression)
        result = set_value(result, path, parse_value(raw, force_string=force_string))
    for path in removal_paths(removes):
        result = remove_value(result, path)
    return result


# -- walking -------------------------------------------------------------------------------------


def _walk(root: Any, steps: Sequence[Step], path: str, *, create: bool) -> Any:
    current = root
    for step in steps:
        current = _child(current, step, path, create=create)
    return current


def _child(container: Any, step: Step, path: str, *, create: bool) -> Any:
    if not isinstance(step, Key):
        return container[_list_position(container, step, path)]
    if not isinstance(container, dict):
        raise PathError(f"cannot look up {step.name!r} in {path!r}: found {_kind(container)}")
    found = _resolve_key(container, step.name)
    if found is None:
        if not create:
            raise PathError(f"{step.name!r} not found while following {path!r}")
        container[step.name] = {}
        return container[step.name]
    holder, key = found
    if holder[key] is None and create:
        holder[key] = {}  # null in JSON is an absent object: give --set somewhere to write
    return holder[key]


def _assign(parent: Any, step: Step, value: Any, path: str) -> None:
    if not isinstance(step, Key):
        parent[_list_position(parent, step, path)] = value
        return
    if not isinstance(parent, dict):
        raise PathError(f"cannot set {step.name!r} in {path!r}: found {_kind(parent)}")
    found = _resolve_key(parent, step.name)
    holder, key = found if found is not None else (parent, step.name)
    holder[key] = value


def _resolve_key(mapping: dict[str, Any], name: str) -> tuple[dict[str, Any], str] | None:
    """The object and exact key holding `name`: here, else in this object's `properties`."""
    key = _find_key(mapping, name)
    if key is not None:
        return mapping, key
    properties = mapping.get("properties")
    if isinstance(properties, dict):
        key = _find_key(properties, name)
        if key is not None:
            return properties, key
    return None


def _require_key(mapping: Any, name: str, path: str) -> tuple[dict[str, Any], str]:
    found = _resolve_key(mapping, name) if isinstance(mapping, dict) else None
    if found is None:
        raise PathError(f"{name!r} not found while following {path!r}")
    return found


def _find_key(mapping: dict[str, Any], name: str) -> str | None:
    if name in mapping:
        return name
    folded = name.casefold()
    for key in mapping:
        if isinstance(key, str) and key.casefold() == folded:
            return key
    return None


def _list_position(container: Any, step: Step, path: str) -> int:
    if not isinstance(container, list):
        raise PathError(f"{_step_text(step)} in {path!r} needs a list, found {_kind(container)}")
    if isinstance(step, Index):
        if not -len(container) <= step.position < len(container):
            raise PathError(
                f"index {step.position} in {path!r} is out of range (the list has {len(container)})"
            )
        return step.position % len(container)
    assert isinstance(step, Match)
    for position, item in enumerate(container):
        if isinstance(item, dict):
            key = _find_key(item, step.key)
            if key is not None and _same(item[key], step.value):
                return position
    raise PathError(f"no element with {step.key}={step.value} in {path!r}")


def _same(actual: Any, wanted: str) -> bool:
    # `[lun=0]` must match the integer 0 and `[primary=true]` the boolean: compare as JSON too.
    return actual == wanted or (not isinstance(actual, str) and json.dumps(actual) == wanted)


# -- parsing helpers -----------------------------------------------------------------------------


def _parse_bracket(content: str, path: str) -> Step:
    if _is_integer(content):
        return Index(int(content))
    key, equals, value = content.partition("=")
    if equals and key.strip():
        return Match(key.strip(), value.strip())
    raise PathError(f"[{content}] in {path!r} must be an index like [0] or a match like [name=x]")


def _steps(path: str | Sequence[Step]) -> list[Step]:
    steps = parse_path(path) if isinstance(path, str) else list(path)
    if not steps:
        raise PathError("empty path")
    return steps


def _text(path: str | Sequence[Step]) -> str:
    return path if isinstance(path, str) else "".join(_step_text(step) for step in path)


def _step_text(step: Step) -> str:
    if isinstance(step, Key):
        return f".{step.name}"
    if isinstance(step, Index):
        return f"[{step.position}]"
    return f"[{step.key}={step.value}]"


def _is_integer(text: str) -> bool:
    return _INTEGER.fullmatch(text.strip()) is not None


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), f"a {type(value).__name__}")


def _reject_constant(name: str) -> Any:
    # NaN and Infinity parse in Python but are not JSON: the server would refuse the body.
    raise ValueError(name)
