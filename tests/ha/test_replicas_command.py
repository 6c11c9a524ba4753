"""`scaleset replicas` against a real server: the replica, its heartbeat, the leases it holds (the
trigger from the start, a scale set's once it exists), in a table and as JSON; administrators only."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_rolling_upgrade_e2e import cli, sim_server  # noqa: F401 - a fixture, found by name
from tests.conftest import API, Server, publish
from tests.identity.conftest import as_bearer, register, token_for
from tests.images import sim_image


def test_the_replica_and_its_leases_are_listed(sim_server: Server, tmp_path: Path) -> None:  # noqa: F811
    server = sim_server
    shown = json.loads(cli(server, "replicas", "--output", "json").output)
    assert len(shown) == 1
    replica = shown[0]
    assert replica["alive"] and replica["url"] == server.url and replica["heartbeatAgeSeconds"] < 10
    assert [lease["name"] for lease in replica["leases"]] == ["trigger"]
    assert all(lease["token"] >= 1 and not lease["expired"] for lease in replica["leases"])

    assert cli(server, "group", "create", "-n", "rg", "-l", "westus").exit_code == 0
    with server.client() as http:
        assert publish(http, server.subscription, sim_image(tmp_path / "v1.json"), version="1.0.0").status_code == 201
        body = {"location": "westus", "sku": {"name": "Standard_DS1_v2", "capacity": 1}, "properties": {
            "upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": {"storageProfile": {"imageReference": {
                "publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"}}}}}
        path = f"/subscriptions/{server.subscription}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web"
        assert http.put(path, params={"api-version": API}, json=body).status_code in (200, 201)
    table = cli(server, "replicas", "--output", "table").output
    assert replica["id"] in table and "trigger" in table and "web" in table


def test_only_administrators_see_the_replicas(sim_server: Server) -> None:  # noqa: F811
    server = sim_server
    answer = token_for(server, register(server, server.subscription))
    with as_bearer(server, answer.json()["access_token"]) as principal:
        response = principal.get("/providers/Scaleset.Control/replicas", params={"api-version": API})
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "AuthorizationFailed"
