"""`scaleset sp create|list|delete`: an administrator registers principals from the command line."""

from __future__ import annotations

import json

from click.testing import CliRunner

from scaleset.cli.main import main
from tests.conftest import TOKEN, Server
from tests.identity.conftest import Registered, token_for


def _run(server: Server, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--endpoint", server.url, "--token", TOKEN, "--ca", server.ca or ""],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_sp_create_prints_what_az_ad_sp_create_for_rbac_prints_and_the_secret_works(server: Server) -> None:
    shown = json.loads(_run(server, "sp", "create", "--name", "ci", "--subscription", server.subscription))
    assert set(shown) == {"appId", "displayName", "password", "tenant"} and shown["displayName"] == "ci"
    answer = token_for(server, Registered(shown["appId"], shown["password"], shown["tenant"]))
    assert answer.status_code == 200


def test_sp_create_with_no_subscription_grants_the_default_one(server: Server) -> None:
    shown = json.loads(_run(server, "sp", "create"))
    listed = json.loads(_run(server, "sp", "list"))
    mine = next(p for p in listed if p["appId"] == shown["appId"])
    assert mine["subscriptions"] == [server.subscription] and "password" not in mine


def test_sp_create_identity_prints_the_managed_identity_environment(server: Server) -> None:
    shown = json.loads(_run(server, "sp", "create", "--identity"))
    assert shown["identityEndpoint"] == f"{server.url}/msi/token" and shown["identityHeader"]


def test_sp_delete_removes_the_principal(server: Server) -> None:
    shown = json.loads(_run(server, "sp", "create"))
    _run(server, "sp", "delete", "--id", shown["appId"])
    assert shown["appId"] not in _run(server, "sp", "list")
