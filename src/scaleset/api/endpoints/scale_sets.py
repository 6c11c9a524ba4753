"""Microsoft.Compute/virtualMachineScaleSets: CRUD, instance view, and actions on instances."""

from __future__ import annotations

from starlette.responses import Response

from scaleset.api import render, wire
from scaleset.api.app import ArmRequest
from scaleset.api.endpoints.paths import SCALE_SET, SCALE_SETS, SUB
from scaleset.api.responses import encoded_response, json_response, lro_headers, page, skip_token
from scaleset.api.router import Router

# action path segment -> body model (None: no body)
ACTIONS: dict[str, type[wire.Wire]] = {
    "reimage": wire.InstanceIds,
    "reimageall": wire.InstanceIds,
    "manualupgrade": wire.RequiredInstanceIds,
    "start": wire.InstanceIds,
    "poweroff": wire.InstanceIds,
    "restart": wire.InstanceIds,
    "deallocate": wire.InstanceIds,
    "delete": wire.RequiredInstanceIds,
}


def register(router: Router) -> None:
    router.add("GET", SUB + "/providers/Microsoft.Compute/virtualMachineScaleSets", list_all)
    router.add("GET", SCALE_SETS, list_in_group)
    router.add("PUT", SCALE_SET, put_scale_set)
    router.add("PATCH", SCALE_SET, patch_scale_set)
    router.add("GET", SCALE_SET, get_scale_set)
    router.add("DELETE", SCALE_SET, delete_scale_set)
    router.add("GET", SCALE_SET + "/instanceView", get_instance_view)
    for action in ACTIONS:
        router.add("POST", f"{SCALE_SET}/{action}", _action(action))


def _names(req: ArmRequest) -> tuple[str, str, str]:
    return req.param("subscription"), req.param("group"), req.param("name")


def _paged(req: ArmRequest, rows: list) -> Response:  # type: ignore[type-arg]
    offset, size = skip_token(req.request), req.plane.settings.page_size
    chunk = rows[offset: offset + size]
    items = [render.scale_set(row, req.api_version) for row in chunk]
    return json_response(page(req.request, items, following=offset + size if offset + size < len(rows) else None))


async def list_all(req: ArmRequest) -> Response:
    return _paged(req, req.plane.scale_sets.list(req.param("subscription"), None))


async def list_in_group(req: ArmRequest) -> Response:
    return _paged(req, req.plane.scale_sets.list(req.param("subscription"), req.param("group")))


async def put_scale_set(req: ArmRequest) -> Response:
    sub, group, name = _names(req)
    exists = _exists(req)
    body = wire.validate(wire.ScaleSet if exists else wire.ScaleSetCreate, req.body)
    row, created, op = req.plane.scale_sets.put(sub, group, name, body)
    headers = lro_headers(req.request, req.plane.settings, sub, row.location, op, req.api_version, with_location=False)
    return json_response(render.scale_set(row, req.api_version), 201 if created else 200, headers)


def _exists(req: ArmRequest) -> bool:
    return req.plane.scale_sets.exists(*_names(req))


async def patch_scale_set(req: ArmRequest) -> Response:
    sub, group, name = _names(req)
    body = wire.validate(wire.ScaleSetUpdate, req.body)
    row, op = req.plane.scale_sets.patch(sub, group, name, body)
    headers = lro_headers(req.request, req.plane.settings, sub, row.location, op, req.api_version, with_location=False)
    return json_response(render.scale_set(row, req.api_version), 200, headers)


async def get_scale_set(req: ArmRequest) -> Response:
    raw = req.plane.scale_sets.peek(*_names(req))
    if raw is None:  # get() raises the 404 that fits
        return json_response(render.scale_set(req.plane.scale_sets.get(*_names(req)), req.api_version))
    return encoded_response(req.request.app.state.renders.scale_set(raw, req.api_version))


async def delete_scale_set(req: ArmRequest) -> Response:
    sub, group, name = _names(req)
    op = req.plane.scale_sets.delete(sub, group, name)
    if op is None:  # nothing to delete: ARM answers 204
        return Response(status_code=204)
    location = req.plane.operation(op).location
    return Response(status_code=202, headers=lro_headers(req.request, req.plane.settings, sub, location, op, req.api_version, with_location=True))


async def get_instance_view(req: ArmRequest) -> Response:
    scale_set, rows, _ = req.plane.instances.list(*_names(req))
    return json_response(render.scale_set_instance_view(scale_set, rows))


def _action(action: str):  # type: ignore[no-untyped-def]
    async def run(req: ArmRequest) -> Response:
        sub, group, name = _names(req)
        body = wire.validate(ACTIONS[action], req.body if req.body is not None else {})
        scale_set = req.plane.scale_sets.get(sub, group, name)
        op = req.plane.instances.act(sub, group, name, action, body.get("instanceIds"))
        return Response(status_code=202, headers=lro_headers(req.request, req.plane.settings, sub, scale_set.location, op,
                                                             req.api_version, with_location=True))

    run.__name__ = f"scale_set_{action}"
    return run
