"""`scaleset vmss ...`: scale sets and their instances, with az's command names and flags."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from scaleset.cli.arm_client import COMPUTE_API_VERSION, RESOURCES_API_VERSION
from scaleset.cli.arm_paths import (
    resource_group_of,
    resource_group_path,
    scale_set_path,
    scale_set_vm_path,
    scale_sets_path,
)
from scaleset.cli.errors import CliError
from scaleset.cli.lro import finish_action, finish_put
from scaleset.cli.multi_value import AzGroup, MultiValueOption
from scaleset.cli.output import Column
from scaleset.cli.rolling_upgrade import get_os_upgrade_history, rolling_upgrade
from scaleset.cli.session import Session, client_command
from scaleset.cli.set_path import PathError, apply_updates, set_value
from scaleset.cli.upgrade_health import health_reason, health_state
from scaleset.cli.urn import parse_urn
from scaleset.cli.vmss_body import (
    DEFAULT_ADMIN_USERNAME,
    DEFAULT_VM_SKU,
    UPGRADE_MODES,
    build_scale_set,
)

VMSS_COLUMNS = (
    Column("Name", "name"),
    Column("ResourceGroup", lambda row: resource_group_of(row.get("id"))),
    Column("Location", "location"),
    Column("Zones", "zones"),
    Column("Capacity", "sku.capacity"),
    Column("UpgradePolicy", "properties.upgradePolicy.mode"),
    Column("ProvisioningState", "properties.provisioningState"),
)

INSTANCE_COLUMNS = (
    Column("InstanceId", "instanceId"),
    Column("Name", "name"),
    Column("ProvisioningState", "properties.provisioningState"),
    Column("LatestModelApplied", "properties.latestModelApplied"),
    Column("Version", "properties.storageProfile.imageReference.exactVersion"),
    Column("Zone", "zones.0"),
)


def _status(prefix: str) -> Column:
    """A column showing the `<prefix>/<value>` status code of an instance view, e.g. PowerState."""

    def value(view: Any) -> str | None:
        for status in (view or {}).get("statuses") or []:
            code = str(status.get("code", ""))
            if code.lower().startswith(prefix.lower() + "/"):
                return code.split("/", 1)[1]
        return None

    return Column(prefix, value)


VM_INSTANCE_VIEW_COLUMNS = (
    _status("ProvisioningState"),
    _status("PowerState"),
    Column("Health", "vmHealth.status.code"),
)
ALL_INSTANCE_VIEWS_COLUMNS = (Column("InstanceId", "instanceId"), *VM_INSTANCE_VIEW_COLUMNS)
# A table is read by people: the health state in one word and the server's reason for it. tsv keeps
# the columns above, which scripts read by position.
VM_INSTANCE_VIEW_TABLE_COLUMNS = (
    *VM_INSTANCE_VIEW_COLUMNS[:2],
    Column("Health", health_state),
    Column("HealthReason", health_reason),
)
ALL_INSTANCE_VIEWS_TABLE_COLUMNS = (Column("InstanceId", "instanceId"), *VM_INSTANCE_VIEW_TABLE_COLUMNS)
STATUS_SUMMARY_COLUMNS = (Column("Code", "code"), Column("Count", "count"))

_resource_group_option = click.option(
    "--resource-group", "-g", required=True, help="Resource group name."
)
_name_option = click.option("--name", "-n", required=True, help="Scale set name.")
_no_wait_option = click.option(
    "--no-wait", is_flag=True, help="Do not wait for the long-running operation to finish."
)


@click.group(cls=AzGroup)
def vmss() -> None:
    """Manage virtual machine scale sets."""


vmss.add_command(rolling_upgrade)
vmss.add_command(get_os_upgrade_history)


# Both create and update take it; az spells it the same on both.
_auto_os_upgrade_option = click.option(
    "--enable-auto-os-upgrade",
    type=click.BOOL,
    help="Roll new OS image versions out automatically (true|false).",
)


@vmss.command()
@_resource_group_option
@_name_option
@click.option("--image", required=True, help="Image URN: PUBLISHER:OFFER:SKU:VERSION.")
@click.option("--instance-count", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--location", "-l", help="Location. Default: the resource group's location.")
@click.option("--vm-sku", default=DEFAULT_VM_SKU, show_default=True, help="Size of each instance.")
@click.option(
    "--upgrade-policy-mode",
    type=click.Choice(UPGRADE_MODES, case_sensitive=False),
    default="Manual",
    show_default=True,
)
@click.option("--computer-name-prefix", help="Default: the scale set name, cut to 9 characters.")
@click.option(
    "--custom-data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File whose contents reach each instance as custom data (cloud-init, a script, ...).",
)
@click.option("--admin-username", default=DEFAULT_ADMIN_USERNAME, show_default=True)
@click.option("--admin-password", help="Admin password; never returned by the server.")
@click.option("--health-probe", help="Resource id of the load balancer probe that gates upgrades.")
@click.option("--zones", "-z", cls=MultiValueOption, help="Availability zones, e.g. --zones 1 2 3.")
@click.option(
    "--data-disk-sizes-gb",
    cls=MultiValueOption,
    type=click.IntRange(min=1),
    help="Empty data disks to attach, one size per disk (LUNs 0, 1, ...).",
)
@_auto_os_upgrade_option
@_no_wait_option
@client_command
def create(
    session: Session,
    resource_group: str,
    name: str,
    image: str,
    instance_count: int,
    location: str | None,
    vm_sku: str,
    upgrade_policy_mode: str,
    computer_name_prefix: str | None,
    custom_data: Path | None,
    admin_username: str,
    admin_password: str | None,
    health_probe: str | None,
    zones: tuple[str, ...],
    data_disk_sizes_gb: tuple[int, ...],
    enable_auto_os_upgrade: bool | None,
    no_wait: bool,
) -> None:
    """Create (or replace) a scale set."""
    urn = parse_urn(image)
    if location is None:
        group = session.client.get(
            resource_group_path(session.subscription, resource_group),
            api_version=RESOURCES_API_VERSION,
        )
        location = group["location"]
    body = build_scale_set(
        name=name,
        location=location,
        image=urn,
        capacity=instance_count,
        vm_sku=vm_sku,
        upgrade_mode=upgrade_policy_mode,
        computer_name_prefix=computer_name_prefix,
        admin_username=admin_username,
        admin_password=admin_password,
        custom_data=custom_data.read_bytes() if custom_data else None,
        health_probe=health_probe,
        zones=zones,
        data_disk_sizes_gb=data_disk_sizes_gb,
        enable_auto_os_upgrade=enable_auto_os_upgrade,
    )
    _put_scale_set(session, resource_group, name, body, no_wait=no_wait)


@vmss.command()
@_resource_group_option
@_name_option
@client_command
def show(session: Session, resource_group: str, name: str) -> None:
    """Show a scale set."""
    url = scale_set_path(session.subscription, resource_group, name)
    session.emit(session.client.get(url, api_version=COMPUTE_API_VERSION), columns=VMSS_COLUMNS)


@vmss.command(name="list")
@click.option("--resource-group", "-g", help="Resource group. Default: the whole subscription.")
@client_command
def list_scale_sets(session: Session, resource_group: str | None) -> None:
    """List scale sets in a resource group or in the subscription."""
    url = scale_sets_path(session.subscription, resource_group)
    session.emit(
        session.client.list_pages(url, api_version=COMPUTE_API_VERSION), columns=VMSS_COLUMNS
    )


@vmss.command()
@_resource_group_option
@_name_option
@click.option("--force-deletion", is_flag=True, help="Delete even instances that do not stop.")
@_no_wait_option
@client_command
def delete(
    session: Session, resource_group: str, name: str, force_deletion: bool, no_wait: bool
) -> None:
    """Delete a scale set and its instances."""
    url = scale_set_path(session.subscription, resource_group, name)
    params = {"forceDeletion": "true"} if force_deletion else None
    response = session.client.request(
        "DELETE", url, api_version=COMPUTE_API_VERSION, params=params
    )
    if not no_wait:
        finish_action(session.client, response)


@vmss.command(name="list-instances")
@_resource_group_option
@_name_option
@client_command
def list_instances(session: Session, resource_group: str, name: str) -> None:
    """List the instances of a scale set."""
    url = scale_set_path(session.subscription, resource_group, name) + "/virtualMachines"
    session.emit(
        session.client.list_pages(url, api_version=COMPUTE_API_VERSION), columns=INSTANCE_COLUMNS
    )


@vmss.command(name="get-instance-view")
@_resource_group_option
@_name_option
@click.option("--instance-id", help="One instance's view; '*' for every instance's.")
@client_command
def get_instance_view(
    session: Session, resource_group: str, name: str, instance_id: str | None
) -> None:
    """Show the instance view of a scale set, or of its instances."""
    subscription = session.subscription
    api = COMPUTE_API_VERSION
    if instance_id is None:
        view = session.client.get(
            scale_set_path(subscription, resource_group, name) + "/instanceView", api_version=api
        )
        session.emit(view, columns=STATUS_SUMMARY_COLUMNS, rows=_status_summary)
    elif instance_id == "*":
        instances = session.client.list_pages(
            scale_set_path(subscription, resource_group, name) + "/virtualMachines", api_version=api
        )
        views = []
        for instance in instances:
            vm_id = str(instance.get("instanceId"))
            vm_url = scale_set_vm_path(subscription, resource_group, name, vm_id)
            # The view itself does not name its instance; without the id the list is unreadable.
            view = session.client.get(vm_url + "/instanceView", api_version=api)
            views.append({"instanceId": vm_id, **(view or {})})
        table = session.output == "table"
        session.emit(
            views, columns=ALL_INSTANCE_VIEWS_TABLE_COLUMNS if table else ALL_INSTANCE_VIEWS_COLUMNS
        )
    else:
        vm_url = scale_set_vm_path(subscription, resource_group, name, instance_id)
        table = session.output == "table"
        session.emit(
            session.client.get(vm_url + "/instanceView", api_version=api),
            columns=VM_INSTANCE_VIEW_TABLE_COLUMNS if table else VM_INSTANCE_VIEW_COLUMNS,
        )


@vmss.command()
@_resource_group_option
@_name_option
@click.option(
    "--instance-ids", cls=MultiValueOption, help="Instances to reimage. Default: all of them."
)
@_no_wait_option
@client_command
def reimage(
    session: Session, resource_group: str, name: str, instance_ids: tuple[str, ...], no_wait: bool
) -> None:
    """Reimage instances from the scale set's image; data disks are kept."""
    url = scale_set_path(session.subscription, resource_group, name) + "/reimage"
    body: dict[str, Any] | None = {"instanceIds": list(instance_ids)} if instance_ids else None
    if body is None:
        response = session.client.request("POST", url, api_version=COMPUTE_API_VERSION)
    else:
        response = session.client.request("POST", url, api_version=COMPUTE_API_VERSION, json=body)
    if not no_wait:
        session.emit(finish_action(session.client, response))


