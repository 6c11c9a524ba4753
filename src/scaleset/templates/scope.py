"""Where a deployment runs: the subscription, resource group and deployment name its expressions see."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    subscription_id: str
    group_name: str
    group_location: str
    deployment_name: str
    tenant_id: str = "00000000-0000-0000-0000-000000000000"
    subscription_name: str = "scaleset"

    @property
    def subscription_resource_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    @property
    def group_id(self) -> str:
        return f"{self.subscription_resource_id}/resourceGroups/{self.group_name}"
