"""Loaded by `schemathesis run` (SCHEMATHESIS_HOOKS): checks of our own on every response."""

from __future__ import annotations

import json

import schemathesis


@schemathesis.check
def bodies_are_json(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every response that has a body is JSON: errors included, whichever layer answers them (the
    Swagger 2.0 content-type check also flags bodiless 202s and 204s, which are right)."""
    if not response.content:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"a {response.status_code} body of type {content_type!r}"
    json.loads(response.content)
    return None
