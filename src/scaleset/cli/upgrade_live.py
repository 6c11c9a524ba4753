"""Following a rolling upgrade until it ends: a live rich view on a terminal, a line per change
elsewhere (a log, a pipeline), so `rolling-upgrade start --wait` is both watchable and scriptable.

Each refresh reads the run's operation (which ends when the run ends), `rollingUpgrades/latest`
and the instances with their instance views. The run's own state is read at `LIVE_API_VERSION`:
older api-versions report a rollback as RollingForward.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, Protocol

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from scaleset.cli.arm_client import COMPUTE_API_VERSION, ArmClient, decode
from scaleset.cli.errors import CliError
from scaleset.cli.output import Column, cell_text
from scaleset.cli.upgrade_watch import RunWatch, instance_order

LIVE_API_VERSION = "2026-04-01"
REFRESH_SECONDS = 0.5
OPERATION_ENDED = frozenset({"succeeded", "failed", "canceled"})

_CODE_STYLE = {
    "RollingForward": "bold cyan",
    "RollingBack": "bold yellow",
    "Completed": "bold green",
    "Faulted": "bold red",
    "Cancelled": "bold magenta",
}
_HEALTH_STYLE = {"healthy": "green", "unhealthy": "red", "unknown": "yellow", "initializing": "yellow"}


def _batch_column(watch: RunWatch) -> Column:
    return Column("Batch", lambda row: watch.batch_of(row["instance_id"]))


# The live view's instance table; styled cells are chosen in `_instance_table`.
LIVE_INSTANCE_COLUMNS = (
    Column("InstanceId", "instance_id"),
    Column("Version", "version"),
    Column("State", "provisioning"),
    Column("Health", "health"),
    Column("Reason", "reason"),
)


class Display(Protocol):
    def show(self, watch: RunWatch, lines: Sequence[str]) -> None: ...


class LineDisplay:
    """No terminal: print what changed, one plain line each."""

    def show(self, watch: RunWatch, lines: Sequence[str]) -> None:
        for line in lines:
            click.echo(line)


class LiveDisplay:
    """A terminal: redraw the whole view in place."""

    def __init__(self, live: Live, *, title: str) -> None:
        self.live = live
        self.title = title

    def show(self, watch: RunWatch, lines: Sequence[str]) -> None:
        height = self.live.console.size.height
        self.live.update(live_view(watch, title=self.title, max_rows=max(3, height - 10)), refresh=True)


def stdout_console() -> Console:
    """The console the live view draws on (a seam for tests to hand in a terminal)."""
    return Console(file=sys.stdout)


def list_instances(client: ArmClient, scale_set_url: str) -> list[Any]:
    """Every instance with its instance view (version, provisioning state, health)."""
    return client.list_pages(f"{scale_set_url}/virtualMachines?$expand=instanceView", api_version=COMPUTE_API_VERSION)


def follow_run(
    client: ArmClient,
    scale_set_url: str,
    operation_url: str | None,
    watch: RunWatch,
    *,
    title: str,
    sleep: Callable[[float], None] = time.sleep,
) -> RunWatch:
    """Watch the latest run until it ends (its operation, when there is one, says when);
    returns `watch`, holding its final state."""
    console = stdout_console()
    try:
        if console.is_terminal:
            with Live(console=console, auto_refresh=False, transient=False) as live:
                _loop(client, scale_set_url, operation_url, watch, LiveDisplay(live, title=title), sleep)
        else:
            _loop(client, scale_set_url, operation_url, watch, LineDisplay(), sleep)
    except KeyboardInterrupt:
        raise CliError(
            f"stopped watching; the rolling upgrade of {title} goes on. "
            "Follow it with `scaleset vmss rolling-upgrade get-latest`.",
            exit_code=130,
        ) from None
    return watch


def _loop(
    client: ArmClient,
    scale_set_url: str,
    operation_url: str | None,
    watch: RunWatch,
    display: Display,
    sleep: Callable[[float], None],
) -> None:
    while True:
        # The operation first: once it has ended, the snapshot read next shows the end.
        operation_ended = operation_url is not None and _operation_ended(client, operation_url)
        latest = client.get(f"{scale_set_url}/rollingUpgrades/latest", api_version=LIVE_API_VERSION)
        instances = list_instances(client, scale_set_url)
        display.show(watch, watch.observe(latest, instances))
        # The operation is the word on the end; without one, the run's own terminal state is.
        if operation_ended or (operation_url is None and watch.ended):
            return
        sleep(REFRESH_SECONDS)


def _operation_ended(client: ArmClient, url: str) -> bool:
    operation = decode(client.request("GET", url))
    status = operation.get("status") if isinstance(operation, Mapping) else None
    return isinstance(status, str) and status.lower() in OPERATION_ENDED


# -- the terminal view ---------------------------------------------------------------------------


def live_view(watch: RunWatch, *, title: str, max_rows: int = 40) -> RenderableType:
    code = watch.code or "Unknown"
    header = Text.assemble(
        ("Rolling upgrade of ", "bold"),
        (title, "bold"),
        ": ",
        (code, _CODE_STYLE.get(code, "bold")),
        (" (paused)" if watch.paused else "", "bold yellow"),
    )
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=max(watch.total, 1), completed=watch.done, width=40),
        Text(f"{watch.done}/{watch.total}"),
    )
    counts = Text(
        f"{watch.successful} succeeded · {watch.failed} failed · "
        f"{watch.in_progress} in progress · {watch.pending} pending"
    )
    parts: list[RenderableType] = [header, bar, counts, _batches_text(watch)]
    if watch.error:
        error = watch.error
        parts.append(Text(f"({error.get('code') or 'Error'}) {error.get('message') or ''}", style="red"))
    parts.append(_instance_table(watch, max_rows=max_rows))
    return Group(*parts)


def _batches_text(watch: RunWatch) -> Text:
    if not watch.plan:
        return Text("Batches: no plan", style="dim")
    text = Text(f"Batches ({len(watch.batches)} of {len(watch.plan)} planned): ")
    if not watch.batches:
        text.append("none yet", style="dim")
    for position, batch in enumerate(watch.batches):
        if position:
            text.append(" · ")
        mark, style = ("✓", "green") if batch.finished else ("…", "bold cyan")
        text.append(f"{batch.number} [{', '.join(batch.instance_ids)}] {mark}", style=style)
    return text


def _instance_table(watch: RunWatch, *, max_rows: int) -> RenderableType:
    columns = (*LIVE_INSTANCE_COLUMNS[:1], _batch_column(watch), *LIVE_INSTANCE_COLUMNS[1:])
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in columns:
        table.add_column(column.header, no_wrap=True, overflow="ellipsis")  # a row per instance
    rows = [asdict(watch.instances[i]) for i in sorted(watch.instances, key=instance_order)]
    for row in rows[:max_rows]:
        table.add_row(*(_cell(column, row) for column in columns))
    if len(rows) > max_rows:
        return Group(table, Text(f"… and {len(rows) - max_rows} more instances", style="dim"))
    return table


def _cell(column: Column, row: Mapping[str, Any]) -> Text:
    value = cell_text(column.value(row))
    if column.header == "Health":
        return Text(value, style=_HEALTH_STYLE.get(value, ""))
    if column.header == "State" and value not in ("", "Succeeded"):
        return Text(value, style="yellow" if value != "Failed" else "red")
    return Text(value)
