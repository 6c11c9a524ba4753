"""Long-running operations on the wire (raw httpx): status codes and headers the SDK's ARM poller
relies on, and the operation resources they point at."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from tests.compat.conftest import API, SIM_STEADY_SKU, Env, sim_image_reference, unique, vmss_json


def _absolute_on(env: Env, url: str) -> None:
    assert url.startswith(env.server.url + "/"), url
    assert "api-version=" in url, url


def _await_status(env: Env, url: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = env.http.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"].lower() != "inprogress" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def _assert_async_202(env: Env, response: httpx.Response) -> None:
    assert response.status_code == 202, response.text
    _absolute_on(env, response.headers["Azure-AsyncOperation"])
    _absolute_on(env, response.headers["Location"])
    assert "Retry-After" in response.headers
    assert int(response.headers["Retry-After"]) >= 0


def test_put_answers_201_on_create_then_200_on_update_both_with_azure_async_operation(proc: Env) -> None:
    group, name = proc.group("lro"), unique("lro")
    path = proc.vmss_path(group, name)
    created = proc.put_raw(path, vmss_json(0))
    assert created.status_code == 201, created.text
    _absolute_on(proc, created.headers["Azure-AsyncOperation"])
    assert created.json()["name"] == name
    assert created.json()["properties"]["provisioningState"] in ("Creating", "Succeeded")

    updated = proc.put_raw(path, vmss_json(0))
    assert updated.status_code == 200, updated.text
    _absolute_on(proc, updated.headers["Azure-AsyncOperation"])
    assert updated.headers["Azure-AsyncOperation"] != created.headers["Azure-AsyncOperation"]


def test_patch_answers_200_with_the_scale_set_and_azure_async_operation(proc: Env) -> None:
    group, name = proc.group("lro"), unique("lro")
    proc.create_raw(group, name, 0)
    response = proc.http.patch(proc.vmss_path(group, name), params={"api-version": API}, json={"tags": {"a": "b"}})
    assert response.status_code == 200, response.text
    _absolute_on(proc, response.headers["Azure-AsyncOperation"])
    assert response.json()["tags"] == {"a": "b"}


def test_post_action_answers_202_with_azure_async_operation_location_and_retry_after(proc: Env) -> None:
    group, name = proc.group("lro"), unique("lro")
    proc.create_raw(group, name, 0)
    for action in ("restart", "poweroff", "start", "deallocate", "reimage", "reimageall"):
        response = proc.http.post(f"{proc.vmss_path(group, name)}/{action}", params={"api-version": API})
        _assert_async_202(proc, response)
        assert _await_status(proc, response.headers["Azure-AsyncOperation"])["status"] == "Succeeded"


def test_delete_answers_202_with_azure_async_operation_location_and_retry_after(proc: Env) -> None:
    group, name = proc.group("lro"), unique("lro")
    proc.create_raw(group, name, 0)
    response = proc.http.delete(proc.vmss_path(group, name), params={"api-version": API})
    _assert_async_202(proc, response)
    assert _await_status(proc, response.headers["Azure-AsyncOperation"])["status"] == "Succeeded"
    assert proc.get_raw(proc.vmss_path(group, name)).status_code == 404


def test_operation_status_has_status_and_start_time_then_end_time_when_done(sim: Env) -> None:
    group, name = sim.group("lro"), unique("lro")
    response = sim.put_raw(sim.vmss_path(group, name), vmss_json(1, image=sim_image_reference(SIM_STEADY_SKU)))
    assert response.status_code == 201, response.text
    url = response.headers["Azure-AsyncOperation"]
    running = sim.http.get(url)
    assert running.status_code == 200
    body = running.json()
    assert body["status"] == "InProgress"
    assert datetime.fromisoformat(body["startTime"])
    assert "Retry-After" in running.headers

    done = _await_status(sim, url)
    assert done["status"] == "Succeeded"
    assert datetime.fromisoformat(done["startTime"])
    assert datetime.fromisoformat(done["endTime"]) >= datetime.fromisoformat(done["startTime"])


def test_location_answers_202_while_the_operation_runs_and_200_or_204_once_done(sim: Env) -> None:
    # A start of an instance that boots for 1 s runs long enough to be seen running.
    group, name = sim.group("lro"), unique("lro")
    path = sim.vmss_path(group, name)
    created = sim.put_raw(path, vmss_json(1, image=sim_image_reference(SIM_STEADY_SKU)))
    assert _await_status(sim, created.headers["Azure-AsyncOperation"])["status"] == "Succeeded"
    stopped = sim.http.post(f"{path}/poweroff", params={"api-version": API})
    assert _await_status(sim, stopped.headers["Azure-AsyncOperation"])["status"] == "Succeeded"

    response = sim.http.post(f"{path}/start", params={"api-version": API})
    _assert_async_202(sim, response)
    location = response.headers["Location"]
    first = sim.http.get(location)
    assert first.status_code == 202
    deadline = time.monotonic() + 10
    while (answer := sim.http.get(location)).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert answer.status_code in (200, 204)
    assert _await_status(sim, response.headers["Azure-AsyncOperation"])["status"] == "Succeeded"


def test_an_error_response_carries_no_retry_after(proc: Env) -> None:
    group = proc.group("lro")
    not_found = proc.get_raw(proc.vmss_path(group, "no-such-scale-set"))
    assert not_found.status_code == 404
    assert "Retry-After" not in not_found.headers
    invalid = proc.put_raw(proc.vmss_path(group, unique("bad")), vmss_json(-1))
    assert invalid.status_code == 400
    assert "Retry-After" not in invalid.headers
    refused = proc.http.post(f"{proc.vmss_path(group, 'no-such-scale-set')}/restart", params={"api-version": API})
    assert refused.status_code == 404
    assert "Retry-After" not in refused.headers
    assert not_found.json()["error"]["code"] == "ResourceNotFound"


def test_responses_carry_a_request_id_and_echo_the_client_request_id(proc: Env) -> None:
    path = f"/subscriptions/{proc.sub}/providers/Microsoft.Compute/virtualMachineScaleSets"
    for headers, expected in (({"x-ms-client-request-id": "compat-123"}, 200), ({"x-ms-client-request-id": "compat-456"}, 400)):
        response = proc.http.get(path, params={"api-version": API if expected == 200 else "2017-01-01"}, headers=headers)
        assert response.status_code == expected
        assert response.headers["x-ms-request-id"]
        assert response.headers["x-ms-client-request-id"] == headers["x-ms-client-request-id"]
