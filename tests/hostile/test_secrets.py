"""`adminPassword` and `protectedSettings` never come back: in no response (reads, writes, errors,
at either api-version), in no line of the server's log at debug level, and nowhere in clear in the
store, read as raw bytes: the SQLite file with its -wal and -shm, or a pg_dump of PostgreSQL.

(401 without a token, with a forged or an expired one, and 403 outside one's subscriptions are
proven in tests/identity/test_api_access.py, tests/compat/test_errors.py and
tests/api/test_bad_input.py.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import Server, start_server, stop_server
from tests.hostile import world as w
from tests.store.conftest import _fresh_postgres_database

NEW_PASSWORD = "Pw-rotated-c41e0d7b93!"
NEW_PROTECTED = "protected-rotated-5a2f9c"
SECRETS = (w.PASSWORD, w.PROTECTED, NEW_PASSWORD, NEW_PROTECTED)
DEBUG = ("--log-level", "debug")  # the most the server ever logs


def _exercise(world: w.World) -> list[httpx.Response]:
    """Every kind of call that carries or reads the secrets; the responses."""
    seen: list[httpx.Response] = []
    vmss, vm = world.scale_set, f"{world.scale_set}/virtualMachines/0"
    with world.server.client() as client:
        for api in ("2024-03-01", "2018-10-01", "2026-04-01"):
            params = {"api-version": api}
            for path in (vmss, f"{world.group}/providers/Microsoft.Compute/virtualMachineScaleSets",
                         f"/subscriptions/{world.sub}/providers/Microsoft.Compute/virtualMachineScaleSets",
                         f"{vmss}/instanceView", f"{vmss}/virtualMachines", vm, f"{vm}/instanceView"):
                seen.append(client.get(path, params=params))
            seen.append(client.get(f"{vmss}/virtualMachines", params={**params, "$expand": "instanceView"}))
        params = {"api-version": "2024-03-01"}
        rotated = {"properties": {"virtualMachineProfile": {
            "osProfile": {"adminPassword": NEW_PASSWORD},
            "extensionProfile": {"extensions": [{"name": "setup", "properties": {
                "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
                "protectedSettings": {"commandToExecute": NEW_PROTECTED}}}]}}}}
        seen.append(client.patch(vmss, params=params, json=rotated))
        w.wait_until_settled(client, world)
        seen.append(client.put(vmss, params=params, json=w.scale_set_body(world.sub)))  # the full PUT again
        w.wait_until_settled(client, world)
        # Refused bodies carrying the secrets: the error must not quote them.
        bad_capacity = w.scale_set_body(world.sub, capacity=10**12)
        seen.append(client.put(f"{vmss}x", params=params, json=bad_capacity))
        wrong_types = w.scale_set_body(world.sub)
        wrong_types["properties"]["virtualMachineProfile"]["osProfile"]["adminPassword"] = [w.PASSWORD]
        seen.append(client.put(f"{vmss}y", params=params, json=wrong_types))
        wrong_types = w.scale_set_body(world.sub)
        extension = wrong_types["properties"]["virtualMachineProfile"]["extensionProfile"]["extensions"][0]
        extension["properties"]["protectedSettings"] = w.PROTECTED
        seen.append(client.put(f"{vmss}z", params=params, json=wrong_types))
        seen.append(client.post(f"{vmss}/reimage", params=params, json={"instanceIds": ["0"]}))
        w.wait_until_settled(client, world)
        seen.append(client.get(vmss, params=params))
    return seen


def _leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [secret for secret in SECRETS if secret.encode() in data]


def _check_responses_and_log(responses: list[httpx.Response], server: Server) -> None:
    assert any(r.status_code == 400 for r in responses) and any(r.status_code == 200 for r in responses)
    for response in responses:
        assert _leaks(response.text) == [], f"{response.request.method} {response.request.url}: {response.text[:300]}"
        assert _leaks(str(response.headers)) == []
    log = (server.data_dir / "server.log").read_bytes()
    assert log, "the server logged nothing at debug level"
    assert _leaks(log) == [], "the server log carries a secret"


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[w.World, list[httpx.Response]]]:
    folder = tmp_path_factory.mktemp("secrets")
    server = start_server(folder / "data", driver="sim", extra=DEBUG)
    try:
        world = w.build(server, folder)
        yield world, _exercise(world)
    finally:
        stop_server(server)


def test_no_response_and_no_log_line_carries_a_secret(sqlite_world: tuple[w.World, list[httpx.Response]]) -> None:
    world, responses = sqlite_world
    _check_responses_and_log(responses, world.server)


def test_the_sqlite_files_hold_no_secret_in_clear(sqlite_world: tuple[w.World, list[httpx.Response]]) -> None:
    world, _ = sqlite_world
    files = [world.server.data_dir / f"scaleset.db{suffix}" for suffix in ("", "-wal", "-shm", "-journal")]
    assert files[0].exists()
    for path in files:
        if path.exists():
            assert _leaks(path.read_bytes()) == [], path.name


@pytest.mark.postgres
def test_a_postgresql_dump_holds_no_secret_in_clear(tmp_path: Path) -> None:
    if not os.environ.get("SCALESET_TEST_DB"):
        pytest.skip("PostgreSQL tests run when SCALESET_TEST_DB names a database")
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    with _fresh_postgres_database() as url:
        server = start_server(tmp_path / "data", driver="sim", extra=DEBUG, db=url)
        try:
            world = w.build(server, tmp_path)
            _check_responses_and_log(_exercise(world), server)
        finally:
            stop_server(server)
        plain = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        dump = subprocess.run(["pg_dump", "--no-owner", "--dbname", plain], capture_output=True, check=True, timeout=120).stdout
    assert b"azureuser" in dump, "the dump does not hold the scale set at all"
    assert _leaks(dump) == [], "pg_dump shows a secret in clear"
