"""What an expression sees while it is evaluated: parameters, variables, copy loops, deployed resources."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from scaleset.templates.json_values import Json
from scaleset.templates.scope import Scope

if TYPE_CHECKING:
    from scaleset.templates.resource_directory import ResourceDirectory

Reference = Callable[[str, "str | None", bool], "dict[str, Json]"]
"""(resource id, api version or None, full) -> the resource's GET body if full, else its properties.
The caller implements it and raises TemplateError(InvalidTemplateDeployment) when the resource is missing."""


class Deferred(Exception):
    """A dry run reached a value that only exists once resources are deployed (a reference())."""


class ReferenceRecorder:
    """Stands in for reference() in a dry run: notes which resource ids are read, then defers the value.

    Dry runs evaluate a resource before anything is deployed, to validate it and to learn which
    template resources it reads (its implicit dependencies).
    """

    def __init__(self) -> None:
        self.ids: list[str] = []

    def __call__(self, resource_id: str, api_version: str | None, full: bool) -> dict[str, Json]:
        self.ids.append(resource_id)
        raise Deferred(resource_id)


@dataclass(frozen=True)
class CopyPosition:
    """Where an evaluation is inside copy loops: loop name (lower-cased) -> index.

    current is the loop copyIndex() without a name counts: the resource's own loop (or, for a nested
    child, its parent's), or an output's loop.
    """

    indexes: Mapping[str, int] = field(default_factory=dict)
    current: str | None = None

    def index(self, loop: str | None) -> int | None:
        key = self.current if loop is None else loop.lower()
        return None if key is None else self.indexes.get(key)

    def entering(self, loop: str, index: int, *, current: bool = False) -> CopyPosition:
        key = loop.lower()
        return CopyPosition({**self.indexes, key: index}, key if current else self.current)


@dataclass(frozen=True)
class ResourceAccess:
    """Present only where reference() may be used: resource bodies and outputs."""

    directory: ResourceDirectory
    reference: Reference


@dataclass(frozen=True)
class EvaluationContext:
    scope: Scope
    deployment: Mapping[str, Json]
    parameter: Callable[[str], Json]
    variable: Callable[[str, EvaluationContext], Json] | None = None  # None in parameter defaults
    resources: ResourceAccess | None = None
    copy: CopyPosition = field(default_factory=CopyPosition)

    @property
    def dry_run(self) -> ReferenceRecorder | None:
        reference = self.resources.reference if self.resources else None
        return reference if isinstance(reference, ReferenceRecorder) else None

    def entering(self, loop: str, index: int, *, current: bool = False) -> EvaluationContext:
        return replace(self, copy=self.copy.entering(loop, index, current=current))

    def at(self, copy: CopyPosition) -> EvaluationContext:
        return replace(self, copy=copy)
