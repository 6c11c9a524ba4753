from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from scaleset.cli.multi_value import AzGroup, MultiValueOption, expand_multi_values

NAMES = {"--zones", "-z", "--set"}


@pytest.mark.parametrize(
    ("args", "expanded"),
    [
        (["--zones", "1", "2", "3"], ["--zones", "1", "--zones", "2", "--zones", "3"]),
        (["-z", "1", "-n", "x"], ["-z", "1", "-n", "x"]),
        (["--zones", "1", "--zones", "2"], ["--zones", "1", "--zones", "2"]),
        (["--set", "a=1", "b=-2", "--no-wait"], ["--set", "a=1", "--set", "b=-2", "--no-wait"]),
        (["--set", "-1", "-5.5"], ["--set", "-1", "--set", "-5.5"]),  # negative numbers are values
        (["--zones=1", "2"], ["--zones=1", "2"]),  # the = form is click's business
        (["--zones"], ["--zones"]),  # click reports the missing value
        (["--zones", "--", "--set", "x"], ["--zones", "--", "--set", "x"]),
        (["-n", "--zones"], ["-n", "--zones"]),
    ],
)
def test_expand_multi_values_repeats_the_flag_per_value(args: list[str], expanded: list[str]) -> None:
    assert expand_multi_values(args, NAMES) == expanded


def test_commands_of_an_az_group_take_space_separated_values() -> None:
    @click.group(cls=AzGroup)
    def top() -> None:
        pass

    @top.group()
    def sub() -> None:
        pass

    @sub.command()
    @click.option("--zones", "-z", cls=MultiValueOption)
    @click.option("--sizes", cls=MultiValueOption, type=int)
    @click.option("--name")
    def cmd(zones: tuple[str, ...], sizes: tuple[int, ...], name: str) -> None:
        click.echo(f"{zones} {sizes} {name}")

    result = CliRunner().invoke(top, ["sub", "cmd", "-z", "1", "2", "--sizes", "8", "16", "--name", "x"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "('1', '2') (8, 16) x"
