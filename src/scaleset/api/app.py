"""The ARM front door: one Starlette app, every ARM path dispatched through the case-insensitive
router after the checks ARM makes on every call (auth, api-version, JSON body)."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scaleset.api import api_versions
from scaleset.api.auth import StaticTokens
from scaleset.api.responses import json_response
from scaleset.api.router import Router
from scaleset.service.controlplane import ControlPlane
from scaleset.service.errors import ArmError

log = logging.getLogger(__name__)
MAX_BODY = 4 * 1024 * 1024  # ARM refuses request bodies over 4 MB


class MethodNotAllowed(ArmError):
    def __init__(self, method: str, path: str, allowed: list[str]) -> None:
        super().__init__(405, "MethodNotAllowed", f"The method '{method}' is not allowed on '{path}'.")
        self.allowed = sorted(set(allowed))


@dataclass
class ArmRequest:
    request: Request
    plane: ControlPlane
    params: dict[str, str]
    api_version: str
    body: Any

    @property
    def query(self) -> Any:
        return self.request.query_params

    def param(self, name: str) -> str:
        return self.params[name]


def create_app(plane: ControlPlane, tokens: StaticTokens, *, tenant: str = "scaleset", raw_routes: list[Route] | None = None) -> Starlette:
    from scaleset.api.endpoints import register_all

    router = Router()
    register_all(router)

    async def dispatch(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        headers = {
            "x-ms-request-id": request_id,
            "x-ms-correlation-request-id": request.headers.get("x-ms-correlation-request-id", request_id),
        }
        if "x-ms-client-request-id" in request.headers:
            headers["x-ms-client-request-id"] = request.headers["x-ms-client-request-id"]
        try:
            response = await _handle(request)
        except ArmError as error:
            response = json_response(error.body(), error.status)
            if isinstance(error, MethodNotAllowed):
                response.headers["Allow"] = ", ".join(error.allowed)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.url.path)
            response = json_response({"error": {"code": "InternalServerError", "message": "The server met an unexpected error."}}, 500)
        response.headers.update(headers)
        return response

    async def _handle(request: Request) -> Response:
        route, params, allowed = router.match(request.method, request.url.path)
        if route is None:
            if allowed:
                raise MethodNotAllowed(request.method, request.url.path, allowed)
            raise ArmError(404, "NotFound", f"No route matches '{request.url.path}'.")
        tokens.check(request.headers.get("authorization"))
        api_version = api_versions.check(request.query_params.get("api-version"))
        wants_json = request.method in ("PUT", "PATCH", "POST") and not route.raw_body
        body = await _json_body(request) if wants_json else None
        return await route.handler(ArmRequest(request, plane, params, api_version, body))

    async def healthz(_request: Request) -> Response:
        return json_response({"status": "ok"})

    routes = [Route("/healthz", healthz), *(raw_routes or []),
              Route("/{path:path}", dispatch, methods=["GET", "PUT", "PATCH", "POST", "DELETE", "HEAD"])]
    app = Starlette(routes=routes)
    app.state.plane = plane
    app.state.tenant = tenant
    return app


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ArmError(413, "RequestEntityTooLarge", f"The request content is larger than {MAX_BODY} bytes.")
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise ArmError(400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: {error}.") from None
