"""The ARM client merges its parameters into a URL's own query rather than replacing it."""

from __future__ import annotations

from scaleset.cli.arm_client import ArmClient
from scaleset.cli.connection import Connection
from tests.cli.arm_server import ArmServer, Reply


def test_a_urls_own_query_survives_the_api_version_being_added(server: ArmServer) -> None:
    server.on("GET", "/things", Reply(200, {"value": []}))
    with ArmClient(Connection(endpoint=server.url, token="t", ca=None)) as client:
        client.request("GET", "/things?$expand=instanceView", api_version="2024-03-01", params={"$filter": "x"})
    (call,) = server.calls("GET", "/things")
    assert call.query == {"$expand": ["instanceView"], "api-version": ["2024-03-01"], "$filter": ["x"]}


def test_an_api_version_already_in_the_url_is_kept(server: ArmServer) -> None:
    server.on("GET", "/things", Reply(200, {"value": []}))
    with ArmClient(Connection(endpoint=server.url, token="t", ca=None)) as client:
        client.request("GET", "/things?api-version=2018-10-01&$skiptoken=2", api_version="2024-03-01")
    (call,) = server.calls("GET", "/things")
    assert call.query == {"api-version": ["2018-10-01"], "$skiptoken": ["2"]}
