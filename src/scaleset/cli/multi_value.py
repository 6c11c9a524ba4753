"""az-style options that take several space-separated values: `--zones 1 2 3`, `--set a=1 b=2`.

click options take one value per occurrence, so commands of this CLI rewrite such arguments into
repeated occurrences (`--zones 1 --zones 2 --zones 3`) before click parses them. The values run
until the next token that looks like an option, as in az's argparse `nargs='+'`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any

import click

_NEGATIVE_NUMBER = re.compile(r"-[0-9.]+")


class MultiValueOption(click.Option):
    """An option accepting one or more values after a single flag; its value is a tuple."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["multiple"] = True
        super().__init__(*args, **kwargs)


class AzCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names = {
            name
            for param in self.params
            if isinstance(param, MultiValueOption)
            for name in (*param.opts, *param.secondary_opts)
        }
        return super().parse_args(ctx, expand_multi_values(args, names))


class AzGroup(click.Group):
    """A group whose commands (and subgroups) understand multi-value options."""

    command_class = AzCommand
    group_class = type  # subgroups are AzGroups too


def expand_multi_values(args: Sequence[str], names: Collection[str]) -> list[str]:
    expanded: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if arg == "--":
            expanded.append(arg)
            expanded.extend(args[position:])
            break
        if arg not in names:
            expanded.append(arg)
            continue
        values: list[str] = []
        while position < len(args) and not _looks_like_option(args[position]):
            values.append(args[position])
            position += 1
        if not values:
            expanded.append(arg)  # let click report the missing value
        for value in values:
            expanded.extend((arg, value))
    return expanded


def _looks_like_option(token: str) -> bool:
    return token.startswith("-") and len(token) > 1 and not _NEGATIVE_NUMBER.fullmatch(token)
