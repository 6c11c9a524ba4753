"""The rolling-upgrade commands against a real `scaleset serve` on the sim driver: plan, run live to
the end, and read the history, exactly as a user (or a pipeline) would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scaleset.cli.main import main
from tests.conftest import API, Server, publish, start_server, stop_server
from tests.images import sim_image

HEALTH_EXTENSION = {
    "name": "HealthExtension",
    "properties": {
        "publisher": "Microsoft.ManagedServices",
        "type": "ApplicationHealthLinux",
        "typeHandlerVersion": "1.0",
        "settings": {"protocol": "http", "port": 8080, "requestPath": "/"},
    },
}


@pytest.fixture
def sim_server(tmp_path: Path) -> Iterator[Server]:
    server = start_server(
        tmp_path / "data", driver="sim", extra=("--probe-interval", "0.2", "--health-wait", "3")
    )
    try:
        yield server
    finally:
        stop_server(server)


def cli(server: Server, *args: str) -> Result:
    connection = ("--endpoint", server.url, "--token", server.token, "--ca", str(server.ca))
    return CliRunner().invoke(main, [*args, *connection], catch_exceptions=False)


def test_plan_then_run_live_to_completion_then_read_the_history(sim_server: Server, tmp_path: Path) -> None:
    server, sub = sim_server, sim_server.subscription
    with server.client() as http:
        v1 = sim_image(tmp_path / "v1.json", bootSeconds=0.1, reimageSeconds=0.1)
        assert publish(http, sub, v1, version="1.0.0").status_code == 201
        assert cli(server, "group", "create", "-n", "rg", "-l", "westus").exit_code == 0

        created = cli(server, "vmss", "create", "-g", "rg", "-n", "web", "--instance-count", "5",
                      "--image", "Canonical:UbuntuServer:18.04-LTS:latest", "--enable-auto-os-upgrade", "false")
        assert created.exit_code == 0, created.output
        # `vmss create` has no flag for extensions (nor has az's): add the Application Health
        # extension with a PUT of the whole model, so every instance's health is probed.
        url = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web"
        model = json.loads(created.stdout)
        model["properties"]["virtualMachineProfile"]["extensionProfile"] = {"extensions": [HEALTH_EXTENSION]}
        assert http.put(url, params={"api-version": API}, json=model).status_code in (200, 201)

        v2 = sim_image(tmp_path / "v2.json", bootSeconds=0.1, reimageSeconds=0.1)
        assert publish(http, sub, v2, version="1.0.1").status_code == 201

    planned = cli(server, "vmss", "rolling-upgrade", "start", "-g", "rg", "-n", "web", "--dry-run")
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert plan["targetImageReference"]["exactVersion"] == "1.0.1"
    assert [len(batch["instanceIds"]) for batch in plan["batches"]] == [1, 1, 1, 1, 1]
    assert "blocked" not in plan

    ran = cli(server, "vmss", "rolling-upgrade", "start", "-g", "rg", "-n", "web", "--wait", "-o", "table")
    assert ran.exit_code == 0, ran.output
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("RollingForward: ")
    assert "Completed: 5 of 5 succeeded, 0 failed, 0 in progress, 0 pending" in lines
    assert "batch 5 done: instances " + plan["batches"][4]["instanceIds"][0] in lines
    assert any(" health healthy (" in line for line in lines)  # probed through the extension
    assert lines[-1].split()[0] == "Completed"

    instances = json.loads(cli(server, "vmss", "list-instances", "-g", "rg", "-n", "web").stdout)
    assert len(instances) == 5
    assert {i["properties"]["storageProfile"]["imageReference"]["exactVersion"] for i in instances} == {"1.0.1"}

    history = cli(server, "vmss", "get-os-upgrade-history", "-g", "rg", "-n", "web", "-o", "table")
    rows = [line.split() for line in history.stdout.splitlines()[2:]]
    assert len(rows) == 1
    assert rows[0][2:8] == ["Completed", "User", "1.0.1", "5", "0", "0"]
