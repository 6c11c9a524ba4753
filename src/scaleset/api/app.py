"""The ARM front door: one Starlette app, every ARM path dispatched through the case-insensitive
router after the checks ARM makes on every call (auth, api-version, JSON body)."""

from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import dataclass
from collections.abc import Awaitable, Callable
from typing import Any

from starlette import convertors
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from scaleset.api import api_versions, jsonc, names
from scaleset.api.auth import Authenticator, StaticTokens
from scaleset.api.hot_reads import Renders
from scaleset.api.limits import MAX_ARTIFACT, MAX_BODY, RequestLimits, check_depth, too_deep
from scaleset.api.openapi import served_json
from scaleset.api.responses import json_response
from scaleset.api.router import Route as ArmRoute
from scaleset.api.router import Router
from scaleset.identity.callers import Caller
from scaleset.service.controlplane import ControlPlane
from scaleset.service.errors import ArmError

log = logging.getLogger(__name__)


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
    caller: Caller

    @property
    def query(self) -> Any:
        return self.request.query_params

    def param(self, name: str) -> str:
        return self.params[name]


def create_app(plane: ControlPlane, tokens: StaticTokens) -> Starlette:
    from scaleset.api.endpoints import register_all
    from scaleset.api.login import login_routes

    assert plane.directory is not None, "start the control plane before serving it"
    router = Router()
    register_all(router)
    auth = Authenticator(tokens, plane.directory, plane.principals)

    async def dispatch(request: Request) -> Response:
        request_id = _request_id()
        headers = [
            (b"x-ms-request-id", request_id),
            (b"x-ms-correlation-request-id", _echoable(request.headers.get("x-ms-correlation-request-id")) or request_id),
        ]
        client_id = _echoable(request.headers.get("x-ms-client-request-id"))
        if client_id:
            headers.append((b"x-ms-client-request-id", client_id))
        try:
            response = await _handle(request)
        except ArmError as error:
            response = json_response(error.body(), error.status)
            if isinstance(error, MethodNotAllowed):
                response.headers["Allow"] = ", ".join(error.allowed)
            if error.status == 401:
                # Where to get a token, as ARM says it (clients may follow the challenge).
                response.headers["WWW-Authenticate"] = (
                    f'Bearer authorization_uri="{str(request.base_url).rstrip("/")}/{plane.directory.tenant_id}", '
                    f'error="invalid_token", error_description="{error.message.replace(chr(34), chr(39))}"')
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.url.path)
            response = json_response({"error": {"code": "InternalServerError", "message": "The server met an unexpected error."}}, 500)
        # Appended as they go out: no handler sets these, and MutableHeaders would search for each.
        response.raw_headers.extend((name, value.encode("latin-1")) for name, value in headers)
        return response

    async def _handle(request: Request) -> Response:
        # The path as sent, decoded: request.url.path would drop a newline or tab in it silently
        # (URL parsing removes them), and PUT .../a%0Ab would create "ab".
        path = request.scope["path"]
        route, params, allowed = router.match(request.method, path)
        if route is None:
            if allowed:
                raise MethodNotAllowed(request.method, path, allowed)
            raise ArmError(404, "NotFound", f"No route matches '{path}'.")
        caller = auth.check(request.headers.get("authorization"), lambda: str(request.base_url))
        _authorize(caller, route, params, request)
        api_version = api_versions.check(_api_version(request))
        if request.method == "PUT":  # only a PUT names something new; elsewhere a bad name is simply not found
            names.check(route.template, params)
        wants_json = request.method in ("PUT", "PATCH", "POST") and not route.raw_body
        body = await _json_body(request, jsonc_allowed=route.jsonc) if wants_json else None
        return await route.handler(ArmRequest(request, plane, params, api_version, body, caller))

    async def healthz(_request: Request) -> Response:
        return json_response({"status": "ok"})

    async def openapi(_request: Request) -> Response:
        return Response(served_json(), media_type="application/json")

    def body_limit(method: str, path: str) -> int:
        if method not in router.raw_body_methods:  # no route of this method takes an artifact
            return MAX_BODY
        route, _, _ = router.match(method, path)
        return MAX_ARTIFACT if route is not None and route.raw_body else MAX_BODY

    routes = [Route("/healthz", healthz), Route("/openapi.json", openapi), *login_routes(plane),
              Route("/{path:anypath}", dispatch, methods=["GET", "PUT", "PATCH", "POST", "DELETE", "HEAD"])]
    app = _ArmApp(dispatch, routes=routes, exception_handlers={HTTPException: _http_error},
                  middleware=[Middleware(_SingleSlashes), Middleware(RequestLimits, body_limit=body_limit)])
    app.state.plane = plane
    app.state.renders = Renders(plane.ctx.db)
    app.state.tenant = plane.directory.tenant_id
    from scaleset.api.deployment_runner import DeploymentRunner

    app.state.deployment_runner = DeploymentRunner(app, plane.deployments, poll_seconds=plane.settings.retry_after_ms / 1000)
    return app


class _AnyPath(convertors.PathConvertor):
    """Starlette's `path` stops at a newline (its `.` is not DOTALL): a name with one in it must
    still reach the ARM router, to be refused as a name rather than as an unknown path."""

    regex = "(?s:.*)"


convertors.register_url_convertor("anypath", _AnyPath())
_ECHOABLE = re.compile(r"^[\x20-\x7e]{1,256}$")


