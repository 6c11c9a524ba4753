"""`scaleset vmss rolling-upgrade ...` and `vmss get-os-upgrade-history`: OS image rollouts, as az.

`start --dry-run` prints the server's plan and changes nothing; `start --wait` follows the run live
(see `upgrade_live.py`) and exits 0 only when it completed, so a pipeline can wait on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from scaleset.cli.arm_client import COMPUTE_API_VERSION, decode
from scaleset.cli.arm_paths import scale_set_path
from scaleset.cli.errors import CliError, format_arm_error
from scaleset.cli.lro import finish_action
from scaleset.cli.multi_value import AzGroup
from scaleset.cli.output import Column, lookup, render_table
from scaleset.cli.session import Session, client_command
from scaleset.cli.upgrade_live import follow_run
from scaleset.cli.upgrade_watch import RunWatch, watch_for_plan

_resource_group_option = click.option(
    "--resource-group", "-g", required=True, help="Resource group name."
)
_name_option = click.option("--name", "-n", required=True, help="Scale set name.")
_no_wait_option = click.option(
    "--no-wait", is_flag=True, help="Do not wait for the long-running operation to finish."
)


@click.group(name="rolling-upgrade", cls=AzGroup)
def rolling_upgrade() -> None:
    """Start, watch and steer OS rolling upgrades of a scale set."""


# -- start ---------------------------------------------------------------------------------------

LATEST_COLUMNS = (
    Column("Status", "properties.runningStatus.code"),
    Column("Paused", lambda row: lookup(row, "properties.runningStatus.paused") is True),
    Column("StartTime", "properties.runningStatus.startTime"),
    Column("LastAction", "properties.runningStatus.lastAction"),
    Column("Successful", "properties.progress.successfulInstanceCount"),
    Column("Failed", "properties.progress.failedInstanceCount"),
    Column("InProgress", "properties.progress.inProgressInstanceCount"),
    Column("Pending", "properties.progress.pendingInstanceCount"),
    Column("Error", "properties.error.code"),
)

# The dry-run plan: `-o table` shows these and the plan's other parts; `-o tsv` the batches alone.
PLAN_BATCH_COLUMNS = (
    Column("Batch", lambda batch: batch["index"] + 1),
    Column("Size", lambda batch: len(batch.get("instanceIds") or [])),
    Column("InstanceIds", "instanceIds"),
)
PLAN_SKIPPED_COLUMNS = (Column("InstanceId", "instanceId"), Column("Reason", "reason"))


@rolling_upgrade.command()
@_resource_group_option
@_name_option
@click.option(
    "--force-reimage", is_flag=True, help="Reimage every instance, even those already on the target."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (batches, skipped instances, expected duration) and change nothing.",
)
@click.option(
    "--wait",
    "watch",
    is_flag=True,
    help="Show the run live until it ends; exit 0 only if it completed.",
)
@_no_wait_option
@client_command
def start(
    session: Session,
    resource_group: str,
    name: str,
    force_reimage: bool,
    dry_run: bool,
    watch: bool,
    no_wait: bool,
) -> None:
    """Upgrade every instance to the newest image version, batch by batch, gated on health."""
    if watch and no_wait:
        raise click.UsageError("--wait and --no-wait exclude each other.")
    if dry_run and (watch or no_wait):
        raise click.UsageError("--dry-run starts nothing to wait for; drop --wait/--no-wait.")
    url = scale_set_path(session.subscription, resource_group, name)
    params = {"forceReimage": "true"} if force_reimage else {}
    if dry_run:
        _emit_plan(session, _plan(session, url, params))
        return
    # The live view names each batch's instances from the plan: the run's API does not.
    watcher = watch_for_plan(_plan(session, url, params)) if watch else None
    response = session.client.request(
        "POST", f"{url}/osRollingUpgrade", api_version=COMPUTE_API_VERSION, params=params or None
    )
    if no_wait:
        return
    if watcher is None:
        session.emit(finish_action(session.client, response))
        return
    ended = follow_run(session.client, url, response.headers.get("azure-asyncoperation"), watcher, title=name)
    session.emit(dict(ended.latest), columns=LATEST_COLUMNS)
    _fail_unless_completed(ended, name)


def _plan(session: Session, url: str, params: Mapping[str, str]) -> Mapping[str, Any]:
    plan = decode(
        session.client.request(
            "POST",
            f"{url}/osRollingUpgrade",
            api_version=COMPUTE_API_VERSION,
            params={**params, "dryRun": "true"},
        )
    )
    if not isinstance(plan, Mapping) or plan.get("dryRun") is not True:
        # A server that does not know dryRun would have started a real upgrade: say so.
        raise CliError(
            "the server did not answer with a dry-run plan; it may have started the upgrade. "
            "Check with `scaleset vmss rolling-upgrade get-latest`."
        )
    return plan


def _emit_plan(session: Session, plan: Mapping[str, Any]) -> None:
    if session.output != "table":
        session.emit(plan, columns=PLAN_BATCH_COLUMNS, rows=lambda p: list(p.get("batches") or []))
        return
    click.echo(plan_text(plan))


def plan_text(plan: Mapping[str, Any]) -> str:
    """The dry-run plan for people: a blocked start first and last, where it cannot be missed."""
    blocked = plan.get("blocked")
    banner = (
        f"BLOCKED: this upgrade would stop before its first batch.\n{format_arm_error(blocked)}"
        if isinstance(blocked, Mapping)
        else None
    )
    parts = ["Rolling upgrade plan (dry run: nothing was changed)"]
    if banner:
        parts.append(banner)
    batches = list(plan.get("batches") or [])
    parts.append(render_table(batches, PLAN_BATCH_COLUMNS) if batches else "No batch: nothing to upgrade.")
    target = plan.get("targetImageReference") or {}
    urn = ":".join(
        str(target.get(key) or "?") for key in ("publisher", "offer", "sku", "exactVersion")
    )
    details = [f"Target:            {urn}"]
    skipped = list(plan.get("skipped") or [])
    details.append(f"Skipped:           {len(skipped)} instance(s)")
    seconds = plan.get("expectedDurationSeconds")
    about = f"about {_human_seconds(seconds)}; " if isinstance(seconds, (int, float)) else ""
    details.append(
        f"Expected duration: {plan.get('expectedDuration') or '?'} "
        f"({about}{plan.get('estimateBasis') or 'no basis given'})"
    )
    if isinstance(plan.get("policy"), Mapping):
        details.append(f"Policy:            {_policy_text(plan['policy'])}")
    parts.append("\n".join(details))
    if skipped:
        parts.append(render_table(skipped, PLAN_SKIPPED_COLUMNS))
    if banner:
        parts.append(banner)
    return "\n\n".join(parts)


def _policy_text(policy: Mapping[str, Any]) -> str:
    return (
        f"batches of at most {policy.get('maxBatchInstancePercent')}%, "
        f"stop above {policy.get('maxUnhealthyInstancePercent')}% unhealthy "
        f"or {policy.get('maxUnhealthyUpgradedInstancePercent')}% unhealthy upgraded, "
        f"pause {policy.get('pauseTimeBetweenBatches')} between batches"
    )


def _human_seconds(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    pieces = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(piece for piece in pieces if piece) or "0 s"


def _fail_unless_completed(watch: RunWatch, name: str) -> None:
    code = watch.code
    if code == "Completed":
        return
    if code == "Faulted":
        error = watch.error or {"code": "Faulted", "message": f"the rolling upgrade of {name} faulted"}
        raise CliError(format_arm_error(_naming_instances(error)))
    if code == "Cancelled":
        raise CliError(
            f"(Cancelled) the rolling upgrade of {name} was cancelled after "
            f"{watch.successful} of {watch.total} instances were upgraded"
        )
    raise CliError(f"the rolling upgrade's operation ended, but the run reports {code or 'no state'}")


def _naming_instances(error: Mapping[str, Any]) -> Mapping[str, Any]:
    """The run error with each detail's target (an instance id) put in front of its message."""
    details = [
        {**detail, "message": f"instance {detail['target']}: {detail.get('message') or ''}"}
        if isinstance(detail, Mapping) and detail.get("target") is not None
        else detail
        for detail in error.get("details") or []
    ]
    return {**error, "details": details} if details else error


