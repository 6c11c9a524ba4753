"""What every client command shares: the connection options, the ARM client, the output format.

`client_command` adds `--endpoint --data-dir --token --ca --subscription --output` to a command
and hands it a `Session` instead, so each command states only its own flags.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from scaleset.cli.arm_client import SUBSCRIPTIONS_API_VERSION, ArmClient
from scaleset.cli.connection import resolve_connection
from scaleset.cli.errors import CliError
from scaleset.cli.output import FORMATS, Column, render

F = TypeVar("F", bound=Callable[..., Any])


class Session:
    def __init__(self, client: ArmClient, *, output: str, subscription: str | None) -> None:
        self.client = client
        self.output = output
        self._subscription = subscription

    @property
    def subscription(self) -> str:
        """The subscription given, else the first one the server lists for this token (as az)."""
        if self._subscription is None:
            listed = self.client.list_pages("/subscriptions", api_version=SUBSCRIPTIONS_API_VERSION)
            ids = [item.get("subscriptionId") for item in listed if isinstance(item, Mapping)]
            ids = [sid for sid in ids if sid]
            if not ids:
                raise CliError("the server lists no subscription for this token; pass --subscription")
            self._subscription = ids[0]
        return self._subscription

    def emit(
        self,
        data: Any,
        *,
        columns: Sequence[Column] | None = None,
        rows: Callable[[Any], list[Any]] | None = None,
    ) -> None:
        text = render(data, self.output, columns=columns, rows=rows)
        if text is not None:
            click.echo(text)


_CONNECTION_OPTIONS = (
    click.option(
        "--endpoint",
        envvar="SCALESET_ENDPOINT",
        help="Server URL. Default: the url in <data-dir>/endpoint.json.",
    ),
    click.option(
        "--data-dir",
        envvar="SCALESET_DATA_DIR",
        default="./.scaleset",
        show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Where `scaleset serve` keeps endpoint.json, token and ca.pem.",
    ),
    click.option(
        "--token",
        envvar="SCALESET_TOKEN",
        help="Bearer token. Default: the contents of <data-dir>/token.",
    ),
    click.option(
        "--ca",
        envvar="SCALESET_CA",
        type=click.Path(dir_okay=False, path_type=Path),
        help="CA certificate (PEM) to trust. Default: the ca in endpoint.json, else <data-dir>/ca.pem.",
    ),
    click.option(
        "--output",
        "-o",
        type=click.Choice(FORMATS, case_sensitive=False),
        default="json",
        show_default=True,
        help="Output format.",
    ),
)


_SUBSCRIPTION_OPTION = click.option(
    "--subscription",
    envvar="SCALESET_SUBSCRIPTION",
    help="Subscription ID. Default: the first subscription the server lists.",
)

# For commands about several subscriptions at once (`sp create --subscription A --subscription B`).
_SUBSCRIPTIONS_OPTION = click.option(
    "--subscription",
    "subscriptions",
    multiple=True,
    help="Subscription ID (repeatable).",
)


def client_command(func: F) -> F:
    """Decorate a command body taking `session`; place it closest to the function."""
    return _with_connection(func, _SUBSCRIPTION_OPTION)


def multi_subscription_command(func: F) -> F:
    """As `client_command`, for a body that takes `subscriptions` (a tuple) besides `session`."""
    return _with_connection(func, _SUBSCRIPTIONS_OPTION)


def _with_connection(func: F, subscription_option: Callable[[F], F]) -> F:
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        endpoint: str | None,
        data_dir: Path,
        token: str | None,
        ca: Path | None,
        output: str,
        subscription: str | None = None,
        **kwargs: Any,
    ) -> Any:
        connection = resolve_connection(data_dir=data_dir, endpoint=endpoint, token=token, ca=ca)
        with ArmClient(connection) as client:
            session = Session(client, output=output.lower(), subscription=subscription)
            return func(*args, session=session, **kwargs)

    for option in reversed((*_CONNECTION_OPTIONS, subscription_option)):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]