def _request_id() -> str:
    """A random (version 4) UUID as text, as str(uuid.uuid4()) gives, at a fifth of its cost: from
    `random` (no system call; request ids need to be unique, not unguessable: they are sent back)."""
    digits = f"{random.getrandbits(128):032x}"
    return (f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{'89ab'[int(digits[16], 16) & 3]}{digits[17:20]}-"
            f"{digits[20:]}")


def _api_version(request: Request) -> str | None:
    """The api-version query parameter. A query of nothing else, plainly written (as clients send
    it), is read as it stands; anything else goes through Starlette's parsing, which costs several
    times more (it is cached, and later reads of the query share it)."""
    query = request.scope["query_string"]
    if query.startswith(b"api-version=") and not any(c in query for c in b"&%+;"):
        return query[len(b"api-version="):].decode("latin-1")
    return request.query_params.get("api-version")


def _echoable(value: str | None) -> str | None:
    """A request id the client sent, when it is safe to send back as a header: printable ASCII,
    not too long (anything else would make the response itself fail to go out)."""
    return value if value is not None and _ECHOABLE.match(value) else None


async def _http_error(_request: Request, error: Exception) -> Response:
    """Starlette's own 404 and 405 (a path no route pattern takes, such as one with a newline in it;
    a method /healthz does not answer) as ARM errors, not plain text."""
    assert isinstance(error, HTTPException)
    code = {404: "NotFound", 405: "MethodNotAllowed"}.get(error.status_code, "BadRequest")
    return json_response({"error": {"code": code, "message": str(error.detail)}}, error.status_code, dict(error.headers or {}))


class _ArmApp(Starlette):
    """The reads clients make most (a GET under /subscriptions/, without a body) go straight to
    the ARM dispatcher: Starlette's middleware and routing before it cost a sixth of a list page.
    Anything its middleware has a say in (slashes to collapse, a body, a head over its limits) and
    every other path (sign-in, health, OpenAPI) go through the app as built."""

    def __init__(self, dispatch: Callable[[Request], Awaitable[Response]], **options: Any) -> None:
        super().__init__(**options)
        self._dispatch = dispatch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] == "http" and scope["method"] == "GET" and path.startswith("/subscriptions/")
                and not path.startswith(_SIGN_IN_UNDER_SUBSCRIPTIONS) and "//" not in path
                and not RequestLimits.has_say(scope)):
            scope["app"] = self
            response = await self._dispatch(_PlainQueryRequest(scope, receive))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class _PlainQueryRequest(Request):
    """A request the direct path takes. A query in which nothing is escaped but `$` (as clients
    send `api-version=…&%24skiptoken=…`) is split as `parse_qsl` would split it, without its
    unquoting of every name and value (a tenth of a list page); any other goes to Starlette."""

    @property
    def query_params(self) -> QueryParams:
        if not hasattr(self, "_plain_query"):
            query = self.scope["query_string"].replace(b"%24", b"$")
            if b"%" in query or b"+" in query:
                self._plain_query = QueryParams(self.scope["query_string"])
            else:
                self._plain_query = QueryParams([(name, value) for name, _, value in
                                                 (part.partition("=") for part in query.decode("latin-1").split("&") if part)])
        return self._plain_query


# Sign-in routes a tenant named "subscriptions" would put under /subscriptions/ (login_routes).
_SIGN_IN_UNDER_SUBSCRIPTIONS = ("/subscriptions/v2.0/", "/subscriptions/discovery/", "/subscriptions/oauth2/")


class _SingleSlashes:
    """Collapse repeated slashes in the path, as ARM does: az joins its endpoint, which ends in a
    slash, with paths that start with one (`https://host:port//metadata/endpoints`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            scope = {**scope, "path": re.sub("/{2,}", "/", scope["path"])}
            scope.pop("raw_path", None)
        await self.app(scope, receive, send)


def _authorize(caller: Caller, route: ArmRoute, params: dict[str, str], request: Request) -> None:
    """403 unless the caller may make this call: principals reach only the subscriptions granted to
    them, and nothing an administrator alone may do."""
    if caller.admin:
        return
    sub = params.get("subscription")
    if sub is not None and not caller.sees(sub):
        if route.template == "/subscriptions/{subscription}":
            # ARM hides subscriptions the caller has no access to.
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        raise _forbidden(caller, request)
    if route.admin:
        raise _forbidden(caller, request)


def _forbidden(caller: Caller, request: Request) -> ArmError:
    action = {"GET": "read", "HEAD": "read", "DELETE": "delete", "POST": "action"}.get(request.method, "write")
    return ArmError(403, "AuthorizationFailed",
                    f"The client '{caller.name}' with object id '{caller.object_id}' does not have authorization to "
                    f"perform action '{action}' over scope '{request.url.path}' or the scope is invalid. If access was "
                    "recently granted, please refresh your credentials.")


async def _json_body(request: Request, *, jsonc_allowed: bool) -> Any:
    raw = await request.body()  # at most MAX_BODY: RequestLimits cuts it off as it arrives
    if not raw.strip():
        return None
    try:
        body = await jsonc.loads(raw) if jsonc_allowed else json.loads(raw)
    except RecursionError:
        raise too_deep() from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ArmError(400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: {error}.") from None
    check_depth(body)
    return body
