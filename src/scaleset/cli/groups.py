"""`scaleset group ...`: resource groups (Microsoft.Resources), as `az group`."""

from __future__ import annotations

import click

from scaleset.cli.arm_client import RESOURCES_API_VERSION
from scaleset.cli.arm_paths import resource_group_path, resource_groups_path
from scaleset.cli.lro import finish_action, finish_put
from scaleset.cli.multi_value import AzGroup
from scaleset.cli.output import Column
from scaleset.cli.session import Session, client_command

GROUP_COLUMNS = (
    Column("Name", "name"),
    Column("Location", "location"),
    Column("Status", "properties.provisioningState"),
)


@click.group(cls=AzGroup)
def group() -> None:
    """Manage resource groups."""


@group.command()
@click.option("--name", "-n", required=True, help="Resource group name.")
@click.option("--location", "-l", required=True, help="Location, e.g. westeurope.")
@client_command
def create(session: Session, name: str, location: str) -> None:
    """Create (or update) a resource group."""
    url = resource_group_path(session.subscription, name)
    response = session.client.request(
        "PUT", url, api_version=RESOURCES_API_VERSION, json={"location": location}
    )
    resource = finish_put(session.client, url, response, api_version=RESOURCES_API_VERSION)
    session.emit(resource, columns=GROUP_COLUMNS)


@group.command()
@click.option("--name", "-n", required=True, help="Resource group name.")
@client_command
def show(session: Session, name: str) -> None:
    """Show a resource group."""
    url = resource_group_path(session.subscription, name)
    session.emit(session.client.get(url, api_version=RESOURCES_API_VERSION), columns=GROUP_COLUMNS)


@group.command(name="list")
@client_command
def list_groups(session: Session) -> None:
    """List the resource groups of the subscription."""
    groups = session.client.list_pages(
        resource_groups_path(session.subscription), api_version=RESOURCES_API_VERSION
    )
    session.emit(groups, columns=GROUP_COLUMNS)


@group.command()
@click.option("--name", "-n", required=True, help="Resource group name.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-wait", is_flag=True, help="Do not wait for the deletion to finish.")
@client_command
def delete(session: Session, name: str, yes: bool, no_wait: bool) -> None:
    """Delete a resource group and everything in it."""
    if not yes:
        # az asks too: this deletes every scale set in the group.
        click.confirm("Are you sure you want to perform this operation?", abort=True)
    url = resource_group_path(session.subscription, name)
    response = session.client.request("DELETE", url, api_version=RESOURCES_API_VERSION)
    if not no_wait:
        finish_action(session.client, response)
