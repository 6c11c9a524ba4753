"""GET /subscriptions and /subscriptions/{s}."""

from __future__ import annotations

from starlette.responses import Response

from scaleset.api import render
from scaleset.api.app import ArmRequest
from scaleset.api.endpoints.paths import SUB
from scaleset.api.responses import json_response
from scaleset.api.router import Router


def register(router: Router) -> None:
    router.add("GET", "/subscriptions", list_subscriptions)
    router.add("GET", SUB, get_subscription)
    router.add("GET", SUB + "/locations", list_locations)


async def list_subscriptions(req: ArmRequest) -> Response:
    tenant = req.request.app.state.tenant
    return json_response({"value": [render.subscription(row, tenant) for row in req.plane.subscriptions.list()
                                   if req.caller.sees(row.id)]})


async def get_subscription(req: ArmRequest) -> Response:
    row = req.plane.subscriptions.get(req.param("subscription"))
    return json_response(render.subscription(row, req.request.app.state.tenant))


async def list_locations(req: ArmRequest) -> Response:
    """The regions of this server: its own first (az takes the first as its default), then any
    other a resource group or image lives in."""
    sub = req.param("subscription")
    names = [req.plane.settings.default_location]
    names += sorted({row.location.lower() for row in req.plane.groups.list(sub)} - {names[0].lower()})
    return json_response({"value": [render.location(sub, name) for name in names]})
