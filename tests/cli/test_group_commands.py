"""`scaleset group ...` against a real local HTTP server."""

from __future__ import annotations

import json

from tests.cli.arm_server import ArmServer, Reply
from tests.cli.conftest import SUB, TOKEN, Run

GROUPS = f"/subscriptions/{SUB}/resourcegroups"


def _group(name: str, location: str = "westeurope") -> dict[str, object]:
    return {
        "id": f"/subscriptions/{SUB}/resourceGroups/{name}",
        "name": name,
        "location": location,
        "properties": {"provisioningState": "Succeeded"},
    }


def test_create_puts_the_location_and_prints_the_group(server: ArmServer, run: Run) -> None:
    server.on("PUT", f"{GROUPS}/rg1", Reply(201, _group("rg1")))

    result = run("group", "create", "-n", "rg1", "-l", "westeurope")

    assert result.exit_code == 0, result.output
    (put,) = server.calls("PUT")
    assert put.path == f"{GROUPS}/rg1"
    assert put.api_version == "2022-09-01"
    assert put.json() == {"location": "westeurope"}
    assert put.headers["authorization"] == f"Bearer {TOKEN}"
    assert put.headers["content-type"] == "application/json"
    assert json.loads(result.stdout) == _group("rg1")


def test_show_list_and_table_output(server: ArmServer, run: Run) -> None:
    server.on("GET", f"{GROUPS}/rg1", Reply(200, _group("rg1")))
    server.on("GET", GROUPS, Reply(200, {"value": [_group("rg1"), _group("rg2", "eastus")]}))

    shown = run("group", "show", "--name", "rg1")
    listed = run("group", "list", "-o", "table")

    assert json.loads(shown.stdout)["name"] == "rg1"
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["Name", "Location", "Status"]
    assert [line.split() for line in lines[2:]] == [
        ["rg1", "westeurope", "Succeeded"],
        ["rg2", "eastus", "Succeeded"],
    ]


def test_show_missing_group_exits_3_with_the_arm_message(server: ArmServer, run: Run) -> None:
    server.on(
        "GET",
        f"{GROUPS}/nope",
        Reply(
            404,
            {"error": {"code": "ResourceGroupNotFound", "message": "Resource group 'nope' could not be found."}},
        ),
    )
    result = run("group", "show", "-n", "nope")
    assert result.exit_code == 3
    assert result.stderr.strip() == "(ResourceGroupNotFound) Resource group 'nope' could not be found."
    assert result.stdout == ""


def test_delete_waits_on_the_location_url_until_it_stops_answering_202(
    server: ArmServer, run: Run
) -> None:
    status = f"{server.url}/subscriptions/{SUB}/operationresults/abc?api-version=2022-09-01"
    server.on("DELETE", f"{GROUPS}/rg1", Reply(202, headers={"Location": status, "Retry-After": "0"}))
    server.on(
        "GET",
        f"/subscriptions/{SUB}/operationresults/abc",
        Reply(202, headers={"Location": status, "x-ms-retry-after-ms": "10"}),
        Reply(200),
    )

    result = run("group", "delete", "-n", "rg1", "--yes")

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    polls = server.calls("GET", "operationresults")
    assert len(polls) == 2
    assert polls[0].api_version == "2022-09-01"
    assert all(poll.headers["authorization"] == f"Bearer {TOKEN}" for poll in polls)


def test_delete_asks_first_and_stops_on_no(server: ArmServer, run: Run) -> None:
    result = run("group", "delete", "-n", "rg1", input="n\n")
    assert result.exit_code == 1
    assert "Are you sure" in result.output
    assert server.calls("DELETE") == []


def test_delete_no_wait_does_not_poll(server: ArmServer, run: Run) -> None:
    server.on("DELETE", f"{GROUPS}/rg1", Reply(202, headers={"Location": f"{server.url}/op"}))
    result = run("group", "delete", "-n", "rg1", "-y", "--no-wait")
    assert result.exit_code == 0
    assert [r.method for r in server.requests] == ["DELETE"]
