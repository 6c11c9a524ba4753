"""Limits on what a request may be, checked before any handler runs, so hostile input gets a clear
ARM error rather than memory, CPU or a crash:

- the URL (path and query) at most 8 KiB, else 414: ARM's own front door (HTTP.sys) stops far below
  that, and no ARM path with its query comes near it;
- all request headers together at most 32 KiB, else 400 (what HTTP.sys answers; a JWT access
  token is 1-2 KiB);
- the body at most 4 MiB, else 413, counted as it arrives, so a body streamed without a
  Content-Length is cut off at the limit rather than read whole (ARM refuses bodies over 4 MB).
  Publishing an image version takes its artifact as the body and may send up to 4 GiB;
- JSON nested at most 64 levels deep, else 400 (no ARM resource is nested half as deep; deeper
  input would make every recursive walk of the body a risk).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scaleset.api.responses import json_response
from scaleset.service.errors import ArmError

MAX_BODY = 4 * 1024 * 1024
MAX_ARTIFACT = 4 * 1024**3
MAX_URL = 8 * 1024
MAX_HEADERS = 32 * 1024
MAX_DEPTH = 64


class BodyTooLarge(ArmError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "RequestEntityTooLarge",
                         f"The request content is larger than the limit of {limit} bytes.")


def url_too_long(length: int) -> ArmError:
    return ArmError(414, "RequestUriTooLong", f"The request URL is {length} bytes long; the limit is {MAX_URL} bytes.")


def headers_too_large(size: int) -> ArmError:
    return ArmError(400, "RequestHeaderTooLarge", f"The request headers are {size} bytes; the limit is {MAX_HEADERS} bytes.")


def too_deep() -> ArmError:
    return ArmError(400, "InvalidRequestContent",
                    f"The request content was invalid and could not be deserialized: JSON is nested deeper than "
                    f"{MAX_DEPTH} levels.")


class RequestLimits:
    """ASGI middleware enforcing the limits above; `body_limit(method, path)` gives a route's body limit."""

    def __init__(self, app: ASGIApp, *, body_limit: Callable[[str, str], int]) -> None:
        self.app = app
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = self._check_head(scope)
        if error is not None:
            await _reply(error, scope, receive, send)
            return
        declared, chunked = _body_headers(scope)
        if declared is None and not chunked:
            # No body follows (a GET, as clients send it): nothing to count, and no wrapping of
            # every message this request sends or receives.
            await self.app(scope, receive, send)
            return
        limit = self.body_limit(scope["method"], scope["path"])
        if declared is not None and declared > limit:
            await _reply(BodyTooLarge(limit), scope, receive, send)
            return
        started = False
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as error:
            # Routes outside the ARM dispatcher (logging in) read bodies too: answer for them.
            if started:
                raise
            await _reply(error, scope, receive, send)

    @classmethod
    def has_say(cls, scope: Scope) -> bool:
        """Whether this request is one the limits could refuse or must count: a head over its
        limits, or a body."""
        declared, chunked = _body_headers(scope)
        return declared is not None or chunked or cls._check_head(scope) is not None

    @staticmethod
    def _check_head(scope: Scope) -> ArmError | None:
        url = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
        if url > MAX_URL:
            return url_too_long(url)
        size = sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))
        if size > MAX_HEADERS:
            return headers_too_large(size)
        return None


def _body_headers(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None: none, or not a number), and whether the body comes chunked."""
    declared, chunked = None, False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                chunked = True  # not a length: counted as it comes, as a chunked body is
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


async def _reply(error: ArmError, scope: Scope, receive: Receive, send: Send) -> None:
    # The connection is closed after the answer: the unread rest of a refused body must not be
    # taken for the next request.
    response = json_response(error.body(), error.status, {"Connection": "close"})
    await response(scope, receive, send)


def check_depth(value: Any) -> None:
    """Raise the 400 when `value` (parsed JSON) nests deeper than MAX_DEPTH; iterative, so any depth is safe."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise too_deep()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
