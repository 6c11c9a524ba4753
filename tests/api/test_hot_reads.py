"""The hot reads (api/hot_reads.py): GET of a scale set and the plain instance list answer from rows
read straight off the driver, with JSON kept per row. They must answer exactly what the general path
renders, and a change by any path must show on the very next GET: a client's write, a write that
bypasses the API altogether (the reconciler's status writes, another replica on PostgreSQL), and a
row changed back to what it was before. On SQLite and, with SCALESET_TEST_DB, PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette

from scaleset.api import hot_reads, limits, render
from scaleset.api.app import create_app
from scaleset.api.auth import StaticTokens
from scaleset.clock import VirtualClock
from scaleset.drivers.sim import SimDriver
from scaleset.model.image_reference import ImageReference
from scaleset.service.context import Settings
from scaleset.service.controlplane import ControlPlane
from scaleset.service.instances import PAGE
from scaleset.service.scale_sets import PEEK
from scaleset.store.database import Database, sqlite_url
from scaleset.store.secrets import SecretBox
from scaleset.store.tables import instances, scale_sets
from tests.images import sim_image
from tests.postgres import fresh_postgres_database

TOKEN = "hot-reads-token"
NEW, OLD = "2024-03-01", "2018-10-01"  # timeCreated and extension types only from 2021-03-01 / 2019-07-01
BODY = {
    "location": "westus",
    "sku": {"name": "Standard_D1_v2", "capacity": 5},
    "properties": {"upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": {
        "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS",
                                              "version": "latest"}},
        "osProfile": {"computerNamePrefix": "web", "adminUsername": "azureuser", "adminPassword": "P@ssw0rd!"},
        "extensionProfile": {"extensions": [{"name": "health", "properties": {
            "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux", "typeHandlerVersion": "1.0",
            "settings": {"protocol": "tcp", "port": 80}}}]},
    }},
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "scaleset.db")
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def plane(url: str, tmp_path: Path) -> AsyncIterator[ControlPlane]:
    clock = VirtualClock()
    db = Database(url)
    plane = ControlPlane(db=db, driver=SimDriver(clock=clock), data_dir=tmp_path / "data", clock=clock,
                         secrets=SecretBox(SecretBox.generate_key()), settings=Settings(page_size=2))
    await plane.start()
    sub = plane.subscriptions.ensure_default()
    ref = ImageReference("Canonical", "UbuntuServer", "18.04-LTS", "1.0.0")
    await plane.images.publish("westus", ref, os_type="Linux", upload=sim_image(tmp_path / "sim.json"))
    plane.groups.put(sub, "rg", "westus", {})
    plane.scale_sets.put(sub, "rg", "web", json.loads(json.dumps(BODY)))
    await plane.reconciler.idle()
    yield plane
    await plane.stop()
    db.close()


@pytest.fixture
def app(plane: ControlPlane) -> Starlette:
    return create_app(plane, StaticTokens([TOKEN]))


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver",
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def vmss_path(plane: ControlPlane, group: str = "rg", name: str = "web") -> str:
    return (f"/subscriptions/{plane.subscriptions.ensure_default()}/resourceGroups/{group}/providers/"
            f"Microsoft.Compute/virtualMachineScaleSets/{name}")


def encoded(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def get(client: httpx.AsyncClient, path: str, version: str = NEW) -> httpx.Response:
    response = await client.get(path, params={"api-version": version})
    assert response.status_code == 200, response.text
    return response


async def every_page(client: httpx.AsyncClient, path: str, version: str = NEW) -> list[bytes]:
    """The instance list's pages as sent, following nextLink."""
    pages, response = [], await get(client, f"{path}/virtualMachines", version)
    while True:
        pages.append(response.content)
        link = response.json().get("nextLink")
        if not link:
            return pages
        response = await client.get(link)
        assert response.status_code == 200, response.text


def rendered_pages(plane: ControlPlane, version: str, page_size: int = 2) -> list[list[bytes]]:
    """Each page's instances as the general path renders them, from SQLAlchemy's rows."""
    sub = plane.subscriptions.ensure_default()
    scale_set, rows, _ = plane.instances.list(sub, "rg", "web")
    items = [encoded(render.vm(scale_set, row, version)) for row in rows]
    return [items[i:i + page_size] for i in range(0, len(items), page_size)]


def values(page: bytes) -> list[bytes]:
    return [encoded(item) for item in json.loads(page)["value"]]


