"""Routes for ARM paths, matched case-insensitively (ARM paths are, and the spec mixes cases)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[..., Awaitable[Any]]
RECENT = 1024  # matches remembered


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
    """Routes are kept by their number of segments: a path can only match a template with as many
    (a parameter is one non-empty segment), so a match tries a handful of patterns, not all ~100."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._by_depth: dict[int, list[Route]] = {}
        # (method, path) -> (route, params) of recent matches: clients read the same few paths over
        # and over (polling a scale set, paging its instances), and a miss tries ~10 patterns.
        self._recent: dict[tuple[str, str], tuple[Route, dict[str, str]]] = {}
        self.raw_body_methods: set[str] = set()

    def add(self, method: str, template: str, handler: Handler, *, raw_body: bool = False, admin: bool = False,
            jsonc: bool = False) -> None:
        """template: '/subscriptions/{subscription}/resourcegroups/{group}' ({name} = one segment)."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        route = Route(method.upper(), re.compile(f"^{regex}/?$", re.IGNORECASE), handler, template, raw_body, admin, jsonc)
        self.routes.append(route)
        self._by_depth.setdefault(template.count("/"), []).append(route)
        if raw_body:
            self.raw_body_methods.add(route.method)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, path params, the methods the path allows when the method is not one of them)."""
        recent = self._recent.get((method, path))
        if recent is not None:
            return recent[0], dict(recent[1]), []
        allowed: list[str] = []
        if path.endswith("\n"):  # $ matches before a final newline, which may also end a parameter: try all
            candidates = self.routes
        else:
            candidates = self._by_depth.get(path.count("/") - path.endswith("/"), [])  # one trailing slash is taken
        for route in candidates:
            found = route.pattern.match(path)
            if found:
                if route.method == method.upper():
                    params = found.groupdict()
                    if len(self._recent) >= RECENT:
                        del self._recent[next(iter(self._recent))]  # the oldest
                    self._recent[(method, path)] = (route, params)
                    return route, dict(params), []
                allowed.append(route.method)
        return None, {}, allowed
