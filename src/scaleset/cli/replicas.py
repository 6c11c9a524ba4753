"""`scaleset replicas`: the server processes sharing one store, each with its heartbeat and the
leases it holds (so an operator sees which replica runs which scale set's upgrade)."""

from __future__ import annotations

from typing import Any

import click

from scaleset.cli.arm_client import COMPUTE_API_VERSION
from scaleset.cli.output import Column
from scaleset.cli.session import Session, client_command

REPLICAS = "/providers/Scaleset.Control/replicas"
COLUMNS = (Column("Id", "id"), Column("Host", "host"), Column("Pid", "pid"), Column("Url", "url"),
           Column("Alive", "alive"), Column("HeartbeatAge", "heartbeatAgeSeconds"), Column("Leases", "leaseNames"))


@click.command()
@client_command
def replicas(session: Session) -> None:
    """List the replicas serving this store, their heartbeats and the leases they hold."""
    found: list[dict[str, Any]] = session.client.list_pages(REPLICAS, api_version=COMPUTE_API_VERSION)
    for replica in found:
        # The table shows what each lease covers in short: the trigger, or a scale set's name.
        replica["leaseNames"] = " ".join(lease["name"].rsplit("/", 1)[-1] for lease in replica["leases"])
    session.emit(found, columns=COLUMNS)