@pytest.mark.parametrize("version", [NEW, OLD])
async def test_the_answers_are_the_general_paths_byte_for_byte(plane: ControlPlane, client: httpx.AsyncClient,
                                                               version: str) -> None:
    sub = plane.subscriptions.ensure_default()
    for _ in range(2):  # rendered, then from what was kept
        response = await get(client, vmss_path(plane), version)
        assert response.content == encoded(render.scale_set(plane.scale_sets.get(sub, "rg", "web"), version))
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        pages = await every_page(client, vmss_path(plane), version)
        assert [values(p) for p in pages] == rendered_pages(plane, version)
        assert len(pages) == 3 and all("nextLink" in json.loads(p) for p in pages[:-1])
        assert "nextLink" not in json.loads(pages[-1])


async def test_a_write_by_any_path_shows_on_the_next_get(plane: ControlPlane, client: httpx.AsyncClient,
                                                         url: str) -> None:
    sub = plane.subscriptions.ensure_default()
    path = vmss_path(plane)
    await get(client, path)
    await every_page(client, path)

    # A client's write.
    patched = await client.patch(path, params={"api-version": NEW}, json={"tags": {"v": "2"}})
    assert patched.status_code == 200, patched.text
    assert (await get(client, path)).json()["tags"] == {"v": "2"}
    first = await every_page(client, path)

    # Writes that bypass this API: the reconciler's status writes, another replica's, from another
    # connection to the store.
    other = sa.create_engine(Database(url).url)
    key = plane.scale_sets.get(sub, "rg", "web").key
    try:
        with other.begin() as conn:
            before = conn.execute(sa.select(instances).where(instances.c.scale_set_key == key,
                                                             instances.c.instance_id == 1)).one()
            conn.execute(instances.update().where(instances.c.scale_set_key == key, instances.c.instance_id == 1)
                         .values(provisioning_state="Failed", extensions=[]))
            conn.execute(scale_sets.update().where(scale_sets.c.key == key)
                         .values(provisioning_state="Updating", model_version=scale_sets.c.model_version + 1))
        assert (await get(client, path)).json()["properties"]["provisioningState"] == "Updating"
        vms = [vm for page in await every_page(client, path) for vm in json.loads(page)["value"]]
        assert vms[1]["properties"]["provisioningState"] == "Failed"
        assert vms[1]["resources"][0]["properties"]["provisioningState"] == "Creating"
        assert {vm["properties"]["latestModelApplied"] for vm in vms} == {False}  # the scale set's model moved on
        assert [values(p) for p in await every_page(client, path)] == rendered_pages(plane, NEW)

        # Back to exactly what it was: what was kept for the old rows must not be what is sent now.
        with other.begin() as conn:
            conn.execute(instances.update().where(instances.c.scale_set_key == key, instances.c.instance_id == 1)
                         .values(provisioning_state=before.provisioning_state, extensions=before.extensions))
            conn.execute(scale_sets.update().where(scale_sets.c.key == key)
                         .values(provisioning_state="Succeeded", model_version=scale_sets.c.model_version - 1))
        assert (await get(client, path)).json()["properties"]["provisioningState"] == "Succeeded"
        again = await every_page(client, path)
        assert [values(p) for p in again] == [values(p) for p in first] == rendered_pages(plane, NEW)
    finally:
        other.dispose()


@pytest.mark.parametrize("query", [{}, {"$filter": "properties/latestModelApplied eq true"}], ids=["hot", "filtered"])
async def test_a_page_begins_at_an_instance_so_one_deleted_meanwhile_shifts_nothing(
        plane: ControlPlane, client: httpx.AsyncClient, url: str, query: dict[str, str]) -> None:
    # With pages counted in rows, deleting instance 0 after the first page (0, 1) made the next
    # one begin at its third row, instance 3: instance 2 was never listed.
    path = f"{vmss_path(plane)}/virtualMachines"
    first = await client.get(path, params={"api-version": NEW, **query})
    assert [vm["instanceId"] for vm in first.json()["value"]] == ["0", "1"], first.text
    other = sa.create_engine(Database(url).url)
    try:
        with other.begin() as conn:
            conn.execute(instances.delete().where(instances.c.instance_id == 0))
    finally:
        other.dispose()
    second = await client.get(first.json()["nextLink"])
    assert [vm["instanceId"] for vm in second.json()["value"]] == ["2", "3"], second.text
    third = await client.get(second.json()["nextLink"])
    assert [vm["instanceId"] for vm in third.json()["value"]] == ["4"] and "nextLink" not in third.json()


