"""Runs template deployments: each resource of the plan is PUT through this server's own ARM API,
in process, with the deploying caller's credentials, so a template's resource gets exactly the
validation, behaviour and permissions a direct call would. Resources of one layer of the plan go
in parallel; a layer starts when the one before has finished.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from starlette.types import ASGIApp

from scaleset.api import api_versions
from scaleset.api.template_bodies import adapt
from scaleset.service.deployments import INTERRUPTED, Deployments
from scaleset.templates import Plan, PlannedResource, TemplateError

log = logging.getLogger(__name__)
TERMINAL = ("succeeded", "failed", "canceled")
DEPLOYMENT_FAILED = ("At least one resource deployment operation failed. Please list deployment operations for "
                     "details. Please see https://aka.ms/arm-deployment-operations for usage details.")


class DeploymentRunner:
    def __init__(self, app: ASGIApp, deployments: Deployments, poll_seconds: float) -> None:
        self.app = app
        self.deployments = deployments
        self.poll_seconds = poll_seconds
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def start(self, rid: str, plan: Plan, *, authorization: str, base_url: str) -> None:
        task = asyncio.create_task(self._run(rid, plan, authorization, base_url), name=f"deploy {rid}")
        self._tasks[rid.lower()] = task
        task.add_done_callback(lambda done: self._forget(rid.lower(), done))

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        # A run's record says it ended a moment before its task is done: a new run of the same
        # deployment may have started in between, and must stay cancelable.
        if self._tasks.get(key) is task:
            del self._tasks[key]

    def cancel(self, rid: str) -> bool:
        task = self._tasks.get(rid.lower())
        return bool(task and task.cancel())

    async def stop(self) -> None:
        """The server is stopping: its runs end interrupted, as they would had it died."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, rid: str, plan: Plan, authorization: str, base_url: str) -> None:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=None,
                                     headers={"Authorization": authorization}) as client:
            session = _Session(client, asyncio.get_running_loop(), self.poll_seconds)
            try:
                await self._deploy_all(rid, plan, session)
            except asyncio.CancelledError:
                if self._stopping:
                    self.deployments.finish(rid, "Failed", error=INTERRUPTED)
                else:
                    self.deployments.finish(rid, "Canceled", error={"code": "DeploymentCanceled",
                                                                   "message": "The deployment was canceled."})
                raise
            except Exception:
                log.exception("deployment %s failed unexpectedly", rid)
                self.deployments.finish(rid, "Failed", error={"code": "InternalServerError",
                                                             "message": "The deployment met an unexpected error."})

    async def _deploy_all(self, rid: str, plan: Plan, session: _Session) -> None:
        self.deployments.set_state(rid, "Running")
        failed: dict[str, dict[str, Any]] = {}  # resource id -> its error
        deployed: list[str] = []
        for layer in plan.layers():
            ready = [r for r in layer if r.condition and not any(dep in failed for dep in r.depends_on)]
            errors = await asyncio.gather(*(self._deploy_one(rid, plan, r, session) for r in ready))
            for resource, error in zip(ready, errors):
                if error is None:
                    deployed.append(resource.id)
                else:
                    failed[resource.id] = error
            # a resource whose dependency failed is not attempted; it fails with it
            for resource in layer:
                if resource.condition and resource not in ready:
                    failed[resource.id] = {"code": "DependencyFailed",
                                           "message": f"A resource '{resource.id}' depends on failed to deploy."}
        if failed:
            self.deployments.finish(rid, "Failed", output_resources=deployed, error={
                "code": "DeploymentFailed", "target": rid, "message": DEPLOYMENT_FAILED,
                "details": [error for error in failed.values() if error["code"] != "DependencyFailed"]})
            return
        try:
            outputs = await asyncio.to_thread(plan.outputs, session.reference)
        except TemplateError as error:
            self.deployments.finish(rid, "Failed", output_resources=deployed, error=_template_error(error))
            return
        self.deployments.finish(rid, "Succeeded", output_resources=deployed,
                                outputs={camel_case(name): value for name, value in outputs.items()})

    async def _deploy_one(self, rid: str, plan: Plan, resource: PlannedResource, session: _Session) -> dict[str, Any] | None:
        """Deploy one resource; its error, or None when it succeeded."""
        target = {"id": resource.id, "resourceType": resource.type, "resourceName": resource.name}
        self.deployments.record_operation(rid, target, "Running")
        try:
            body = adapt(resource.type, await asyncio.to_thread(plan.body, resource, session.reference))
        except TemplateError as error:
            problem = _template_error(error)
            self.deployments.record_operation(rid, target, "Failed", status_code="BadRequest", message={"error": problem})
            return problem
        status, problem = await session.put(resource, body)
        if problem is None:
            self.deployments.record_operation(rid, target, "Succeeded", status_code=status)
        else:
            self.deployments.record_operation(rid, target, "Failed", status_code=status, message={"error": problem})
        return problem


