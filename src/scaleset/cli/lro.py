"""Following ARM long-running operations to their end, the way ARMPolling does.

Order of preference, as in azure-mgmt-core: the `Azure-AsyncOperation` status URL, then the
`Location` URL (202 = still running), then, for PUT/PATCH, the resource's own provisioningState.
The first poll is immediate; later ones wait what the server asks (`x-ms-retry-after-ms`, then
`Retry-After`), one second otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from scaleset.cli.arm_client import ArmClient, decode
from scaleset.cli.errors import CliError, format_arm_error

DEFAULT_POLL_DELAY = 1.0
TERMINAL_STATES = frozenset({"succeeded", "failed", "canceled"})

Sleep = Callable[[float], None]


def finish_put(
    client: ArmClient,
    resource_url: str,
    response: httpx.Response,
    *,
    api_version: str,
    sleep: Sleep = time.sleep,
) -> Any:
    """Waits for a PUT or PATCH to settle and returns the resource as it then is."""
    if "azure-asyncoperation" in response.headers:
        await_operation(client, response, sleep=sleep)
        return client.get(resource_url, api_version=api_version)
    if response.status_code == 202 and "location" in response.headers:
        await_location(client, response, sleep=sleep)
        return client.get(resource_url, api_version=api_version)
    resource = decode(response)
    last = response
    while _provisioning_state(resource) not in TERMINAL_STATES:
        sleep(poll_delay(last, fallback=response))
        last = client.request("GET", resource_url, api_version=api_version)
        resource = decode(last)
    if _provisioning_state(resource) != "succeeded":
        state = resource["properties"]["provisioningState"]
        raise CliError(f"(Provisioning{state}) {resource_url} ended in provisioningState {state}")
    return resource


def finish_action(client: ArmClient, response: httpx.Response, *, sleep: Sleep = time.sleep) -> Any:
    """Waits for a POST or DELETE and returns its result, if the operation has one."""
    if "azure-asyncoperation" in response.headers:
        await_operation(client, response, sleep=sleep)
        if "location" in response.headers:
            return await_location(client, response, sleep=sleep)
        return None
    if response.status_code == 202 and "location" in response.headers:
        return await_location(client, response, sleep=sleep)
    return decode(response)


def await_operation(client: ArmClient, initial: httpx.Response, *, sleep: Sleep) -> Mapping[str, Any]:
    """Polls the Azure-AsyncOperation URL until a terminal status; raises unless Succeeded."""
    url = initial.headers["azure-asyncoperation"]

    def status(response: httpx.Response) -> str:
        operation = decode(response)
        if not isinstance(operation, Mapping) or not isinstance(operation.get("status"), str):
            raise CliError(f"the operation status at {url} has no 'status': {operation!r}")
        return operation["status"].lower()

    operation = decode(_poll(client, initial, url, lambda response: status(response) in TERMINAL_STATES, sleep=sleep))
    if operation["status"].lower() != "succeeded":
        raise CliError(_operation_failure(operation))
    return operation


def await_location(client: ArmClient, initial: httpx.Response, *, sleep: Sleep) -> Any:
    """Polls the Location URL while it answers 202; the first other answer carries the result."""
    url = initial.headers["location"]
    return decode(_poll(client, initial, url, lambda response: response.status_code != 202, sleep=sleep))


def _poll(client: ArmClient, initial: httpx.Response, url: str, done: Callable[[httpx.Response], bool],
          *, sleep: Sleep) -> httpx.Response:
    """GET `url` until `done` says so, returning that answer; the first poll at once, as the SDK does."""
    previous = initial
    first = True
    while True:
        if not first:
            sleep(poll_delay(previous, fallback=initial))
        first = False
        previous = client.request("GET", url)
        if done(previous):
            return previous


def poll_delay(response: httpx.Response, *, fallback: httpx.Response | None = None) -> float:
    """Seconds to wait before the next poll, as asked by `response` (else `fallback`)."""
    for candidate in (response, fallback):
        if candidate is not None and (delay := _requested_delay(candidate)) is not None:
            return delay
    return DEFAULT_POLL_DELAY


def _requested_delay(response: httpx.Response) -> float | None:
    milliseconds = response.headers.get("x-ms-retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    seconds = response.headers.get("retry-after")
    if seconds is not None:
        try:
            value = float(seconds)
        except ValueError:
            return None  # an HTTP date: rare from ARM, not worth parsing
        # Retry-After: 0 would mean a busy loop; azure-core treats it as absent, so do we.
        return value if value > 0 else None
    return None


def _provisioning_state(resource: Any) -> str:
    if not isinstance(resource, Mapping):
        return "succeeded"
    properties = resource.get("properties")
    state = properties.get("provisioningState") if isinstance(properties, Mapping) else None
    # No provisioningState means the resource has nothing to settle: done.
    return state.lower() if isinstance(state, str) else "succeeded"


def _operation_failure(operation: Mapping[str, Any]) -> str:
    error = operation.get("error")
    if isinstance(error, Mapping) and (error.get("code") or error.get("message")):
        return format_arm_error(error)
    status = operation.get("status")
    name = f" {operation['name']}" if operation.get("name") else ""
    return f"({status}) the operation{name} ended {status}"
