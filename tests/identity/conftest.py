"""A server on the simulator driver, and principals registered on it through its API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import API, Server, module_sim_server

PRINCIPALS = "/providers/Scaleset.Identity/principals"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with module_sim_server(tmp_path_factory, "identity") as running:
        yield running


@dataclass
class Registered:
    app_id: str
    secret: str
    tenant: str


def register(server: Server, *subscriptions: str, kind: str = "ServicePrincipal") -> Registered:
    with server.client() as admin:
        created = admin.post(PRINCIPALS, params={"api-version": API},
                             json={"kind": kind, "subscriptions": list(subscriptions)})
    assert created.status_code == 201, created.text
    body = created.json()
    if kind == "ManagedIdentity":
        return Registered(body["clientId"], body["identityHeader"], body["tenantId"])
    return Registered(body["appId"], body["password"], body["tenant"])


def token_for(server: Server, principal: Registered, *, scope: str | None = None) -> httpx.Response:
    with httpx.Client(verify=server.ca) as client:
        return client.post(f"{server.url}/{principal.tenant}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": principal.app_id, "client_secret": principal.secret,
            "scope": scope or f"{server.url}//.default"})


def as_bearer(server: Server, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, verify=server.ca, timeout=30, headers={"Authorization": f"Bearer {token}"})
