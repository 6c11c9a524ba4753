"""Operation status (Azure-AsyncOperation) and operation results (Location) of long-running calls."""

from __future__ import annotations

from starlette.responses import Response

from scaleset.api import render
from scaleset.api.app import ArmRequest
from scaleset.api.endpoints.paths import COMPUTE_LOCATION
from scaleset.api.responses import json_response, operation_urls, retry_headers
from scaleset.api.router import Router
from scaleset.service.errors import ArmError


def register(router: Router) -> None:
    router.add("GET", COMPUTE_LOCATION + "/operations/{op}", operation_status)
    router.add("GET", COMPUTE_LOCATION + "/operationResults/{op}", operation_result)


def _operation(req: ArmRequest):  # type: ignore[no-untyped-def]
    op = req.plane.operation(req.param("op"))
    if op is None or op.subscription_id != req.param("subscription").lower():
        raise ArmError(404, "OperationNotFound", f"The operation '{req.param('op')}' was not found.")
    return op


async def operation_status(req: ArmRequest) -> Response:
    op = _operation(req)
    body = {"name": op.id, "status": op.status, "startTime": render.iso(op.started_at)}
    if op.ended_at:
        body["endTime"] = render.iso(op.ended_at)
    if op.error:
        body["error"] = op.error
    headers = retry_headers(req.plane.settings) if op.status == "InProgress" else None
    return json_response(body, headers=headers)


async def operation_result(req: ArmRequest) -> Response:
    op = _operation(req)
    if op.status == "InProgress":
        _, location = operation_urls(req.request, req.param("subscription"), req.param("location"), op.id, req.api_version)
        return Response(status_code=202, headers={"Location": location, **retry_headers(req.plane.settings)})
    if op.status == "Failed":
        return json_response({"error": op.error}, 400)
    return Response(status_code=200)
