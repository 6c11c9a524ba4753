from __future__ import annotations

import json
from pathlib import Path

import pytest

from scaleset.cli.connection import Connection, resolve_connection
from scaleset.cli.errors import CliError


def _serve_files(data_dir: Path, *, url: str = "https://127.0.0.1:8443", ca: str | None = None,
                 token: str | None = "file-token", ca_pem: bool = False) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "endpoint.json").write_text(json.dumps({"url": url, "ca": ca}))
    if token is not None:
        (data_dir / "token").write_text(token + "\n")
    if ca_pem:
        (data_dir / "ca.pem").write_text("pem")


def test_everything_comes_from_the_data_dir_when_no_flag_is_given(tmp_path: Path) -> None:
    _serve_files(tmp_path, ca="/abs/ca.pem")
    assert resolve_connection(data_dir=tmp_path) == Connection(
        endpoint="https://127.0.0.1:8443", token="file-token", ca=Path("/abs/ca.pem")
    )


def test_flags_win_over_the_files(tmp_path: Path) -> None:
    _serve_files(tmp_path, ca="/abs/ca.pem")
    connection = resolve_connection(
        data_dir=tmp_path, endpoint="http://other:1/", token="flag", ca=Path("/flag/ca.pem")
    )
    assert connection == Connection("http://other:1", "flag", Path("/flag/ca.pem"))


def test_ca_falls_back_to_ca_pem_in_the_data_dir(tmp_path: Path) -> None:
    _serve_files(tmp_path, ca=None, ca_pem=True)
    assert resolve_connection(data_dir=tmp_path).ca == tmp_path / "ca.pem"


def test_a_relative_ca_in_endpoint_json_is_relative_to_the_data_dir(tmp_path: Path) -> None:
    _serve_files(tmp_path, ca="tls/ca.pem")
    assert resolve_connection(data_dir=tmp_path).ca == tmp_path / "tls" / "ca.pem"


def test_no_token_and_no_ca_when_the_files_are_absent(tmp_path: Path) -> None:
    connection = resolve_connection(data_dir=tmp_path, endpoint="http://127.0.0.1:1")
    assert connection.token is None and connection.ca is None


def test_no_endpoint_anywhere_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="--endpoint.*SCALESET_ENDPOINT.*scaleset serve"):
        resolve_connection(data_dir=tmp_path / "missing")


def test_a_broken_endpoint_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "endpoint.json").write_text("{not json")
    with pytest.raises(CliError, match="endpoint.json is not valid JSON"):
        resolve_connection(data_dir=tmp_path)
