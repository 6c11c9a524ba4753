"""The template's resources looked up the ways a template names them: by id, by name, by copy loop."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from scaleset.templates.arm_ids import group_resource_id, id_key
from scaleset.templates.scope import Scope

if TYPE_CHECKING:
    from scaleset.templates.resources import PlannedResource


class ResourceDirectory:
    def __init__(self, scope: Scope, resources: Sequence[PlannedResource], loop_names: Iterable[str]) -> None:
        self._scope = scope
        self._by_id = {id_key(resource.id): resource for resource in resources}
        self._by_name: dict[str, list[PlannedResource]] = {}
        for resource in resources:
            self._by_name.setdefault(resource.name.lower(), []).append(resource)
        # Every declared loop, including those whose count is 0: depending on an empty loop is fine.
        self._by_loop: dict[str, list[PlannedResource]] = {name.lower(): [] for name in loop_names}
        for resource in resources:
            if resource.loop:
                self._by_loop[resource.loop.lower()].append(resource)

    def by_id(self, resource_id: str) -> PlannedResource | None:
        return self._by_id.get(id_key(resource_id))

    def named(self, name: str) -> list[PlannedResource]:
        return self._by_name.get(name.lower(), [])

    def matching(self, reference: str) -> list[PlannedResource] | None:
        """The resources a dependsOn entry means, or None when it names nothing in the template.

        An entry is a resource id, a 'Namespace/type/name' id within the group, a resource name, or a
        copy loop name (meaning every instance of the loop).
        """
        as_id = reference if reference.startswith("/") else self.typed_id(reference)
        found = self.by_id(as_id) if as_id else None
        if found:
            return [found]
        if reference.startswith("/"):
            return None
        matches = self.named(reference) + self._by_loop.get(reference.lower(), [])
        if matches or reference.lower() in self._by_loop:
            return matches
        return None

    def typed_id(self, reference: str) -> str | None:
        """'Microsoft.Network/loadBalancers/lb1' as a full id in this resource group, if it has that shape."""
        parts = reference.strip("/").split("/")
        if len(parts) < 3 or len(parts) % 2 == 0:
            return None
        full_type = "/".join([parts[0]] + parts[1::2])
        return group_resource_id(self._scope.subscription_id, self._scope.group_name, full_type, parts[2::2])