async def test_a_plain_get_goes_straight_to_the_arm_dispatcher_and_answers_as_through_the_app(
        plane: ControlPlane, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Starlette's middleware and routing cost a sixth of a list page: a GET without a body skips
    # them (app._ArmApp); one they have a say in (slashes to collapse, a body) still goes through.
    through = []
    original = limits.RequestLimits.__call__

    async def counted(self: limits.RequestLimits, scope: Any, receive: Any, send: Any) -> None:
        through.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(limits.RequestLimits, "__call__", counted)
    path = f"{vmss_path(plane)}/virtualMachines"
    direct = await client.get(path, params={"api-version": NEW})
    assert direct.status_code == 200 and through == []
    doubled = await client.get(path.replace("/resourceGroups/", "//resourceGroups/"), params={"api-version": NEW})
    with_body = await client.request("GET", path, params={"api-version": NEW}, content=b"{}")
    assert len(through) == 2
    assert doubled.content == with_body.content == direct.content
    missing = await client.get(f"{vmss_path(plane)}/nothing", params={"api-version": NEW})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NotFound" and len(through) == 2


async def test_what_is_not_there_gets_the_general_paths_404(plane: ControlPlane, client: httpx.AsyncClient) -> None:
    for path, code in ((vmss_path(plane, name="absent"), "ResourceNotFound"),
                       (vmss_path(plane, group="absent"), "ResourceGroupNotFound")):
        for suffix in ("", "/virtualMachines"):
            response = await client.get(path + suffix, params={"api-version": NEW})
            assert (response.status_code, response.json()["error"]["code"]) == (404, code), response.text
    plane.groups.delete(plane.subscriptions.ensure_default(), "rg")  # the group is being deleted: gone to clients
    for suffix in ("", "/virtualMachines"):
        response = await client.get(vmss_path(plane) + suffix, params={"api-version": NEW})
        assert (response.status_code, response.json()["error"]["code"]) == (404, "ResourceGroupNotFound"), response.text


async def test_expanded_and_filtered_lists_still_answer(plane: ControlPlane, client: httpx.AsyncClient) -> None:
    expanded = await client.get(f"{vmss_path(plane)}/virtualMachines", params={"api-version": NEW, "$expand": "instanceView"})
    assert all("instanceView" in vm["properties"] for vm in expanded.json()["value"]), expanded.text
    filtered = await client.get(f"{vmss_path(plane)}/virtualMachines", params={
        "api-version": NEW, "$filter": "properties/latestModelApplied eq false"})
    assert filtered.json() == {"value": []}, filtered.text


async def test_the_store_reads_what_sqlalchemy_reads(plane: ControlPlane) -> None:
    db, key = plane.ctx.db, plane.scale_sets.get(plane.subscriptions.ensure_default(), "rg", "web").key
    peeked, page = db.fetch((PEEK, {"key": key}), (PAGE, {"key": key, "start": 1, "limit": 3}))
    with db.reading() as conn:
        expected_peek = conn.execute(PEEK, {"key": key}).all()
        expected_page = conn.execute(PAGE, {"key": key, "start": 1, "limit": 3}).all()
    assert [tuple(db.prepared(PEEK).typed(r)) for r in peeked] == [tuple(r) for r in expected_peek]
    assert [tuple(db.prepared(PAGE).typed(r)) for r in page] == [tuple(r) for r in expected_page]
    assert [r.instance_id for r in expected_page] == [1, 2, 3]
    typed = db.prepared(PEEK).typed(peeked[0])
    assert typed.created_at.tzinfo is not None and isinstance(typed.body, dict)
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a missing bind value
        db.fetch((PEEK, {}))
    assert db.fetch((PEEK, {"key": key}))[0] == peeked  # the connection that failed was not reused


async def test_what_is_kept_stays_bounded(plane: ControlPlane, app: Starlette, client: httpx.AsyncClient,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hot_reads, "MAX_SCALE_SETS", 2)
    monkeypatch.setattr(hot_reads, "MAX_INSTANCES", 3)
    sub = plane.subscriptions.ensure_default()
    for name in ("a", "b", "c"):
        plane.scale_sets.put(sub, "rg", name, {**json.loads(json.dumps(BODY)), "sku": {"name": "Standard_D1_v2", "capacity": 2}})
    await plane.reconciler.idle()
    renders = app.state.renders
    for name in ("web", "a", "b", "c"):
        await get(client, vmss_path(plane, name=name))
        await every_page(client, vmss_path(plane, name=name))
        kept = renders._generations.values()
        assert renders._instances == sum(len(g.instances) for g in kept)
        assert len(kept) <= 2 and (renders._instances <= 3 or len(kept) == 1), (name, len(kept), renders._instances)
