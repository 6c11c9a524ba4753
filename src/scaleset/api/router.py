"""Routes for ARM paths, matched case-insensitively (ARM paths are, and the spec mixes cases)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    template: str
    raw_body: bool = False  # the handler reads the body itself (not JSON)
    admin: bool = False  # only administrators may call it (publishing images, managing principals)
    jsonc: bool = False  # the body may be JSONC, as ARM takes for deployments (comments, unquoted keys)


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, raw_body: bool = False, admin: bool = False,
            jsonc: bool = False) -> None:
        """template: '/subscriptions/{subscription}/resourcegroups/{group}' ({name} = one segment)."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.routes.append(Route(method.upper(), re.compile(f"^{regex}/?$", re.IGNORECASE), handler, template, raw_body, admin, jsonc))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, path params, the methods the path allows when the method is not one of them)."""
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                if route.method == method.upper():
                    return route, found.groupdict(), []
                allowed.append(route.method)
        return None, {}, allowed
