"""Template resources expanded into the instances a deployment creates.

Copy loops become one instance per index; nested child resources are lifted out of their parent's
'resources' array with their full type ('.../virtualMachineScaleSets/extensions') and full name
('vmss1/ext1') and an implicit dependency on their parent. Names, types, apiVersions, conditions
and copy counts are evaluated here, before anything is deployed, so reference() is not available.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from scaleset.templates.arm_ids import group_resource_id, id_key, name_segments, type_levels
from scaleset.templates.context import CopyPosition, EvaluationContext
from scaleset.templates.copy_loops import ResourceLoop, checked_batch_size, checked_count, resource_loop
from scaleset.templates.errors import TemplateError, invalid_template
from scaleset.templates.evaluator import evaluate_tree
from scaleset.templates.json_paths import item, member
from scaleset.templates.json_values import Json, find_key, type_name

_FULL_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]*(/[A-Za-z0-9][A-Za-z0-9\-]*)+$")
_CHILD_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]*$")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-[A-Za-z0-9.]+)*$")
_RESOURCES_HELP = "Please see https://aka.ms/arm-syntax-resources for usage details."


@dataclass
class PlannedResource:
    path: str  # JSON path of its definition: "resources[3]", or "resources[3].resources[0]" when nested
    type: str  # full type: "Microsoft.Compute/virtualMachineScaleSets/extensions"
    name: str  # full name: "vmss1/ext1"
    id: str
    api_version: str
    depends_on: list[str]  # ids of resources in the plan to wait for
    copy_index: CopyPosition  # its copy loop indexes, to evaluate its body later
    condition: bool  # false: skipped, not deployed
    loop: str | None = None  # the resource copy loop this is an instance of (not inherited by children)
    definition: Mapping[str, Json] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Expansion:
    resources: list[PlannedResource]
    loop_names: list[str]  # every resource copy loop declared, even those with a count of 0


def expand_resources(raw_resources: list[Json], ctx: EvaluationContext) -> Expansion:
    expansion = Expansion([], [])
    for index, raw in enumerate(raw_resources):
        _expand(raw, item("resources", index), None, ctx, expansion)
    _refuse_duplicates(expansion.resources)
    return expansion


def _expand(raw: Json, path: str, parent: PlannedResource | None, ctx: EvaluationContext,
            expansion: Expansion) -> None:
    if not isinstance(raw, Mapping):
        raise invalid_template(f"The template resource must be an object; it is of type '{type_name(raw)}'.", path)
    copy_key = find_key(raw, "copy")
    if copy_key is None:
        instances = [_instance(raw, path, parent, ctx, loop=None)]
    elif parent is not None:
        raise invalid_template("A nested child resource can't have a copy loop: define it as a top-level "
                               f"resource instead. {_RESOURCES_HELP}", member(path, copy_key))
    else:
        instances = _loop_instances(raw, path, ctx, resource_loop(raw[copy_key], member(path, copy_key)), expansion)
    children_key = find_key(raw, "resources")
    children = raw[children_key] if children_key is not None else []
    if not isinstance(children, list):
        raise invalid_template("The nested 'resources' of a resource must be an array.", member(path, "resources"))
    for instance in instances:
        expansion.resources.append(instance)
        for index, child in enumerate(children):
            _expand(child, item(member(path, "resources"), index), instance, ctx.at(instance.copy_index), expansion)


def _loop_instances(raw: Mapping[str, Json], path: str, ctx: EvaluationContext, loop: ResourceLoop,
                    expansion: Expansion) -> list[PlannedResource]:
    expansion.loop_names.append(loop.name)
    count_path = member(loop.path, "count")
    count = checked_count(evaluate_tree(loop.count, ctx, count_path), count_path)
    instances = [_instance(raw, path, None, ctx.entering(loop.name, index, current=True), loop=loop.name)
                 for index in range(count)]
    if loop.serial:
        # Serial: each batch waits for the whole batch before it (batchSize 1: one at a time).
        size_path = member(loop.path, "batchSize")
        batch = 1 if loop.batch_size is None else checked_batch_size(evaluate_tree(loop.batch_size, ctx, size_path),
                                                                      size_path)
        for index, instance in enumerate(instances):
            start = (index // batch - 1) * batch
            if start >= 0:
                instance.depends_on.extend(previous.id for previous in instances[start:start + batch])
    return instances


def _instance(raw: Mapping[str, Json], path: str, parent: PlannedResource | None, ctx: EvaluationContext,
              loop: str | None) -> PlannedResource:
    declared_type = _required_string(raw, "type", path, ctx)
    declared_name = _required_string(raw, "name", path, ctx)
    api_version = _required_string(raw, "apiVersion", path, ctx)
    if parent is not None and "/" not in declared_type:
        # A nested child spells only its own level: type "extensions", name "ext1".
        if not _CHILD_TYPE.match(declared_type):
            raise _bad_type(declared_name, declared_type, path)
        full_type = f"{parent.type}/{declared_type}"
        full_name = f"{parent.name}/{declared_name}"
    else:
        full_type, full_name = declared_type.strip("/"), declared_name
        if not _FULL_TYPE.match(full_type):
            raise _bad_type(declared_name, declared_type, path)
    if len(name_segments(full_name)) != len(type_levels(full_type)) - 1 or not all(name_segments(full_name)):
        raise invalid_template(f"The template resource '{full_name}' for type '{full_type}' at '{path}' has "
                               "incorrect segment lengths. A nested resource type must have identical number of "
                               "segments as its resource name. A root resource type must have segment length one "
                               f"greater than its resource name. {_RESOURCES_HELP}", member(path, "name"))
    if not _API_VERSION.match(api_version):
        raise invalid_template(f"The template resource '{full_name}' at '{path}' has an invalid apiVersion "
                               f"'{api_version}'. {_RESOURCES_HELP}", member(path, "apiVersion"))
    scope = ctx.scope
    resource_id = group_resource_id(scope.subscription_id, scope.group_name, full_type, name_segments(full_name))
    return PlannedResource(
        path=path, type=full_type, name=full_name, id=resource_id, api_version=api_version,
        depends_on=[parent.id] if parent is not None else [],
        copy_index=ctx.copy, condition=_condition(raw, path, ctx), loop=loop, definition=raw)


def _required_string(raw: Mapping[str, Json], key: str, path: str, ctx: EvaluationContext) -> str:
    actual_key = find_key(raw, key)
    if actual_key is None:
        raise invalid_template(f"The template resource at '{path}' must have the property '{key}'. "
                               f"{_RESOURCES_HELP}", path)
    value = evaluate_tree(raw[actual_key], ctx, member(path, actual_key))
    if not isinstance(value, str) or not value:
        raise invalid_template(f"The template resource property '{key}' must be a non-empty string; it is "
                               f"'{value}'. {_RESOURCES_HELP}", member(path, actual_key))
    return value


def _condition(raw: Mapping[str, Json], path: str, ctx: EvaluationContext) -> bool:
    key = find_key(raw, "condition")
    if key is None:
        return True
    value = evaluate_tree(raw[key], ctx, member(path, key))
    if not isinstance(value, bool):
        raise invalid_template(f"The template resource condition must be a boolean; it is of type "
                               f"'{type_name(value)}'.", member(path, key))
    return value


def _bad_type(name: str, declared_type: str, path: str) -> TemplateError:
    return invalid_template(f"The template resource '{name}' at '{path}' has an invalid type '{declared_type}': "
                            f"expected 'Namespace/type' (or a child type name when nested). {_RESOURCES_HELP}",
                            member(path, "type"))


def _refuse_duplicates(resources: list[PlannedResource]) -> None:
    """Two deployed resources with one id would overwrite each other; ARM refuses the template."""
    seen: set[str] = set()
    for resource in resources:
        if not resource.condition:
            continue
        key = id_key(resource.id)
        if key in seen:
            raise invalid_template(f"The resource '{resource.id}' is defined multiple times in a template. "
                                   f"{_RESOURCES_HELP}", resource.path)
        seen.add(key)

