"""The policy a rolling OS upgrade runs under, read from the scale set model as Azure reads it.

Automatic OS upgrades use the scale set's rollingUpgradePolicy only with useRollingUpgradePolicy
(or in Rolling mode); otherwise the documented defaults, 20/20/20. Rollback of instances that do not
turn healthy is automatic for platform-started runs unless disableAutomaticRollback, and for any
run with rollbackFailedInstancesOnPolicyBreach; a user-started run does not roll back otherwise.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from scaleset.model.durations import parse_duration
from scaleset.upgrade.planner import Policy

SERVICE_FABRIC_PUBLISHER = "microsoft.azure.servicefabric"
# A scale set asks for update-domain walking with this tag (or by carrying the Service Fabric extension).
WALK_TAG = "scaleset.updateDomainWalk"


def upgrade_policy_of(body: dict[str, Any]) -> dict[str, Any]:
    return ((body.get("properties") or {}).get("upgradePolicy")) or {}


def automatic_os_policy(body: dict[str, Any]) -> dict[str, Any]:
    return upgrade_policy_of(body).get("automaticOSUpgradePolicy") or {}


def effective_policy(body: dict[str, Any], *, started_by: str, health_wait: float) -> Policy:
    upgrade = upgrade_policy_of(body)
    automatic = upgrade.get("automaticOSUpgradePolicy") or {}
    rolling_given = upgrade.get("rollingUpgradePolicy") or {}
    use_rolling = bool(automatic.get("useRollingUpgradePolicy")) or str(upgrade.get("mode", "")).lower() == "rolling"
    rolling = rolling_given if use_rolling else {}
    platform = started_by == "Platform"
    rollback = (platform and not automatic.get("disableAutomaticRollback", False)) or bool(
        rolling_given.get("rollbackFailedInstancesOnPolicyBreach"))
    return Policy(
        max_batch_percent=int(rolling.get("maxBatchInstancePercent", 20)),
        max_unhealthy_percent=int(rolling.get("maxUnhealthyInstancePercent", 20)),
        max_unhealthy_upgraded_percent=int(rolling.get("maxUnhealthyUpgradedInstancePercent", 20)),
        pause_between_batches=parse_duration(rolling.get("pauseTimeBetweenBatches", "PT0S")),
        prioritize_unhealthy=bool(rolling.get("prioritizeUnhealthyInstances", False)),
        cross_zone=bool(rolling.get("enableCrossZoneUpgrade", False)),
        walk_update_domains=walks_update_domains(body),
        rollback=rollback,
        health_wait=health_wait,
        defer=platform and bool(automatic.get("osRollingUpgradeDeferral", False)),
        max_surge=bool(rolling.get("maxSurge", False)),
    )


def walks_update_domains(body: dict[str, Any]) -> bool:
    """Service Fabric style: batches walk one update domain at a time."""
    if str((body.get("tags") or {}).get(WALK_TAG, "")).lower() == "true":
        return True
    profile = (body.get("properties") or {}).get("virtualMachineProfile") or {}
    extensions = (profile.get("extensionProfile") or {}).get("extensions") or []
    return any(str((e.get("properties") or {}).get("publisher", "")).lower() == SERVICE_FABRIC_PUBLISHER for e in extensions)


def policy_json(policy: Policy) -> dict[str, Any]:
    return asdict(policy)


def policy_from_json(data: dict[str, Any]) -> Policy:
    return Policy(**data)


def as_arm(policy: Policy) -> dict[str, Any]:
    """The policy in ARM's RollingUpgradePolicy shape, defaults filled in (rollingUpgrades/latest)."""
    seconds = int(policy.pause_between_batches)
    return {
        "maxBatchInstancePercent": policy.max_batch_percent,
        "maxUnhealthyInstancePercent": policy.max_unhealthy_percent,
        "maxUnhealthyUpgradedInstancePercent": policy.max_unhealthy_upgraded_percent,
        "pauseTimeBetweenBatches": f"PT{seconds}S",
        "prioritizeUnhealthyInstances": policy.prioritize_unhealthy,
        "enableCrossZoneUpgrade": policy.cross_zone,
        "rollbackFailedInstancesOnPolicyBreach": policy.rollback,
        "maxSurge": policy.max_surge,
    }
