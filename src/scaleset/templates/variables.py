"""Template variables: evaluated lazily when first used, so they may use each other in any order.

A variable may be any JSON with expressions, may hold property-style 'copy' arrays, and the
variables section may itself have a 'copy' array whose loops each define an array variable.
Cycles between variables are reported instead of recursing forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scaleset.templates.context import CopyPosition, Deferred, EvaluationContext
from scaleset.templates.copy_loops import PropertyLoop, property_loops
from scaleset.templates.errors import invalid_template
from scaleset.templates.evaluator import evaluate_tree, expand_loop
from scaleset.templates.json_paths import member
from scaleset.templates.json_values import Json


@dataclass(frozen=True)
class VariableDefinition:
    name: str
    value: Json  # unevaluated; unused when loop is set
    path: str
    loop: PropertyLoop | None = None


def read_variables(template: Mapping[str, Json]) -> dict[str, VariableDefinition]:
    """The template's variables by lower-cased name (ARM names are case-insensitive)."""
    definitions: dict[str, VariableDefinition] = {}

    def add(definition: VariableDefinition) -> None:
        if definition.name.lower() in definitions:
            raise invalid_template(f"The template variable '{definition.name}' is defined more than once.",
                                   definition.path)
        definitions[definition.name.lower()] = definition

    for name, value in (template.get("variables") or {}).items():
        path = member("variables", name)
        if name.lower() == "copy":
            for loop in property_loops(value, path):
                add(VariableDefinition(loop.name, None, loop.path, loop))
        else:
            add(VariableDefinition(name, value, path))
    return definitions


class VariableTable:
    """The variables' values for one evaluation session, each computed once.

    In a dry run a value that needs a deployed resource is not kept: it is computed again (and
    again defers) wherever it is used, so every use records the resources it reads.
    """

    def __init__(self, definitions: Mapping[str, VariableDefinition], known: Mapping[str, Json] | None = None) -> None:
        self._definitions = definitions
        self._values: dict[str, Json] = dict(known or {})
        self._evaluating: list[str] = []

    @property
    def values(self) -> Mapping[str, Json]:
        """The values computed so far, by lower-cased name: those that need no deployed resource."""
        return self._values

    def get(self, name: str, ctx: EvaluationContext) -> Json:
        """What variables('name') returns."""
        key = name.lower()
        if key in self._values:
            return self._values[key]
        definition = self._definitions.get(key)
        if definition is None:
            raise invalid_template(f"The template variable '{name}' is not found. Please see "
                                   "https://aka.ms/arm-syntax-variables for usage details.")
        if key in self._evaluating:
            chain = " -> ".join(self._definitions[k].name for k in self._evaluating[self._evaluating.index(key):])
            raise invalid_template(f"The template variable '{definition.name}' has a circular reference: "
                                   f"{chain} -> {definition.name}.", definition.path)
        recorder = ctx.dry_run
        deferred_before = len(recorder.ids) if recorder else 0
        self._evaluating.append(key)
        try:
            value = self._evaluate(definition, ctx.at(CopyPosition()))  # variables see no resource's loop
        finally:
            self._evaluating.pop()
        if recorder and len(recorder.ids) != deferred_before:
            raise Deferred(definition.name)
        self._values[key] = value
        return value

    def evaluate_all(self, ctx: EvaluationContext) -> None:
        """Evaluates every variable, to find their errors before deployment."""
        for key in self._definitions:
            try:
                self.get(key, ctx)
            except Deferred:
                pass  # needs a deployed resource: evaluated where it is used

    def _evaluate(self, definition: VariableDefinition, ctx: EvaluationContext) -> Json:
        if definition.loop is not None:
            return expand_loop(definition.loop, ctx)
        return evaluate_tree(definition.value, ctx, definition.path, expand_copies=True)
