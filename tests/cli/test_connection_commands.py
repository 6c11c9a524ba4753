"""How commands find and reach the server: data-dir defaults, environment, TLS, failures."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scaleset.cli.main import main
from tests.cli.arm_server import ArmServer, Reply
from tests.cli.conftest import SUB
from tests.cli.tls import make_certificates

SUBSCRIPTIONS = {
    "value": [
        {"id": f"/subscriptions/{SUB}", "subscriptionId": SUB, "displayName": "local",
         "state": "Enabled", "tenantId": "t"},
        {"id": "/subscriptions/other", "subscriptionId": "other", "displayName": "second",
         "state": "Enabled", "tenantId": "t"},
    ]
}


def write_data_dir(data_dir: Path, url: str, *, ca: str | None = None, token: str = "file-token") -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "endpoint.json").write_text(json.dumps({"url": url, "ca": ca}))
    (data_dir / "token").write_text(token + "\n")


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_no_flags_at_all_uses_the_data_dir_and_the_first_subscription(
    server: ArmServer, isolated: Path
) -> None:
    write_data_dir(isolated / ".scaleset", server.url)
    server.on("GET", "/subscriptions", Reply(200, SUBSCRIPTIONS))
    server.on("GET", f"/subscriptions/{SUB}/resourcegroups", Reply(200, {"value": []}))

    result = invoke("group", "list")

    assert result.exit_code == 0, result.output
    listing, groups = server.requests
    assert listing.path == "/subscriptions" and listing.api_version == "2022-12-01"
    assert groups.path == f"/subscriptions/{SUB}/resourcegroups"
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer file-token"}


def test_environment_variables_replace_flags(server: ArmServer, isolated: Path) -> None:
    write_data_dir(isolated / "elsewhere", "http://127.0.0.1:9", token="from-file")
    server.on("GET", "/subscriptions/env-sub/resourcegroups", Reply(200, {"value": []}))
    result = invoke(
        "group", "list",
        env={
            "SCALESET_DATA_DIR": str(isolated / "elsewhere"),
            "SCALESET_ENDPOINT": server.url,
            "SCALESET_TOKEN": "from-env",
            "SCALESET_SUBSCRIPTION": "env-sub",
        },
    )
    assert result.exit_code == 0, result.output
    (request,) = server.requests
    assert request.headers["authorization"] == "Bearer from-env"


def test_no_subscription_listed_is_a_clear_error(server: ArmServer) -> None:
    server.on("GET", "/subscriptions", Reply(200, {"value": []}))
    result = invoke("group", "list", "--endpoint", server.url)
    assert result.exit_code == 1
    assert "no subscription" in result.stderr and "--subscription" in result.stderr


def test_without_a_token_no_authorization_is_sent_and_401_is_reported(server: ArmServer) -> None:
    server.on("GET", "/subscriptions/s/resourcegroups", Reply(401, b"unauthorized", {"WWW-Authenticate": "Bearer"}))
    result = invoke("group", "list", "--endpoint", server.url, "--subscription", "s")
    assert "authorization" not in server.requests[0].headers
    assert result.exit_code == 1
    assert result.stderr.strip() == "(401 Unauthorized) unauthorized"


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield probe.getsockname()[1]  # bound but never listening: connections are refused


def test_connection_refused_names_the_endpoint(closed_port: int) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"
    result = invoke("vmss", "list", "--endpoint", endpoint, "--subscription", "s")
    assert result.exit_code == 1
    assert f"cannot connect to the scaleset server at {endpoint}" in result.stderr
    assert "scaleset serve" in result.stderr


def test_no_endpoint_anywhere(isolated: Path) -> None:
    result = invoke("vmss", "list")
    assert result.exit_code == 1
    assert "no scaleset endpoint" in result.stderr


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ArmServer, Path]]:
    ca, cert, key = make_certificates(tmp_path)
    arm = ArmServer(tls=(cert, key)).start()
    yield arm, ca
    arm.stop()


def test_https_trusts_the_ca_named_in_endpoint_json(tls_server: tuple[ArmServer, Path], isolated: Path) -> None:
    server, ca = tls_server
    write_data_dir(isolated / ".scaleset", server.url, ca=str(ca))
    server.on("GET", "/subscriptions/s/resourcegroups", Reply(200, {"value": [{"name": "rg", "location": "l"}]}))
    result = invoke("group", "list", "--subscription", "s", "-o", "tsv")
    assert result.exit_code == 0, result.output
    assert result.stdout == "rg\tl\t\n"


def test_https_falls_back_to_ca_pem_in_the_data_dir(tls_server: tuple[ArmServer, Path], isolated: Path) -> None:
    server, ca = tls_server
    write_data_dir(isolated / ".scaleset", server.url)
    (isolated / ".scaleset" / "ca.pem").write_bytes(ca.read_bytes())
    server.on("GET", "/subscriptions/s/resourcegroups", Reply(200, {"value": []}))
    assert invoke("group", "list", "--subscription", "s").exit_code == 0


def test_https_with_an_untrusted_certificate_fails_clearly(tls_server: tuple[ArmServer, Path]) -> None:
    server, _ = tls_server
    result = invoke("group", "list", "--endpoint", server.url, "--subscription", "s")
    assert result.exit_code == 1
    assert "cannot connect" in result.stderr and "CERTIFICATE_VERIFY_FAILED" in result.stderr
