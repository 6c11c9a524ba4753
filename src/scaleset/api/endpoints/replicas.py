"""The replicas sharing this server's store, their heartbeats and the leases each holds
(administrators only): what `scaleset replicas` shows."""

from __future__ import annotations

from starlette.responses import Response

from scaleset.api.app import ArmRequest
from scaleset.api.responses import json_response
from scaleset.api.router import Router

REPLICAS = "/providers/Scaleset.Control/replicas"


def register(router: Router) -> None:
    router.add("GET", REPLICAS, list_replicas, admin=True)


async def list_replicas(req: ArmRequest) -> Response:
    return json_response({"value": req.plane.describe_replicas()})
