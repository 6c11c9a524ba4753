"""Deployment order: dependsOn resolved, implicit dependencies found, cycles refused, layers formed.

A resource waits for what its dependsOn names (a resource id, a 'Namespace/type/name', a resource
name or a copy loop name), for its parent when nested, for the previous batch of a serial copy
loop, and for every template resource its body reads with reference(): a dry run of the body
records those reads.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import replace

from scaleset.templates.arm_ids import id_key
from scaleset.templates.context import EvaluationContext, ReferenceRecorder, ResourceAccess
from scaleset.templates.errors import invalid_template
from scaleset.templates.evaluator import evaluate_tree
from scaleset.templates.json_paths import item, member
from scaleset.templates.json_values import find_key
from scaleset.templates.resource_body import evaluate_body
from scaleset.templates.resource_directory import ResourceDirectory
from scaleset.templates.resources import PlannedResource

_SYNTAX_HELP = "Please see https://aka.ms/arm-syntax for usage details."


def add_dependencies(resources: Sequence[PlannedResource], directory: ResourceDirectory,
                     ctx: EvaluationContext) -> None:
    """Completes each resource's depends_on. ctx has no resource access: dependsOn can't use reference()."""
    for resource in resources:
        found = list(resource.depends_on)
        found += [target.id for target in _declared(resource, directory, ctx.at(resource.copy_index))]
        if resource.condition:  # a resource that is not deployed is not evaluated either
            found += _read_by_body(resource, directory, ctx)
        resource.depends_on = list(dict.fromkeys(found))


def _declared(resource: PlannedResource, directory: ResourceDirectory, ctx: EvaluationContext) -> list[PlannedResource]:
    key = find_key(resource.definition, "dependsOn")
    if key is None:
        return []
    path = member(resource.path, key)
    entries = evaluate_tree(resource.definition[key], ctx, path)
    if not isinstance(entries, list):
        raise invalid_template("The template resource property 'dependsOn' must be an array.", path)
    targets: list[PlannedResource] = []
    for index, entry in enumerate(entries):
        entry_path = item(path, index)
        matches = directory.matching(entry) if isinstance(entry, str) else None
        if matches is None:
            raise invalid_template(f"The resource '{entry}' is not defined in the template. {_SYNTAX_HELP}",
                                   entry_path)
        # A name can also be the resource's own (a copy loop's name is shared by all its instances):
        # that does not make it wait for itself. An id naming itself does: that is a cycle.
        by_id = entry.startswith("/") or directory.typed_id(entry) is not None
        targets += [match for match in matches if by_id or match is not resource]
    return targets


def _read_by_body(resource: PlannedResource, directory: ResourceDirectory, ctx: EvaluationContext) -> list[str]:
    recorder = ReferenceRecorder()
    evaluate_body(resource, replace(ctx, resources=ResourceAccess(directory, recorder)).at(resource.copy_index))
    read = []
    for resource_id in recorder.ids:
        target = directory.by_id(resource_id)
        if target is resource:
            raise invalid_template(f"The template resource '{resource.name}' cannot reference itself. Please see "
                                   "https://aka.ms/arm-template-expressions/#reference for usage details.",
                                   resource.path)
        if target is not None:
            read.append(target.id)
    return read


def deployment_order(resources: Sequence[PlannedResource]) -> list[PlannedResource]:
    """A topological order that keeps template order wherever the dependencies leave a choice."""
    position = {id_key(resource.id): index for index, resource in enumerate(resources)}
    waiting_on = [{position[id_key(d)] for d in resource.depends_on} for resource in resources]
    dependents: list[list[int]] = [[] for _ in resources]
    for index, dependencies in enumerate(waiting_on):
        for dependency in dependencies:
            dependents[dependency].append(index)
    remaining = [len(dependencies) for dependencies in waiting_on]
    ready = [index for index, count in enumerate(remaining) if count == 0]
    heapq.heapify(ready)
    ordered: list[PlannedResource] = []
    while ready:
        index = heapq.heappop(ready)
        ordered.append(resources[index])
        for dependent in dependents[index]:
            remaining[dependent] -= 1
            if remaining[dependent] == 0:
                heapq.heappush(ready, dependent)
    if len(ordered) < len(resources):
        cycle = _a_cycle(resources, waiting_on, remaining)
        named = ", ".join(f"'{resources[i].id}'" for i in cycle)
        raise invalid_template(f"Circular dependency detected on resource: {named}. Please see "
                               "https://aka.ms/arm-template/#resources for usage details.", resources[cycle[0]].path)
    return ordered


def _a_cycle(resources: Sequence[PlannedResource], waiting_on: list[set[int]], remaining: list[int]) -> list[int]:
    """Walks from the first stuck resource along stuck dependencies until a resource repeats."""
    walk = [min(i for i, count in enumerate(remaining) if count > 0)]
    while True:
        step = min(d for d in waiting_on[walk[-1]] if remaining[d] > 0)
        if step in walk:
            return walk[walk.index(step):]
        walk.append(step)


def deployment_layers(ordered: Sequence[PlannedResource]) -> list[list[PlannedResource]]:
    """Groups that may deploy in parallel: each resource one layer after the latest it waits for."""
    layer_of: dict[str, int] = {}
    layers: list[list[PlannedResource]] = []
    for resource in ordered:
        layer = 1 + max((layer_of[id_key(d)] for d in resource.depends_on), default=-1)
        layer_of[id_key(resource.id)] = layer
        if layer == len(layers):
            layers.append([])
        layers[layer].append(resource)
    return layers
