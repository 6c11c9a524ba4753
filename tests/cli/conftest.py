from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scaleset.cli.main import main
from tests.cli.arm_server import ArmServer

SUB = "00000000-0000-0000-0000-0000000000aa"
TOKEN = "test-token"

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SCALESET_* variable from the developer's shell, and a fresh cwd for ./.scaleset."""
    for name in ("ENDPOINT", "DATA_DIR", "TOKEN", "CA", "SUBSCRIPTION"):
        monkeypatch.delenv(f"SCALESET_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def server() -> Iterator[ArmServer]:
    arm = ArmServer().start()
    yield arm
    arm.stop()


@pytest.fixture
def run(server: ArmServer) -> Run:
    """Invoke `scaleset ARGS...` against the test server, with explicit connection flags."""

    def invoke(*args: str, input: str | None = None, connect: bool = True) -> Result:
        extra = ["--endpoint", server.url, "--token", TOKEN, "--subscription", SUB] if connect else []
        return CliRunner().invoke(main, [*args, *extra], input=input, catch_exceptions=False)

    return invoke