@vmss.command()
@_resource_group_option
@_name_option
@click.option("--new-capacity", type=click.IntRange(min=0), required=True, help="Instance count.")
@_no_wait_option
@client_command
def scale(
    session: Session, resource_group: str, name: str, new_capacity: int, no_wait: bool
) -> None:
    """Change the number of instances."""
    url = scale_set_path(session.subscription, resource_group, name)
    response = session.client.request(
        "PATCH", url, api_version=COMPUTE_API_VERSION, json={"sku": {"capacity": new_capacity}}
    )
    if no_wait:
        return
    resource = finish_put(session.client, url, response, api_version=COMPUTE_API_VERSION)
    session.emit(resource, columns=VMSS_COLUMNS)


@vmss.command()
@_resource_group_option
@_name_option
@click.option(
    "--set",
    "sets",
    cls=MultiValueOption,
    metavar="PATH=VALUE",
    help="Set a property, e.g. --set upgradePolicy.mode=Rolling. Paths match case-insensitively.",
)
@click.option(
    "--remove",
    "removes",
    cls=MultiValueOption,
    metavar="PATH [INDEX]",
    help="Remove a property, or a list element: --remove a.list 0.",
)
@click.option("--force-string", is_flag=True, help="Take --set values as strings, never as JSON.")
@_auto_os_upgrade_option
@_no_wait_option
@client_command
def update(
    session: Session,
    resource_group: str,
    name: str,
    sets: tuple[str, ...],
    removes: tuple[str, ...],
    force_string: bool,
    enable_auto_os_upgrade: bool | None,
    no_wait: bool,
) -> None:
    """Update a scale set: GET it, apply the changes, PUT it back (az's generic update)."""
    url = scale_set_path(session.subscription, resource_group, name)
    resource = session.client.get(url, api_version=COMPUTE_API_VERSION)
    try:
        if enable_auto_os_upgrade is not None:
            resource = set_value(
                resource,
                "properties.upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade",
                enable_auto_os_upgrade,
            )
        resource = apply_updates(resource, sets=sets, removes=removes, force_string=force_string)
    except PathError as error:
        raise CliError(str(error), exit_code=2) from error
    _put_scale_set(session, resource_group, name, resource, no_wait=no_wait)


def _put_scale_set(
    session: Session, resource_group: str, name: str, body: Mapping[str, Any], *, no_wait: bool
) -> None:
    url = scale_set_path(session.subscription, resource_group, name)
    response = session.client.request("PUT", url, api_version=COMPUTE_API_VERSION, json=body)
    if no_wait:
        return
    resource = finish_put(session.client, url, response, api_version=COMPUTE_API_VERSION)
    session.emit(resource, columns=VMSS_COLUMNS)


def _status_summary(view: Any) -> list[Any]:
    return list(((view or {}).get("virtualMachine") or {}).get("statusesSummary") or [])
