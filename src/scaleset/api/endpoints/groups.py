"""Resource groups (Microsoft.Resources)."""

from __future__ import annotations

from starlette.responses import Response

from scaleset.api import render, wire
from scaleset.api.app import ArmRequest
from scaleset.api.endpoints.paths import GROUP, SUB
from scaleset.api.responses import json_response, lro_headers
from scaleset.api.router import Router


def register(router: Router) -> None:
    router.add("GET", SUB + "/resourcegroups", list_groups)
    router.add("PUT", GROUP, put_group)
    router.add("GET", GROUP, get_group)
    router.add("HEAD", GROUP, head_group)
    router.add("DELETE", GROUP, delete_group)


async def list_groups(req: ArmRequest) -> Response:
    return json_response({"value": [render.group(row) for row in req.plane.groups.list(req.param("subscription"))]})


async def put_group(req: ArmRequest) -> Response:
    body = wire.validate(wire.ResourceGroup, req.body)
    row, created = req.plane.groups.put(req.param("subscription"), req.param("group"), body["location"], body.get("tags") or {})
    return json_response(render.group(row), 201 if created else 200)


async def get_group(req: ArmRequest) -> Response:
    return json_response(render.group(req.plane.groups.get(req.param("subscription"), req.param("group"))))


async def head_group(req: ArmRequest) -> Response:
    """az group exists: 204 when it does, 404 when not."""
    req.plane.groups.get(req.param("subscription"), req.param("group"))
    return Response(status_code=204)


async def delete_group(req: ArmRequest) -> Response:
    sub = req.param("subscription")
    req.plane.groups.get(sub, req.param("group"))  # a group that is not there is a 404
    op = req.plane.groups.delete(sub, req.param("group"))
    if op is None:  # deleted meanwhile
        return Response(status_code=204)
    location = req.plane.operation(op).location
    headers = lro_headers(req.request, req.plane.settings, sub, location, op, req.api_version, with_location=True)
    return Response(status_code=202, headers=headers)
