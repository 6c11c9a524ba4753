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
    # Children (a load balancer's inboundNatRules, a virtual network's subnets...) are items of a
    # collection in their parent's body, as in Azure, but also resources of their own.
    child = GROUP + "/providers/Microsoft.Network/{type}/{name}/{collection}/{child}"
    router.add("PUT", child, put_child)
    router.add("GET", child, get_child)
    router.add("DELETE", child, delete_child)


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


def _collection(req: ArmRequest, type_key: str) -> str:
    _, children = NETWORK_TYPES[type_key]
    for collection in children:
        if collection.lower() == req.param("collection").lower():
            return collection
    raise ArmError(400, "InvalidResourceType", f"The resource type '{req.param('type')}/{req.param('collection')}' could not "
                   "be found in the namespace 'Microsoft.Network'.")


def _parent(req: ArmRequest) -> tuple[str, str, dict[str, Any]]:
    type_key = _type(req)
    collection = _collection(req, type_key)
    return type_key, collection, req.plane.network.get(req.param("subscription"), req.param("group"), type_key, req.param("name"))


def _is_child(item: Any, name: str) -> bool:
    return isinstance(item, dict) and str(item.get("name", "")).lower() == name.lower()


async def put_child(req: ArmRequest) -> Response:
    type_key, collection, parent = _parent(req)
    if not isinstance(req.body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    name = req.param("child")
    items = (parent.get("properties") or {}).get(collection) or []
    created = not any(_is_child(item, name) for item in items)
    item = {"name": name, "properties": req.body.get("properties") or {}}
    merged = {**parent, "properties": {**parent.get("properties", {}),
                                       collection: [i for i in items if not _is_child(i, name)] + [item]}}
    body = wire.validate(_MODELS.get(type_key, wire.NetworkResource), merged)
    stored, _ = req.plane.network.put(req.param("subscription"), req.param("group"), type_key, req.param("name"), body)
    return json_response(_child_of(stored, collection, name), 201 if created else 200)


async def get_child(req: ArmRequest) -> Response:
    _, collection, parent = _parent(req)
    return json_response(_child_of(parent, collection, req.param("child")))


async def delete_child(req: ArmRequest) -> Response:
    type_key, collection, parent = _parent(req)
    items = (parent.get("properties") or {}).get(collection) or []
    kept = [i for i in items if not _is_child(i, req.param("child"))]
    if len(kept) == len(items):
        return Response(status_code=204)
    parent = {**parent, "properties": {**parent["properties"], collection: kept}}
    req.plane.network.put(req.param("subscription"), req.param("group"), type_key, req.param("name"), parent)
    return Response(status_code=200)


def _child_of(parent: dict[str, Any], collection: str, name: str) -> dict[str, Any]:
    for item in (parent.get("properties") or {}).get(collection) or []:
        if _is_child(item, name):
            return {**item, "type": f"{parent['type']}/{collection}"}
    raise ArmError(404, "ResourceNotFound", f"The Resource '{parent['id']}/{collection}/{name}' was not found.")
