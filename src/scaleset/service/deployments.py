"""Template deployments (Microsoft.Resources/deployments): their records and operations.

A deployment's record holds what ARM returns for it and one entry per resource it deploys; never
the template's secure parameters, which live only in the memory of the run that needs them. A run
is a task of the server that started it; a server that stops mid-run marks it Failed at its next
start rather than leave it Running forever.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from scaleset.model import resource_ids
from scaleset.service import operations
from scaleset.service.context import Context
from scaleset.service.errors import ArmError
from scaleset.service.groups import require as require_group
from scaleset.store.tables import operations as operations_table
from scaleset.store.tables import resources

TYPE = "Microsoft.Resources/deployments"
TYPE_KEY = TYPE.lower()
RUNNING_STATES = ("Accepted", "Running")
INTERRUPTED = {"code": "DeploymentInterrupted",
               "message": "The server stopped while this deployment was running. Deploy it again; resources "
                          "already deployed are updated in place."}


class Deployments:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def begin(self, sub: str, group: str, name: str, properties: dict[str, Any], *, tags: dict[str, str] | None) -> tuple[dict[str, Any], str, bool]:
        """Record a new run of deployment `name` (Accepted): (its resource, the operation to poll,
        whether it is new). A deployment still running refuses another run of the same name."""
        rid = resource_ids.resource_id(sub, group, TYPE, name)
        key = resource_ids.key(rid)
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as conn:
            group_row = require_group(conn, sub, group)
            row = conn.execute(sa.select(resources.c.body).where(resources.c.key == key)).first()
            if row is not None and row.body["resource"]["properties"]["provisioningState"] in RUNNING_STATES:
                raise ArmError(409, "DeploymentActive",
                               f"The deployment '{name}' is still active; wait for it to end or cancel it first.")
            op = operations.begin(conn, subscription=sub.lower(), location=group_row.location, resource_key=key,
                                  kind=operations.DEPLOYMENT_KIND, now=now)
            resource = {"id": rid, "name": name, "type": TYPE, "tags": tags or {},
                        "properties": {**properties, "provisioningState": "Accepted", "timestamp": now.isoformat(),
                                       "duration": "PT0S", "correlationId": op}}
            # The replica running it: the run lives in its memory, and ends with it.
            record = {"resource": resource, "operations": [], "op": op, "started": now.isoformat(),
                      "runner": self.ctx.leases.replica_id}
            if row is None:
                conn.execute(resources.insert().values(key=key, subscription_id=sub.lower(), group_key=group.lower(),
                                                       type_key=TYPE_KEY, body=record, created_at=now))
            else:
                conn.execute(resources.update().where(resources.c.key == key).values(body=record))
        return resource, op, row is None

    def get(self, sub: str, group: str, name: str) -> dict[str, Any]:
        return self._record(sub, group, name)["resource"]

    def operations(self, sub: str, group: str, name: str) -> list[dict[str, Any]]:
        record = self._record(sub, group, name)
        return [_render_operation(record["resource"]["id"], op) for op in record["operations"]]

    def list(self, sub: str, group: str) -> list[dict[str, Any]]:
        with self.ctx.db.reading() as conn:
            require_group(conn, sub, group)
            rows = conn.execute(sa.select(resources.c.body).where(
                resources.c.subscription_id == sub.lower(), resources.c.group_key == group.lower(),
                resources.c.type_key == TYPE_KEY).order_by(resources.c.created_at)).all()
        return [row.body["resource"] for row in rows]

    def delete(self, sub: str, group: str, name: str) -> bool:
        """Forget a deployment (the resources it made stay, as in ARM)."""
        key = resource_ids.key(resource_ids.resource_id(sub, group, TYPE, name))
        with self.ctx.db.transaction() as conn:
            row = conn.execute(sa.select(resources.c.body).where(resources.c.key == key)).first()
            if row is not None and row.body["resource"]["properties"]["provisioningState"] in RUNNING_STATES:
                raise ArmError(409, "DeploymentActive", f"The deployment '{name}' is still active; cancel it first.")
            return conn.execute(resources.delete().where(resources.c.key == key)).rowcount > 0

    def update(self, rid: str, change: Any) -> None:
        """Apply `change(record)` to a deployment's record, in one transaction."""
        with self.ctx.db.transaction() as conn:
            self._change(conn, rid, change)

    def set_state(self, rid: str, state: str) -> None:
        def change(record: dict[str, Any]) -> None:
            record["resource"]["properties"]["provisioningState"] = state
        self.update(rid, change)

    def record_operation(self, rid: str, target: dict[str, str], state: str, *, status_code: str | None = None,
                         message: Any = None) -> None:
        """Start or update the operation deploying `target` ({id, resourceType, resourceName})."""
        now = self.ctx.clock.now()

        def change(record: dict[str, Any]) -> None:
            for op in record["operations"]:
                if op["targetResource"]["id"] == target["id"]:
                    break
            else:
                op = {"operationId": uuid.uuid4().hex[:16].upper(), "targetResource": target, "started": now.isoformat()}
                record["operations"].append(op)
            _set_operation(op, state, now, status_code=status_code, message=message)
        self.update(rid, change)

    def finish(self, rid: str, state: str, *, outputs: dict[str, Any] | None = None,
               output_resources: list[str] | None = None, error: dict[str, Any] | None = None) -> None:
        """End a run: the record's final state, and its operation settled for pollers. Resources still
        deploying when a run is canceled or interrupted end with it: nobody watches them any more."""
        now = self.ctx.clock.now()

        def change(record: dict[str, Any]) -> None:
            props = record["resource"]["properties"]
            props.update(provisioningState=state, timestamp=now.isoformat(),
                         duration=_arm_duration(now - datetime.fromisoformat(record["started"])))
            if outputs is not None:
                props["outputs"] = outputs
            if output_resources is not None:
                props["outputResources"] = [{"id": rid_} for rid_ in output_resources]
            if error is not None:
                props["error"] = error
            for op in record["operations"]:
                if op["provisioningState"] == "Running":
                    _set_operation(op, state, now, message={"error": error})

        with self.ctx.db.transaction() as conn:
            record = self._change(conn, rid, change)
            if record is not None:
                status = {"Succeeded": operations.SUCCEEDED, "Canceled": operations.CANCELED}.get(state, operations.FAILED)
                conn.execute(operations_table.update().where(operations_table.c.id == record["op"]).values(
                    status=status, error=error, ended_at=now))

    @staticmethod
    def interrupted(conn: sa.Connection, alive: set[str]) -> list[str]:
        """The deployments still running whose replica is not among `alive`: they cannot go on
        (their secure parameters were in its memory)."""
        rows = conn.execute(sa.select(resources.c.body).where(resources.c.type_key == TYPE_KEY)).all()
        return [row.body["resource"]["id"] for row in rows
                if row.body["resource"]["properties"]["provisioningState"] in RUNNING_STATES and row.body.get("runner") not in alive]

    def fail(self, interrupted: list[str]) -> None:
        for rid in interrupted:
            self.finish(rid, "Failed", error=INTERRUPTED)

    def _change(self, conn: sa.Connection, rid: str, change: Any) -> dict[str, Any] | None:
        """The record after `change(record)`, or None when it is gone (deleted with its group meanwhile)."""
        key = resource_ids.key(rid)
        row = conn.execute(sa.select(resources.c.body).where(resources.c.key == key)).first()
        if row is None:
            return None
        record = copy.deepcopy(row.body)
        change(record)
        conn.execute(resources.update().where(resources.c.key == key).values(body=record))
        return record

    def _record(self, sub: str, group: str, name: str) -> dict[str, Any]:
        key = resource_ids.key(resource_ids.resource_id(sub, group, TYPE, name))
        with self.ctx.db.reading() as conn:
            require_group(conn, sub, group)
            row = conn.execute(sa.select(resources.c.body).where(resources.c.key == key)).first()
        if row is None:
            raise ArmError(404, "DeploymentNotFound", f"Deployment '{name}' could not be found.")
        return row.body


