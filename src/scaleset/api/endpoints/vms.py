"""Microsoft.Compute/virtualMachineScaleSets/virtualMachines: the instances of a scale set."""

from __future__ import annotations

from starlette.responses import Response

from scaleset.api import render
from scaleset.api.app import ArmRequest
from scaleset.api.endpoints.paths import SCALE_SET, VM
from scaleset.api.responses import encoded_page, encoded_response, json_response, lro_headers, page, skip_token
from scaleset.api.router import Router
from scaleset.model.scale_set import ScaleSetModel
from scaleset.service.errors import ArmError

VM_ACTIONS = ("reimage", "reimageall", "start", "poweroff", "restart", "deallocate")
_FILTERS = {
    "properties/latestmodelapplied eq true": True,
    "properties/latestmodelapplied eq false": False,
}


def register(router: Router) -> None:
    router.add("GET", SCALE_SET + "/virtualMachines", list_vms)
    router.add("GET", VM, get_vm)
    router.add("GET", VM + "/instanceView", get_vm_instance_view)
    router.add("GET", VM + "/networkInterfaces", list_vm_nics)
    router.add("DELETE", VM, delete_vm)
    for action in VM_ACTIONS:
        router.add("POST", f"{VM}/{action}", _action(action))


def _names(req: ArmRequest) -> tuple[str, str, str]:
    return req.param("subscription"), req.param("group"), req.param("name")


def _expands_instance_view(req: ArmRequest) -> bool:
    return "instanceview" in (req.query.get("$expand") or "").lower()


async def list_vms(req: ArmRequest) -> Response:
    latest: bool | None = None
    expand = _expands_instance_view(req)
    given = " ".join((req.query.get("$filter") or "").split()).lower()
    if given:
        if given in _FILTERS:
            latest = _FILTERS[given]
        elif given.startswith("startswith(instanceview/statuses/code"):
            expand = True  # the power-state filter asks for statuses; every instance has one
        else:
            raise ArmError(400, "InvalidParameter", f"The $filter '{req.query.get('$filter')}' is not supported.", target="$filter")
    # The $skiptoken is the instance id a page begins at (Instances.list).
    start, size = skip_token(req.request), req.plane.settings.page_size
    if latest is None and not expand:  # the plain list: the hot read (api/hot_reads.py)
        peeked = req.plane.instances.peek_page(*_names(req), start=start, limit=size)
        if peeked is not None:
            raw_scale_set, raw_rows, more = peeked
            renders = req.request.app.state.renders
            items = renders.instances(raw_scale_set, raw_rows, req.api_version)
            following = renders.instance_id(raw_rows[-1]) + 1 if more else None
            return encoded_response(encoded_page(req.request, items, following=following))
    scale_set, rows, more = req.plane.instances.list(*_names(req), latest_model=latest, start=start, limit=size)
    model = ScaleSetModel.from_body(scale_set.name, scale_set.body)
    items = [render.vm(scale_set, row, req.api_version, with_instance_view=expand, model=model,
                       health=req.plane.health.verdict(scale_set.key, row.instance_id) if expand else None)
             for row in rows]
    return json_response(page(req.request, items, following=rows[-1].instance_id + 1 if more else None))


async def get_vm(req: ArmRequest) -> Response:
    scale_set, row = req.plane.instances.get(*_names(req), req.param("instance"))
    return json_response(render.vm(scale_set, row, req.api_version, with_instance_view=_expands_instance_view(req),
                                   health=req.plane.health.verdict(scale_set.key, row.instance_id)))


async def get_vm_instance_view(req: ArmRequest) -> Response:
    scale_set, row = req.plane.instances.get(*_names(req), req.param("instance"))
    return json_response(render.vm_instance_view(scale_set, row, health=req.plane.health.verdict(scale_set.key, row.instance_id)))


async def list_vm_nics(req: ArmRequest) -> Response:
    scale_set, row = req.plane.instances.get(*_names(req), req.param("instance"))
    return json_response({"value": [render.nic(scale_set, row)]})


async def delete_vm(req: ArmRequest) -> Response:
    return await _start(req, "delete")


async def _start(req: ArmRequest, action: str) -> Response:
    sub, group, name = _names(req)
    scale_set, _ = req.plane.instances.get(sub, group, name, req.param("instance"))
    op = req.plane.instances.act(sub, group, name, action, [req.param("instance")])
    return Response(status_code=202, headers=lro_headers(req.request, req.plane.settings, sub, scale_set.location, op,
                                                         req.api_version, with_location=True))


def _action(action: str):  # type: ignore[no-untyped-def]
    async def run(req: ArmRequest) -> Response:
        return await _start(req, action)

    run.__name__ = f"vm_{action}"
    return run
