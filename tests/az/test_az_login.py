"""az logs in offline: as a service principal, as a managed identity, and is refused readably."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.az.conftest import CLIS, Az, register_principal, requires_az
from tests.conftest import Server

pytestmark = requires_az
OTHER_SUB = "0d3c5a2e-9a6b-4c1e-8f00-5b2f1c7e9a10"


@pytest.fixture(params=CLIS or [None], ids=lambda p: f"az-{p.parent.parent.name.removeprefix('az-')}" if p else "no-az")
def fresh_az(request: pytest.FixtureRequest, az_server: Server, tmp_path: Path) -> Az:
    cli = Az(request.param, tmp_path / "azconfig", az_server)
    cli.use_cloud()
    return cli


def test_service_principal_login_lists_its_subscription(fresh_az: Az, az_server: Server) -> None:
    principal = register_principal(az_server)
    accounts = fresh_az.login(principal)
    assert [(a["id"], a["tenantId"], a["state"]) for a in accounts] == [(az_server.subscription, principal["tenant"], "Enabled")]
    shown = fresh_az("account", "show")
    assert shown["user"] == {"name": principal["appId"], "type": "servicePrincipal"}
    assert shown["environmentName"] == "scaleset"


def test_a_wrong_secret_is_refused_with_the_reason(fresh_az: Az, az_server: Server) -> None:
    principal = register_principal(az_server)
    failed = fresh_az.fails("login", "--service-principal", "-u", principal["appId"], "-p", "not-the-secret",
                            "--tenant", principal["tenant"])
    assert "AADSTS7000215" in failed.stderr and "Invalid client secret" in failed.stderr


def test_managed_identity_login(fresh_az: Az, az_server: Server) -> None:
    identity = register_principal(az_server, kind="ManagedIdentity")
    fresh_az.extra_env.update(IDENTITY_ENDPOINT=identity["identityEndpoint"], IDENTITY_HEADER=identity["identityHeader"])
    accounts = fresh_az("login", "--identity")
    assert [a["id"] for a in accounts] == [az_server.subscription]
    assert fresh_az("group", "list") is not None  # the token works on the API


def test_a_principal_sees_only_the_subscriptions_it_was_granted(fresh_az: Az, az_server: Server) -> None:
    with az_server.client() as admin:  # make the other subscription exist
        admin.put(f"/subscriptions/{OTHER_SUB}/resourcegroups/elsewhere", params={"api-version": "2022-09-01"},
                  json={"location": "westus"})
    fresh_az.login(register_principal(az_server))
    assert [a["id"] for a in fresh_az("account", "list")] == [az_server.subscription]
    # az refuses by itself to use a subscription it was not shown; the server refuses its token there too
    token = fresh_az("account", "get-access-token")["accessToken"]
    with httpx.Client(verify=az_server.ca) as client:
        answer = client.get(f"{az_server.url}/subscriptions/{OTHER_SUB}/resourcegroups", params={"api-version": "2022-09-01"},
                            headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "AuthorizationFailed"


def test_a_revoked_principal_gets_the_401_az_shows(fresh_az: Az, az_server: Server) -> None:
    principal = register_principal(az_server)
    fresh_az.login(principal)
    with az_server.client() as admin:
        admin.delete(f"/providers/Scaleset.Identity/principals/{principal['appId']}", params={"api-version": "2024-03-01"})
    failed = fresh_az.fails("group", "list")
    assert "InvalidAuthenticationToken" in failed.stderr and "no longer exists" in failed.stderr
