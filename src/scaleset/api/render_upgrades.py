"""Rolling upgrade responses: rollingUpgrades/latest, osUpgradeHistory, and the dry-run plan."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from scaleset.api.api_versions import at_least
from scaleset.api.render import iso, scale_set_id
from scaleset.model.durations import format_duration
from scaleset.model.image_reference import ImageReference
from scaleset.upgrade.policy import as_arm, policy_from_json

ROLLING_UPGRADES_TYPE = "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades"


def running_code(state: str, api_version: str) -> str:
    """RollingBack exists from 2026-04-01; older clients know the run as still rolling."""
    if state == "RollingBack" and not at_least(api_version, "2026-04-01"):
        return "RollingForward"
    return state


def last_action(run: sa.Row[Any]) -> str:
    """RollingUpgradeActionType knows Start and Cancel only; a pause or resume (ours) steers a started run."""
    if run.last_action in ("Start", "Cancel"):
        return run.last_action
    return "Cancel" if run.cancel_requested else "Start"


def latest(scale_set: sa.Row[Any], run: sa.Row[Any], counts: dict[str, int], api_version: str, *,
           awaiting_approval: list[int] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    status: dict[str, Any] = {
        "code": running_code(run.state, api_version),
        "startTime": iso(run.started_at),
        "lastAction": last_action(run),
        "lastActionTime": iso(run.last_action_time),
    }
    if run.paused and run.state == "RollingForward":
        status["paused"] = True  # ours: the run holds between batches until resumed
    properties: dict[str, Any] = {
        "policy": as_arm(policy_from_json(run.policy)),
        "runningStatus": status,
        "progress": counts,
    }
    if awaiting_approval:
        # Ours: osRollingUpgradeDeferral holds the batch until these instances are approved.
        properties["awaitingApproval"] = [str(i) for i in awaiting_approval]
    if run.error:
        properties["error"] = run.error
    return {
        "id": f"{scale_set_id(scale_set)}/rollingUpgrades/latest",
        "name": "latest",
        "type": ROLLING_UPGRADES_TYPE,
        "location": scale_set.location,
        "properties": properties,
    }


def history_item(scale_set: sa.Row[Any], run: sa.Row[Any], counts: dict[str, int], api_version: str) -> dict[str, Any]:
    """One entry of osUpgradeHistory, in the seed's shape."""
    target = ImageReference.from_urn(run.target_urn)
    model_ref = (((scale_set.body.get("properties") or {}).get("virtualMachineProfile") or {}).get("storageProfile") or {}).get(
        "imageReference") or {}
    running: dict[str, Any] = {"code": running_code(run.state, api_version), "startTime": iso(run.started_at)}
    if run.ended_at:
        running["endTime"] = iso(run.ended_at)
    properties: dict[str, Any] = {
        "runningStatus": running,
        "progress": counts,
        "startedBy": run.started_by,
        "targetImageReference": {"publisher": target.publisher, "offer": target.offer, "sku": target.sku,
                                 "version": model_ref.get("version", target.version), "exactVersion": target.version},
        "rollbackInfo": run.rollback_info,
    }
    if run.error:
        properties["error"] = run.error
    return {"properties": properties, "type": ROLLING_UPGRADES_TYPE, "location": scale_set.location}


def dry_run(result: dict[str, Any]) -> dict[str, Any]:
    """POST osRollingUpgrade?dryRun=true: the exact plan; nothing changed."""
    target: ImageReference = result["target"]
    plan = result["plan"]
    body: dict[str, Any] = {
        "dryRun": True,
        "targetImageReference": {"publisher": target.publisher, "offer": target.offer, "sku": target.sku,
                                 "exactVersion": target.version},
        "policy": as_arm(result["policy"]),
        "batches": [{"index": i, "instanceIds": [str(x) for x in ids]} for i, ids in enumerate(plan.batches)],
        "skipped": [{"instanceId": str(i), "reason": why} for i, why in sorted(plan.skipped.items())],
        "expectedDuration": format_duration(plan.expected_seconds),
        "expectedDurationSeconds": plan.expected_seconds,
        "estimateBasis": result["estimate_basis"],
    }
    if plan.blocked is not None:
        body["blocked"] = {"code": plan.blocked.code, "message": plan.blocked.message}
    return body
