"""The official Azure SDK as the tests' client: a static bearer token, the server's CA, fast polling."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.mgmt.compute import ComputeManagementClient

if TYPE_CHECKING:
    from tests.conftest import Server

FAR_FUTURE = int(time.time()) + 10 * 365 * 24 * 3600


class StaticCredential:
    """What azure-identity would hand the SDK: a bearer token (here a fixed one)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, FAR_FUTURE)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, FAR_FUTURE)


def compute_client(server: Server, *, token: str | None = None) -> ComputeManagementClient:
    return ComputeManagementClient(StaticCredential(token or server.token), server.subscription, base_url=server.url,
                                   connection_verify=server.ca, polling_interval=0.05, retry_total=0)