# -- steering a run ------------------------------------------------------------------------------


def _steering_command(action: str, summary: str) -> click.Command:
    @rolling_upgrade.command(name=action, help=summary)
    @_resource_group_option
    @_name_option
    @_no_wait_option
    @client_command
    def command(session: Session, resource_group: str, name: str, no_wait: bool) -> None:
        url = scale_set_path(session.subscription, resource_group, name)
        response = session.client.request(
            "POST", f"{url}/rollingUpgrades/{action}", api_version=COMPUTE_API_VERSION
        )
        if not no_wait:
            session.emit(finish_action(session.client, response))

    return command


cancel = _steering_command(
    "cancel", "Cancel the rolling upgrade in progress; the batch in flight finishes first."
)
pause = _steering_command("pause", "Hold the rolling upgrade in progress between two batches.")
resume = _steering_command("resume", "Let a paused rolling upgrade go on.")


# -- reading -------------------------------------------------------------------------------------


@rolling_upgrade.command(name="watch")
@_resource_group_option
@_name_option
@client_command
def watch_run(session: Session, resource_group: str, name: str) -> None:
    """Follow the latest rolling upgrade live (one the platform started, say) until it ends.

    Exits 0 when it completes and 1 when it ends Faulted or Cancelled, like `start --wait`.
    """
    url = scale_set_path(session.subscription, resource_group, name)
    ended = follow_run(session.client, url, None, RunWatch(), title=name)
    session.emit(dict(ended.latest), columns=LATEST_COLUMNS)
    _fail_unless_completed(ended, name)


@rolling_upgrade.command(name="get-latest")
@_resource_group_option
@_name_option
@client_command
def get_latest(session: Session, resource_group: str, name: str) -> None:
    """Show the state of the latest rolling upgrade (exit 3 when none has run)."""
    url = scale_set_path(session.subscription, resource_group, name) + "/rollingUpgrades/latest"
    session.emit(session.client.get(url, api_version=COMPUTE_API_VERSION), columns=LATEST_COLUMNS)


HISTORY_COLUMNS = (
    Column("StartTime", "properties.runningStatus.startTime"),
    Column("EndTime", "properties.runningStatus.endTime"),
    Column("Status", "properties.runningStatus.code"),
    Column("StartedBy", "properties.startedBy"),
    Column("TargetVersion", "properties.targetImageReference.exactVersion"),
    Column("Successful", "properties.progress.successfulInstanceCount"),
    Column("Failed", "properties.progress.failedInstanceCount"),
    Column("RolledBack", "properties.rollbackInfo.successfullyRolledbackInstanceCount"),
    Column("ErrorCode", "properties.error.code"),
)


@click.command(name="get-os-upgrade-history")
@_resource_group_option
@_name_option
@client_command
def get_os_upgrade_history(session: Session, resource_group: str, name: str) -> None:
    """List the OS upgrades of a scale set, newest first."""
    url = scale_set_path(session.subscription, resource_group, name) + "/osUpgradeHistory"
    session.emit(
        session.client.list_pages(url, api_version=COMPUTE_API_VERSION), columns=HISTORY_COLUMNS
    )
