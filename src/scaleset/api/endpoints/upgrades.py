"""Rolling OS upgrades: start (and dry-run), cancel, pause, resume, latest status, history; and the
admin call that puts an instance under platform maintenance."""

from __future__ import annotations

from starlette.responses import Response

from scaleset.api import render_upgrades, wire
from scaleset.api.app import ArmRequest
from scaleset.api.endpoints.paths import SCALE_SET, VM
from scaleset.api.responses import json_response, lro_headers, page, skip_token
from scaleset.api.router import Router
from scaleset.service.errors import ArmError


def register(router: Router) -> None:
    router.add("POST", SCALE_SET + "/osRollingUpgrade", start_os_upgrade)
    router.add("POST", SCALE_SET + "/rollingUpgrades/cancel", steer("cancel"))
    router.add("POST", SCALE_SET + "/rollingUpgrades/pause", steer("pause"))
    router.add("POST", SCALE_SET + "/rollingUpgrades/resume", steer("resume"))
    router.add("GET", SCALE_SET + "/rollingUpgrades/latest", get_latest)
    router.add("GET", SCALE_SET + "/osUpgradeHistory", get_history)
    router.add("POST", VM + "/platformMaintenance", platform_maintenance, admin=True)
    router.add("POST", SCALE_SET + "/approveRollingUpgrade", approve_scale_set)
    router.add("POST", VM + "/approveRollingUpgrade", approve_vm)


def _names(req: ArmRequest) -> tuple[str, str, str]:
    return req.param("subscription"), req.param("group"), req.param("name")


def _flag(req: ArmRequest, name: str) -> bool:
    value = (req.query.get(name) or "false").lower()
    if value not in ("true", "false"):
        raise ArmError(400, "InvalidParameter", f"The query parameter '{name}' must be true or false.", target=name)
    return value == "true"


def _accepted(req: ArmRequest, op: str) -> Response:
    scale_set = req.plane.scale_sets.get(*_names(req))
    return Response(status_code=202, headers=lro_headers(req.request, req.plane.settings, req.param("subscription"),
                                                         scale_set.location, op, req.api_version, with_location=True))


async def start_os_upgrade(req: ArmRequest) -> Response:
    force = _flag(req, "forceReimage")
    if _flag(req, "dryRun"):
        return json_response(render_upgrades.dry_run(req.plane.upgrades.dry_run(*_names(req), force=force)))
    return _accepted(req, req.plane.upgrades.start(*_names(req), force=force))


def steer(action: str):  # type: ignore[no-untyped-def]
    async def run(req: ArmRequest) -> Response:
        return _accepted(req, getattr(req.plane.upgrades, action)(*_names(req)))

    run.__name__ = f"rolling_upgrade_{action}"
    return run


async def get_latest(req: ArmRequest) -> Response:
    scale_set, run, counts, awaiting = req.plane.upgrades.latest(*_names(req))
    return json_response(render_upgrades.latest(scale_set, run, counts, req.api_version, awaiting_approval=awaiting))


async def get_history(req: ArmRequest) -> Response:
    scale_set, entries = req.plane.upgrades.history(*_names(req))
    offset, size = skip_token(req.request), req.plane.settings.page_size
    items = [render_upgrades.history_item(scale_set, run, counts, req.api_version) for run, counts in entries[offset: offset + size]]
    return json_response(page(req.request, items, following=offset + size if offset + size < len(entries) else None))


async def approve_scale_set(req: ArmRequest) -> Response:
    """osRollingUpgradeDeferral: approve the named instances (all when no body) for the run."""
    body = wire.validate(wire.InstanceIds, req.body if req.body is not None else {})
    return _accepted(req, req.plane.upgrades.approve(*_names(req), body.get("instanceIds")))


async def approve_vm(req: ArmRequest) -> Response:
    return _accepted(req, req.plane.upgrades.approve(*_names(req), [req.param("instance")]))


async def platform_maintenance(req: ArmRequest) -> Response:
    """Ours (admin): ?action=begin takes the instance down as platform maintenance would; end brings it back."""
    action = (req.query.get("action") or "").lower()
    if action not in ("begin", "end"):
        raise ArmError(400, "InvalidParameter", "The query parameter 'action' must be 'begin' or 'end'.", target="action")
    op = req.plane.instances.act(*_names(req), "poweroff" if action == "begin" else "start", [req.param("instance")])
    return _accepted(req, op)
