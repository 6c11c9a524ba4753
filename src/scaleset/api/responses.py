"""ARM responses: JSON, long-running-operation headers, pages with an absolute nextLink."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus, urlencode

from starlette.requests import Request
from starlette.responses import Response

from scaleset.service.context import Settings


def encode(body: Any) -> bytes:
    """JSON as the API sends it: compact, ASCII."""
    return json.dumps(body, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return encoded_response(encode(body), status, headers)


def encoded_response(content: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON body encoded already (as json_response encodes)."""
    return Response(content, status_code=status, headers=headers, media_type="application/json; charset=utf-8")


def base_url(request: Request) -> str:
    """`request.base_url` without its trailing slash: worked out by Starlette once for each thing it
    depends on (scheme, server, root path, Host header), not for every link of every answer (it
    builds and parses two URLs: a fifth of a list page's time)."""
    scope = request.scope
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    key = (scope.get("scheme"), scope.get("server"), scope.get("app_root_path", scope.get("root_path", "")), host)
    found = _BASE_URLS.get(key)
    if found is None:
        if len(_BASE_URLS) >= 256:  # bounded: Host headers are the client's to choose
            _BASE_URLS.clear()
        found = _BASE_URLS[key] = str(request.base_url).rstrip("/")
    return found


_BASE_URLS: dict[tuple[Any, ...], str] = {}


def operation_urls(request: Request, sub: str, location: str, op_id: str, api_version: str) -> tuple[str, str]:
    """(Azure-AsyncOperation URL, Location URL) of an operation."""
    root = f"{base_url(request)}/subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}"
    query = urlencode({"api-version": api_version})
    return f"{root}/operations/{op_id}?{query}", f"{root}/operationResults/{op_id}?monitor=true&{query}"


def retry_headers(settings: Settings) -> dict[str, str]:
    """Poll hints: whole seconds in Retry-After (at least 1), finer in x-ms-retry-after-ms."""
    headers = {"Retry-After": str(max(1, round(settings.retry_after_ms / 1000)))}
    if settings.retry_after_ms < 1000:
        headers["x-ms-retry-after-ms"] = str(settings.retry_after_ms)
    return headers


def lro_headers(request: Request, settings: Settings, sub: str, location: str, op_id: str, api_version: str,
                *, with_location: bool) -> dict[str, str]:
    async_url, location_url = operation_urls(request, sub, location, op_id, api_version)
    headers = {"Azure-AsyncOperation": async_url, **retry_headers(settings)}
    if with_location:
        headers["Location"] = location_url
    return headers


def page(request: Request, items: list[Any], *, following: int | None) -> dict[str, Any]:
    """A page of a list: its items, and a link to the next page, whose $skiptoken is `following`
    (None: this is the last)."""
    body: dict[str, Any] = {"value": items}
    if following is not None:
        body["nextLink"] = _next_link(request, following)
    return body


def encoded_page(request: Request, items: list[bytes], *, following: int | None) -> bytes:
    """`page` of items encoded already, encoded as json_response would encode `page`."""
    link = b',"nextLink":' + json.dumps(_next_link(request, following)).encode() if following is not None else b""
    return b"".join((b'{"value":[', b",".join(items), b"]", link, b"}"))  # the items copied once, not at each +


def _next_link(request: Request, skip: int) -> str:
    """This request's URL with `$skiptoken` set: the rest of its query as the client wrote it (the
    SDK sends the link back verbatim), not parsed and written out again."""
    query = request.scope["query_string"].decode("latin-1")
    kept = [part for part in query.split("&") if part and unquote_plus(part.partition("=")[0]) != "$skiptoken"]
    # The path as `request.url.path` gives it, without building the URL.
    path = request.scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    return f"{base_url(request)}{path}?{'&'.join([*kept, f'%24skiptoken={skip}'])}"


def skip_token(request: Request) -> int:
    token = request.query_params.get("$skiptoken", "0")
    return int(token) if token.isdigit() else 0
