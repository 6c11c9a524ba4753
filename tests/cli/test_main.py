from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from scaleset.cli.lazy_commands import LazyGroup
from scaleset.cli.main import main


def test_help_lists_the_command_groups() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("group", "vmss", "vm", "image"):
        assert f"  {name} " in result.output


def test_every_command_has_help() -> None:
    for path in (
        ["group", "create"], ["group", "show"], ["group", "list"], ["group", "delete"],
        ["vmss", "create"], ["vmss", "show"], ["vmss", "list"], ["vmss", "delete"],
        ["vmss", "list-instances"], ["vmss", "get-instance-view"], ["vmss", "reimage"],
        ["vmss", "scale"], ["vmss", "update"], ["vm", "image", "list"], ["vm", "image", "show"],
        ["image", "publish"],
    ):
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "--endpoint" in result.output and "--output" in result.output


def test_lazy_commands_load_on_use_and_vanish_when_their_module_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fake_serve_module.py").write_text(textwrap.dedent("""
        import click

        @click.command()
        def serve():
            click.echo("serving")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))

    @click.group(cls=LazyGroup, lazy_commands={"serve": "fake_serve_module", "gone": "no_such_module_xyz"})
    def top() -> None:
        pass

    assert "fake_serve_module" not in sys.modules
    listing = CliRunner().invoke(top, ["--help"])
    assert "serve" in listing.output and "gone" not in listing.output
    assert CliRunner().invoke(top, ["serve"]).output == "serving\n"
    assert CliRunner().invoke(top, ["gone"]).exit_code == 2


def test_client_commands_do_not_import_the_server_modules() -> None:
    for module in ("scaleset.cli.serve", "scaleset.cli.demo"):
        sys.modules.pop(module, None)
    CliRunner().invoke(main, ["vmss", "list", "--help"])
    assert "scaleset.cli.serve" not in sys.modules
    assert "scaleset.cli.demo" not in sys.modules
