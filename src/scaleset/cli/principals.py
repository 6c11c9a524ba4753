"""`scaleset sp ...`: service principals and managed identities, as `az ad sp create-for-rbac`.

An administrator's command (a static token): it registers who may log in with `az login
--service-principal` (or `--identity`) and which subscriptions each sees.
"""

from __future__ import annotations

import click

from scaleset.cli.arm_client import COMPUTE_API_VERSION
from scaleset.cli.multi_value import AzGroup
from scaleset.cli.output import Column
from scaleset.cli.session import Session, client_command, multi_subscription_command

PRINCIPALS = "/providers/Scaleset.Identity/principals"
COLUMNS = (Column("AppId", "appId"), Column("DisplayName", "displayName"), Column("Kind", "kind"))


@click.group(cls=AzGroup)
def sp() -> None:
    """Manage service principals and managed identities."""


@sp.command()
@click.option("--name", "-n", "display_name", help="Display name.")
@click.option("--identity", is_flag=True,
              help="Make a managed identity: prints IDENTITY_ENDPOINT and IDENTITY_HEADER for `az login --identity`.")
@multi_subscription_command
def create(session: Session, subscriptions: tuple[str, ...], display_name: str | None, identity: bool) -> None:
    """Register a principal with access to the given subscriptions (default: the first one listed).

    Prints its secret once; the server keeps only a hash of it."""
    body = {"kind": "ManagedIdentity" if identity else "ServicePrincipal",
            "subscriptions": list(subscriptions) or [session.subscription]}
    if display_name:
        body["displayName"] = display_name
    created = session.client.request("POST", PRINCIPALS, api_version=COMPUTE_API_VERSION, json=body).json()
    if identity:
        shown = {key: created[key] for key in ("clientId", "principalId", "tenantId", "identityEndpoint", "identityHeader")}
    else:
        shown = {key: created[key] for key in ("appId", "displayName", "password", "tenant")}
    session.emit(shown)


@sp.command(name="list")
@client_command
def list_principals(session: Session) -> None:
    """List the principals (never their secrets)."""
    session.emit(session.client.list_pages(PRINCIPALS, api_version=COMPUTE_API_VERSION), columns=COLUMNS)


@sp.command()
@click.option("--id", "app_id", required=True, help="The app id (client id) of the principal.")
@client_command
def delete(session: Session, app_id: str) -> None:
    """Delete a principal; its tokens stop working at once."""
    session.client.request("DELETE", f"{PRINCIPALS}/{app_id}", api_version=COMPUTE_API_VERSION)
