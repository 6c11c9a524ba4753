"""api-version: the SDK's default (2026-04-01) and older ones work; outside the range is a 400."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from tests.compat.conftest import SDK_API, Env, unique, vmss_json


@pytest.fixture(scope="module")
def scale_set(proc: Env) -> tuple[str, str]:
    group, name = proc.group("apiver"), unique("apiver")
    proc.create(group, name, 1)
    return group, name


def _url_of(pipeline_response: Any, deserialized: Any, headers: Any) -> tuple[Any, str]:
    return deserialized, pipeline_response.http_request.url


def test_the_sdk_default_api_version_2026_04_01_is_served(proc: Env, scale_set: tuple[str, str]) -> None:
    group, name = scale_set
    got, url = proc.compute.virtual_machine_scale_sets.get(group, name, cls=_url_of)
    assert f"api-version={SDK_API}" in url
    assert got.name == name
    vm, url = proc.compute.virtual_machine_scale_set_vms.get(group, name, "0", cls=_url_of)
    assert f"api-version={SDK_API}" in url
    assert vm.instance_id == "0"


@pytest.mark.parametrize("api_version", ["2018-10-01", "2023-09-01"])
def test_the_sdk_with_an_older_api_version_per_call_reads_scale_sets_and_vms(proc: Env, scale_set: tuple[str, str], api_version: str) -> None:
    group, name = scale_set
    sets, vms = proc.compute.virtual_machine_scale_sets, proc.compute.virtual_machine_scale_set_vms
    got, url = sets.get(group, name, api_version=api_version, cls=_url_of)
    assert f"api-version={api_version}" in url
    assert got.name == name and got.sku.capacity == 1
    assert [vm.instance_id for vm in vms.list(group, name, api_version=api_version)] == ["0"]
    assert vms.get(group, name, "0", api_version=api_version).name == f"{name}_0"
    assert vms.get_instance_view(group, name, "0", api_version=api_version).statuses
    assert sets.get_instance_view(group, name, api_version=api_version).virtual_machine.statuses_summary
    assert name in [s.name for s in sets.list(group, api_version=api_version)]


@pytest.mark.parametrize("api_version", ["2018-10-01", "2023-09-01", "2024-03-01", SDK_API])
def test_raw_get_and_list_answer_at_supported_api_versions(proc: Env, scale_set: tuple[str, str], api_version: str) -> None:
    group, name = scale_set
    path = proc.vmss_path(group, name)
    assert proc.get_raw(path, api=api_version).json()["name"] == name
    listed = proc.get_raw(f"{path}/virtualMachines", api=api_version).json()
    assert [vm["instanceId"] for vm in listed["value"]] == ["0"]


def test_the_2018_10_01_lower_case_virtualmachines_path_is_served(proc: Env, scale_set: tuple[str, str]) -> None:
    group, name = scale_set
    base = proc.vmss_path(group, name)
    response = proc.get_raw(f"{base}/virtualmachines/0", api="2018-10-01")
    assert response.status_code == 200, response.text
    assert response.json()["instanceId"] == "0"
    response = proc.get_raw(f"{base}/virtualmachines/0/instanceView", api="2018-10-01")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("api_version", ["2017-01-01", "2027-01-01", "yesterday"])
def test_an_api_version_outside_the_supported_range_is_400_invalid_api_version_parameter(
        proc: Env, scale_set: tuple[str, str], api_version: str) -> None:
    group, name = scale_set
    response = proc.get_raw(proc.vmss_path(group, name), api=api_version)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidApiVersionParameter"
    with pytest.raises(HttpResponseError) as raised:
        proc.compute.virtual_machine_scale_sets.get(group, name, api_version=api_version)
    assert raised.value.status_code == 400
    assert raised.value.error.code == "InvalidApiVersionParameter"


def test_a_missing_api_version_is_400_missing_api_version_parameter(proc: Env, scale_set: tuple[str, str]) -> None:
    group, name = scale_set
    for path in (proc.vmss_path(group, name), f"/subscriptions/{proc.sub}/providers/Microsoft.Compute/virtualMachineScaleSets"):
        response = proc.http.get(path)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "MissingApiVersionParameter"


def test_a_write_at_an_unsupported_api_version_is_refused_and_stores_nothing(proc: Env) -> None:
    group, name = proc.group("apiver"), unique("apiver")
    response = proc.put_raw(proc.vmss_path(group, name), vmss_json(0), api="2017-01-01")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidApiVersionParameter"
    assert proc.get_raw(proc.vmss_path(group, name)).status_code == 404