class _Session:
    """The calls a run makes to this server, as its caller."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop, poll_seconds: float) -> None:
        self.client = client
        self.loop = loop
        self.poll_seconds = poll_seconds

    async def put(self, resource: PlannedResource, body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """(HTTP status name, error or None), once the resource's provisioning has ended."""
        response = await self.client.put(resource.id, params={"api-version": api_versions.nearest(resource.api_version)},
                                         json=body)
        if response.status_code >= 400:
            return _status_name(response.status_code), _error_of(response, resource)
        poll = response.headers.get("Azure-AsyncOperation")
        while poll:
            await asyncio.sleep(self.poll_seconds)
            status = await self.client.get(poll)
            result = status.json() if status.status_code == 200 else {"status": "Failed", "error": _error_of(status, resource)}
            if str(result.get("status", "")).lower() in TERMINAL:
                if result["status"].lower() != "succeeded":
                    return "Conflict", {**(result.get("error") or {"code": "ResourceDeploymentFailure",
                                                                    "message": f"The resource ended '{result['status']}'."}),
                                        "target": resource.id}
                break
        return _status_name(response.status_code), None

    def reference(self, resource_id: str, api_version: str | None, full: bool) -> dict[str, Any]:
        """For reference(): runs in a worker thread, while the GET runs on the server's loop."""
        return asyncio.run_coroutine_threadsafe(self._get(resource_id, api_version, full), self.loop).result()

    async def _get(self, resource_id: str, api_version: str | None, full: bool) -> dict[str, Any]:
        response = await self.client.get(resource_id, params={"api-version": api_versions.nearest(api_version or api_versions.NEWEST)})
        if response.status_code != 200:
            raise TemplateError("InvalidTemplateDeployment",
                                f"The resource '{resource_id}' is not defined in the template and does not exist: "
                                f"{_error_of(response, None).get('message')}", "")
        body = response.json()
        return body if full else body.get("properties", {})


def _error_of(response: httpx.Response, resource: PlannedResource | None) -> dict[str, Any]:
    try:
        error = dict(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        error = {"code": _status_name(response.status_code), "message": response.text[:500]}
    if resource is not None:
        error.setdefault("target", resource.id)
    return error


def camel_case(name: str) -> str:
    """An output's name as ARM returns it: ARM does not keep the case of output names but camel-cases
    them as .NET's JSON serializer does (a leading run of capitals is lowered: `VMSS` -> `vmss`,
    `StorageAccountName` -> `storageAccountName`, `URLPath` -> `urlPath`)."""
    chars = list(name)
    for i, char in enumerate(chars):
        if i == 1 and not char.isupper():
            break
        has_next = i + 1 < len(chars)
        if i > 0 and has_next and not chars[i + 1].isupper():
            if chars[i + 1].isspace():
                chars[i] = char.lower()
            break
        chars[i] = char.lower()
    return "".join(chars)


def _template_error(error: TemplateError) -> dict[str, Any]:
    return {"code": error.code, "message": error.message, "target": error.deployment_target}


def _status_name(code: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(code).phrase.replace(" ", "") if code in HTTPStatus._value2member_map_ else str(code)
