"""A command group that imports some commands only when they are used.

`serve` pulls in the whole server (Starlette, SQLAlchemy, drivers); a client command should not
pay for that import, and the client must keep working where the server module is absent.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

import click

from scaleset.cli.multi_value import AzGroup


class LazyGroup(AzGroup):
    def __init__(self, *args: object, lazy_commands: dict[str, str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # command name -> module holding a click command of that same name
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        available = [name for name, module in self.lazy_commands.items() if _exists(module)]
        return sorted({*super().list_commands(ctx), *available})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = self.lazy_commands.get(cmd_name)
        if module is not None and _exists(module):
            command = getattr(import_module(module), cmd_name)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module}.{cmd_name} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)


def _exists(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:
        return False
