"""Bearer tokens: an administrator's static token, or an access token this server's directory
signed for a principal. Either way the result is the Caller the request acts as."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable

from scaleset.identity.callers import ADMINISTRATOR, Caller
from scaleset.identity.directory import Directory, TokenRejected
from scaleset.identity.principals import Principals
from scaleset.service.errors import ArmError

# Tokens asked for Azure's own resource-manager audience work too (the SDK's default scope).
AZURE_AUDIENCES = ("https://management.azure.com/", "https://management.core.windows.net/")


def audiences_for(base_url: str) -> list[str]:
    """The audiences a token may be for when presented at `base_url`: this server, or Azure's ARM."""
    return [base_url, *AZURE_AUDIENCES]


class Unauthenticated(ArmError):
    """401, with the WWW-Authenticate challenge ARM sends, pointing at where to get a token."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(401, code, message)


class StaticTokens:
    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = [t.encode() for t in tokens if t]

    def knows(self, token: str) -> bool:
        given = token.encode()
        # compare against every token in constant time, so timing tells nothing
        return any(hmac.compare_digest(given, known) for known in self._tokens)


class Authenticator:
    def __init__(self, static: StaticTokens, directory: Directory | None = None, principals: Principals | None = None) -> None:
        self.static = static
        self.directory = directory
        self.principals = principals

    def check(self, authorization: str | None, base_url: Callable[[], str]) -> Caller:
        """The caller, or the 401 ARM sends. `base_url()` gives the audience an access token must be
        for (a call, as building it costs more than checking an administrator's static token)."""
        if not authorization:
            raise Unauthenticated("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("AuthenticationFailed",
                                  "Authentication failed. The 'Authorization' header is not of the form 'Bearer <token>'.")
        if self.static.knows(token):
            return ADMINISTRATOR
        if self.directory is None or self.principals is None or token.count(".") != 2:
            raise Unauthenticated("InvalidAuthenticationToken", "The access token is invalid.")
        try:
            claims = self.directory.verify(token, audiences_for(base_url()))
        except TokenRejected as rejected:
            raise Unauthenticated(rejected.code, rejected.message) from None
        principal = self.principals.get(claims["appid"])
        if principal is None:  # deleted since the token was issued: its tokens die with it
            raise Unauthenticated("InvalidAuthenticationToken",
                                  f"The principal '{claims['appid']}' of the access token no longer exists.")
        return Caller(name=principal.app_id, object_id=principal.object_id, admin=False,
                      subscriptions=principal.subscriptions)
