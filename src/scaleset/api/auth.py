"""Bearer tokens. Static tokens given to the server are administrators: they see everything."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from scaleset.service.errors import ArmError


class StaticTokens:
    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = [t.encode() for t in tokens if t]

    def check(self, authorization: str | None) -> None:
        """Raise the 401 ARM sends unless the header carries a known bearer token."""
        if not authorization:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is not of the form 'Bearer <token>'.")
        given = token.strip().encode()
        # compare against every token in constant time, so timing tells nothing
        if not any(hmac.compare_digest(given, known) for known in self._tokens):
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")
