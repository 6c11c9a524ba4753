"""Paged lists with a page size of 2 (simulator driver): the SDK walks every page by fetching
`nextLink` verbatim, so it must be absolute and carry the api-version."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.compat.conftest import API, SIM_FAST_SKU, Env, sim_image_reference, unique, vmss_model

CAPACITY = 5


@pytest.fixture(scope="module")
def five(sim: Env) -> tuple[str, str]:
    group, name = sim.group("paging"), unique("paging")
    created = sim.compute.virtual_machine_scale_sets.begin_create_or_update(
        group, name, vmss_model(CAPACITY, image=sim_image_reference(SIM_FAST_SKU))).result()
    assert created.provisioning_state == "Succeeded"
    return group, name


def _walk(env: Env, url: str, **params: str) -> list[dict]:
    """Follow nextLink as the SDK does: verbatim, adding nothing."""
    first = env.http.get(url, params={"api-version": API, **params})
    assert first.status_code == 200, first.text
    pages = [first.json()]
    while pages[-1].get("nextLink"):
        assert len(pages) <= CAPACITY, "nextLink never ends"
        response = env.http.get(pages[-1]["nextLink"])
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def test_sdk_vm_list_walks_every_page_and_gives_every_instance_once(sim: Env, five: tuple[str, str]) -> None:
    group, name = five
    vms = list(sim.compute.virtual_machine_scale_set_vms.list(group, name))
    ids = [vm.instance_id for vm in vms]
    assert len(ids) == CAPACITY
    assert len(set(ids)) == CAPACITY
    assert sorted(ids, key=int) == [str(i) for i in range(CAPACITY)]


def test_sdk_vm_list_with_expand_and_filter_walks_every_page(sim: Env, five: tuple[str, str]) -> None:
    group, name = five
    vms = list(sim.compute.virtual_machine_scale_set_vms.list(
        group, name, expand="instanceView", filter="properties/latestModelApplied eq true"))
    assert len({vm.instance_id for vm in vms}) == CAPACITY
    assert all(vm.instance_view is not None for vm in vms)
    assert list(sim.compute.virtual_machine_scale_set_vms.list(
        group, name, filter="properties/latestModelApplied eq false")) == []


def test_raw_vm_pages_hold_at_most_the_page_size_and_next_link_is_absolute_with_api_version(sim: Env, five: tuple[str, str]) -> None:
    group, name = five
    pages = _walk(sim, f"{sim.vmss_path(group, name)}/virtualMachines")
    assert [len(page["value"]) for page in pages] == [2, 2, 1]
    for page in pages[:-1]:
        link = page["nextLink"]
        assert link.startswith(sim.server.url + "/"), link
        assert parse_qs(urlsplit(link).query)["api-version"] == [API]
    assert not pages[-1].get("nextLink")
    ids = [vm["instanceId"] for page in pages for vm in page["value"]]
    assert sorted(ids, key=int) == [str(i) for i in range(CAPACITY)]


def test_next_link_keeps_the_query_options_of_the_first_page(sim: Env, five: tuple[str, str]) -> None:
    group, name = five
    pages = _walk(sim, f"{sim.vmss_path(group, name)}/virtualMachines", **{"$expand": "instanceView"})
    assert len(pages) == 3
    assert all("instanceView" in vm["properties"] for page in pages for vm in page["value"])


def test_sdk_scale_set_lists_walk_every_page(sim: Env) -> None:
    group = sim.group("paging-sets")
    names = sorted(unique("page") for _ in range(3))
    for name in names:
        sim.create_raw(group, name, 0, image=sim_image_reference(SIM_FAST_SKU))
    assert sorted(s.name for s in sim.compute.virtual_machine_scale_sets.list(group)) == names
    everywhere = [s.id.lower() for s in sim.compute.virtual_machine_scale_sets.list_all()]
    assert len(everywhere) == len(set(everywhere))
    assert {sim.vmss_id(group, name).lower() for name in names} <= set(everywhere)
    pages = _walk(sim, f"{sim.group_path(group)}/providers/Microsoft.Compute/virtualMachineScaleSets")
    assert [len(page["value"]) for page in pages] == [2, 1]
    assert pages[0]["nextLink"].startswith(sim.server.url + "/")