def _set_operation(op: dict[str, Any], state: str, now: datetime, *, status_code: str | None = None,
                   message: Any = None) -> None:
    op.update(provisioningState=state, timestamp=now.isoformat(),
              duration=_arm_duration(now - datetime.fromisoformat(op["started"])))
    if status_code is not None:
        op["statusCode"] = status_code
    if message is not None:
        op["statusMessage"] = message


def _arm_duration(elapsed: timedelta) -> str:
    """A duration as ARM writes deployments' (.NET's TimeSpan: PT1M17.2493543S). The fraction matters:
    an operation's start is its timestamp less its duration, so whole seconds would hide which of
    two operations came first."""
    ticks = max(0, elapsed // timedelta(microseconds=1)) * 10  # .NET ticks are 100 ns
    days, ticks = divmod(ticks, 864_000_000_000)
    hours, ticks = divmod(ticks, 36_000_000_000)
    minutes, ticks = divmod(ticks, 600_000_000)
    seconds, fraction = divmod(ticks, 10_000_000)
    date = f"{days}D" if days else ""
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or fraction:
        clock += f"{seconds}.{fraction:07d}".rstrip("0").rstrip(".") + "S"
    if not (date or clock):
        return "PT0S"
    return f"P{date}T{clock}" if clock else f"P{date}"


def _render_operation(deployment_id: str, op: dict[str, Any]) -> dict[str, Any]:
    props = {key: op[key] for key in ("provisioningState", "timestamp", "duration", "statusCode", "statusMessage")
             if key in op}
    props.update(provisioningOperation="Create", targetResource=op["targetResource"])
    return {"id": f"{deployment_id}/operations/{op['operationId']}", "operationId": op["operationId"], "properties": props}
