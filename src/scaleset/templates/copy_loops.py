"""The shapes of ARM copy loops, checked: resource copy, property/variable copy arrays, output copy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scaleset.templates.errors import invalid_template
from scaleset.templates.json_paths import item, member
from scaleset.templates.json_values import Json, get_member, is_int, type_name

MAX_COPY_COUNT = 800


@dataclass(frozen=True)
class PropertyLoop:
    """One element of a 'copy' array: it makes the array property (or variable) named name."""

    name: str
    count: Json  # unevaluated
    input: Json  # unevaluated, evaluated once per index
    path: str


@dataclass(frozen=True)
class ResourceLoop:
    name: str
    count: Json
    serial: bool
    batch_size: Json  # unevaluated; None when not given
    path: str


def property_loops(raw: Json, path: str) -> list[PropertyLoop]:
    if not isinstance(raw, list):
        raise invalid_template(f"The copy property must be an array of copy loops; it is of type "
                               f"'{type_name(raw)}'.", path)
    loops = []
    for index, loop in enumerate(raw):
        loop_path = item(path, index)
        if not isinstance(loop, Mapping):
            raise invalid_template("A copy loop must be an object with 'name', 'count' and 'input'.", loop_path)
        for key in ("name", "count", "input"):
            if get_member(loop, key) is None:
                raise invalid_template(f"The copy loop must have the property '{key}'.", member(loop_path, key))
        loops.append(PropertyLoop(_loop_name(get_member(loop, "name"), loop_path), get_member(loop, "count"),
                                  get_member(loop, "input"), loop_path))
    return loops


def resource_loop(raw: Json, path: str) -> ResourceLoop:
    if not isinstance(raw, Mapping):
        raise invalid_template("The resource copy property must be an object with 'name' and 'count'.", path)
    for key in ("name", "count"):
        if get_member(raw, key) is None:
            raise invalid_template(f"The copy loop must have the property '{key}'.", member(path, key))
    mode = get_member(raw, "mode", "Parallel")
    if not isinstance(mode, str) or mode.lower() not in ("serial", "parallel"):
        raise invalid_template(f"The copy mode '{mode}' is not valid: it must be 'Serial' or 'Parallel'.",
                               member(path, "mode"))
    return ResourceLoop(_loop_name(get_member(raw, "name"), path), get_member(raw, "count"),
                        mode.lower() == "serial", get_member(raw, "batchSize"), path)


def checked_count(value: Json, path: str) -> int:
    if not is_int(value) or not 0 <= value <= MAX_COPY_COUNT:
        raise invalid_template(f"The copy count '{value}' is not valid: it must be an integer from 0 to "
                               f"{MAX_COPY_COUNT}.", path)
    return int(value)


def checked_batch_size(value: Json, path: str) -> int:
    if not is_int(value) or value < 1:
        raise invalid_template(f"The copy batchSize '{value}' is not valid: it must be a positive integer.", path)
    return int(value)


def _loop_name(name: Json, path: str) -> str:
    if not isinstance(name, str) or not name:
        raise invalid_template("The copy loop name must be a non-empty string.", member(path, "name"))
    return name
