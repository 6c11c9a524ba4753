"""Microsoft.Network load balancers, virtual networks, public IPs and security groups."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from scaleset.api import wire
from scaleset.api.app import ArmRequest
from scaleset.api.endpoints.paths import GROUP, SUB
from scaleset.api.responses import json_response
from scaleset.api.router import Router
from scaleset.service.errors import ArmError
from scaleset.service.network import NETWORK_TYPES

_MODELS: dict[str, type[wire.Wire]] = {"loadbalancers": wire.LoadBalancer}


def register(router: Router) -> None:
    router.add("GET", SUB + "/providers/Microsoft.Network/{type}", list_in_subscription)
    router.add("GET", GROUP + "/providers/Microsoft.Network/{type}", list_in_group)
    router.add("PUT", GROUP + "/providers/Microsoft.Network/{type}/{name}", put_resource)
    router.add("GET", GROUP + "/providers/Microsoft.Network/{type}/{name}", get_resource)
    router.add("DELETE", GROUP + "/providers/Microsoft.Network/{type}/{name}", delete_resource)


def _type(req: ArmRequest) -> str:
    type_key = req.param("type").lower()
    if type_key not in NETWORK_TYPES:
        raise ArmError(400, "InvalidResourceType", f"The resource type '{req.param('type')}' could not be found in the namespace 'Microsoft.Network'.")
    return type_key


async def list_in_subscription(req: ArmRequest) -> Response:
    return json_response({"value": req.plane.network.list(req.param("subscription"), None, _type(req))})


async def list_in_group(req: ArmRequest) -> Response:
    return json_response({"value": req.plane.network.list(req.param("subscription"), req.param("group"), _type(req))})


async def put_resource(req: ArmRequest) -> Response:
    type_key = _type(req)
    body: dict[str, Any] = wire.validate(_MODELS.get(type_key, wire.NetworkResource), req.body)
    stored, created = req.plane.network.put(req.param("subscription"), req.param("group"), type_key, req.param("name"), body)
    return json_response(stored, 201 if created else 200)


async def get_resource(req: ArmRequest) -> Response:
    return json_response(req.plane.network.get(req.param("subscription"), req.param("group"), _type(req), req.param("name")))


async def delete_resource(req: ArmRequest) -> Response:
    found = req.plane.network.delete(req.param("subscription"), req.param("group"), _type(req), req.param("name"))
    return Response(status_code=200 if found else 204)
