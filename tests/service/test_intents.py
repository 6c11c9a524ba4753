"""Instance intents: written on the rows before any driver acts, by resize, intend and apply_model."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scaleset.model.addresses import private_ip
from scaleset.model.image_reference import version_order
from scaleset.model.scale_set import ScaleSetModel
from scaleset.service import intents
from scaleset.service.errors import ArmError
from scaleset.store.database import Database, sqlite_url
from scaleset.store.tables import images, instances, scale_sets, subscriptions

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEY = "/subscriptions/sub/resourcegroups/rg/providers/microsoft.compute/virtualmachinescalesets/web"
IMAGE_TARGET = "properties.virtualMachineProfile.storageProfile.imageReference"
BLOCK = 3  # this server's address block: instances get 127.3.x.y


def image_ref(sku: str = "18.04-LTS", version: str = "latest") -> dict[str, str]:
    return {"publisher": "Canonical", "offer": "UbuntuServer", "sku": sku, "version": version}


def scale_set_body(capacity: int, *, sku: str = "18.04-LTS", version: str = "latest", **extra: Any) -> dict[str, Any]:
    return {"location": "westus", "sku": {"capacity": capacity}, **extra,
            "properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": image_ref(sku, version)}}}}


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sa.Connection]:
    """One open transaction on a migrated store holding a catalogue and an empty scale set."""
    db = Database(sqlite_url(tmp_path / "store.db"))
    db.migrate()
    with db.transaction() as connection:
        connection.execute(subscriptions.insert().values(id="sub", display_name="sub", created_at=NOW))
        for sku, version in (("18.04-LTS", "1.0.0"), ("18.04-LTS", "1.10.0"), ("18.04-LTS", "1.9.0"), ("16.04-LTS", "2.0.0")):
            connection.execute(images.insert().values(
                location="westus", publisher="canonical", offer="ubuntuserver", sku=sku.lower(), version=version,
                names={"publisher": "Canonical", "offer": "UbuntuServer", "sku": sku}, version_order=version_order(version),
                os_type="Linux", artifact="sha256-x", created_at=NOW))
        connection.execute(scale_sets.insert().values(
            key=KEY, subscription_id="sub", group_key="rg", group_name="rg", name="web", location="westus",
            unique_id="0123456789abcdef", body=scale_set_body(0), secrets=None, provisioning_state="Creating",
            model_version=1, next_instance_id=0, created_at=NOW))
        yield connection
    db.close()


def scale_set(conn: sa.Connection) -> sa.Row[Any]:
    return conn.execute(sa.select(scale_sets).where(scale_sets.c.key == KEY)).one()


def all_instances(conn: sa.Connection) -> list[sa.Row[Any]]:
    return conn.execute(sa.select(instances).order_by(instances.c.instance_id)).all()


def resize(conn: sa.Connection, capacity: int, op: str = "op", **body: Any) -> None:
    row = scale_set(conn)
    intents.resize(conn, row, ScaleSetModel.from_body(row.name, scale_set_body(capacity, **body)), op, NOW, address_block=BLOCK)


def settle(conn: sa.Connection, *, image: str | None = None) -> None:
    """What the reconciler does when every intent succeeded: deletes gone, the rest idle."""
    conn.execute(instances.delete().where(instances.c.pending_action == "delete"))
    values: dict[str, Any] = {"pending_action": None, "pending_image": None, "pending_op": None, "provisioning_state": "Succeeded"}
    if image is not None:
        values["image_urn"] = image
    conn.execute(instances.update().values(**values))


# -- resize -----------------------------------------------------------------------------------

def test_scale_out_writes_create_intents_with_the_next_ids(conn: sa.Connection) -> None:
    resize(conn, 3, op="op-create")
    rows = all_instances(conn)
    assert [r.instance_id for r in rows] == [0, 1, 2]
    for row in rows:
        assert (row.pending_action, row.pending_op, row.provisioning_state) == ("create", "op-create", "Creating")
        assert row.action_seq == 1
        assert row.image_urn is None  # nothing on its disk yet
        assert row.model_version == 1
    assert scale_set(conn).next_instance_id == 3


def test_latest_resolves_to_the_numerically_highest_version(conn: sa.Connection) -> None:
    resize(conn, 1)
    assert all_instances(conn)[0].pending_image == "Canonical:UbuntuServer:18.04-LTS:1.10.0"


def test_an_exact_version_is_taken_as_given(conn: sa.Connection) -> None:
    resize(conn, 1, version="1.9.0")
    assert all_instances(conn)[0].pending_image == "Canonical:UbuntuServer:18.04-LTS:1.9.0"


def test_new_instances_get_distinct_machine_keys_and_addresses(conn: sa.Connection) -> None:
    resize(conn, 4)
    rows = all_instances(conn)
    assert len({r.machine_key for r in rows}) == 4
    assert len({r.ip_index for r in rows}) == 4
    assert len({r.vm_id for r in rows}) == 4
    assert rows[0].machine_key == "web-01234567-0"
    assert [r.private_ip for r in rows] == [private_ip(r.ip_index, block=BLOCK) for r in rows]
    assert rows[0].private_ip == "127.3.0.1"
    assert len({r.private_ip for r in rows}) == 4


def test_update_and_fault_domains_and_zones_spread_by_instance_id(conn: sa.Connection) -> None:
    row = scale_set(conn)
    body = scale_set_body(6, zones=["1", "2", "3"])
    body["properties"]["platformFaultDomainCount"] = 2
    intents.resize(conn, row, ScaleSetModel.from_body("web", body), "op", NOW, address_block=BLOCK)
    rows = all_instances(conn)
    assert [r.zone for r in rows] == ["1", "2", "3", "1", "2", "3"]
    assert [r.fault_domain for r in rows] == [0, 1, 0, 1, 0, 1]
    assert [r.update_domain for r in rows] == [0, 1, 2, 3, 4, 0]


def test_scale_in_intends_deleting_the_highest_ids(conn: sa.Connection) -> None:
    resize(conn, 5)
    settle(conn)
    resize(conn, 2, op="op-in")
    rows = all_instances(conn)
    assert [(r.instance_id, r.pending_action) for r in rows] == [(0, None), (1, None), (2, "delete"), (3, "delete"), (4, "delete")]
    assert all(r.provisioning_state == "Deleting" for r in rows[2:])
    assert [r.instance_id for r in intents.live_instances(conn, KEY)] == [0, 1]


def test_scale_out_after_scale_in_never_reuses_an_id(conn: sa.Connection) -> None:
    resize(conn, 3)
    settle(conn)
    resize(conn, 1)
    settle(conn)
    resize(conn, 3)
    assert [r.instance_id for r in all_instances(conn)] == [0, 3, 4]


def test_resize_to_the_current_count_writes_nothing(conn: sa.Connection) -> None:
    resize(conn, 2)
    settle(conn)
    before = all_instances(conn)
    resize(conn, 2, op="other")
    assert all_instances(conn) == before


def test_scale_out_to_an_unpublished_image_is_refused(conn: sa.Connection) -> None:
    with pytest.raises(ArmError) as raised:
        resize(conn, 1, sku="22.04-LTS")
    assert (raised.value.status, raised.value.code, raised.value.target) == (400, "InvalidParameter", IMAGE_TARGET)


# -- intend -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("action", "state"), [("reimage", "Updating"), ("stop", "Updating"), ("delete", "Deleting"),
                                               ("start", "Updating"), ("create", "Creating")])
def test_intend_records_the_action_and_bumps_the_sequence(conn: sa.Connection, action: str, state: str) -> None:
    resize(conn, 2)
    settle(conn)
    rows = all_instances(conn)
    intents.intend(conn, rows[:1], action, "op-2", image="Canonical:UbuntuServer:18.04-LTS:1.0.0")
    first, second = all_instances(conn)
    assert (first.pending_action, first.pending_op, first.provisioning_state, first.action_seq) == (action, "op-2", state, 2)
    assert first.pending_image == "Canonical:UbuntuServer:18.04-LTS:1.0.0"
    assert second.pending_action is None and second.action_seq == 1


def test_a_newer_intent_supersedes_an_older_one(conn: sa.Connection) -> None:
    resize(conn, 1)
    row = all_instances(conn)[0]
    intents.intend(conn, [row], "delete", "op-delete")
    row = all_instances(conn)[0]
    assert (row.pending_action, row.pending_op, row.action_seq) == ("delete", "op-delete", 2)
    assert row.pending_image is None


def test_intend_refuses_an_unknown_action(conn: sa.Connection) -> None:
    resize(conn, 1)
    with pytest.raises(AssertionError):
        intents.intend(conn, all_instances(conn), "explode", "op")


# -- apply_model ------------------------------------------------------------------------------

def test_apply_model_with_latest_keeps_the_version_an_instance_runs(conn: sa.Connection) -> None:
    resize(conn, 2)
    settle(conn, image="Canonical:UbuntuServer:18.04-LTS:1.0.0")
    row = scale_set(conn)
    intents.apply_model(conn, row, ScaleSetModel.from_body("web", scale_set_body(2)), all_instances(conn), "op-apply")
    for instance in all_instances(conn):
        assert (instance.pending_action, instance.pending_op) == ("reimage", "op-apply")
        # not 1.10.0: only an OS upgrade moves an instance to a newer version
        assert instance.pending_image == "Canonical:UbuntuServer:18.04-LTS:1.0.0"


def test_apply_model_with_an_exact_version_moves_to_it(conn: sa.Connection) -> None:
    resize(conn, 1)
    settle(conn, image="Canonical:UbuntuServer:18.04-LTS:1.0.0")
    model = ScaleSetModel.from_body("web", scale_set_body(1, version="1.9.0"))
    intents.apply_model(conn, scale_set(conn), model, all_instances(conn), "op")
    assert all_instances(conn)[0].pending_image == "Canonical:UbuntuServer:18.04-LTS:1.9.0"


def test_apply_model_to_another_sku_resolves_its_latest(conn: sa.Connection) -> None:
    resize(conn, 1)
    settle(conn, image="Canonical:UbuntuServer:18.04-LTS:1.0.0")
    model = ScaleSetModel.from_body("web", scale_set_body(1, sku="16.04-LTS"))
    intents.apply_model(conn, scale_set(conn), model, all_instances(conn), "op")
    assert all_instances(conn)[0].pending_image == "Canonical:UbuntuServer:16.04-LTS:2.0.0"


def test_apply_model_to_an_instance_never_created_resolves_latest(conn: sa.Connection) -> None:
    resize(conn, 1)
    settle(conn)  # no image_urn
    intents.apply_model(conn, scale_set(conn), ScaleSetModel.from_body("web", scale_set_body(1)), all_instances(conn), "op")
    assert all_instances(conn)[0].pending_image == "Canonical:UbuntuServer:18.04-LTS:1.10.0"


def test_resolve_matches_names_case_insensitively_and_returns_the_published_spelling(conn: sa.Connection) -> None:
    from scaleset.model.image_reference import ImageReference

    found = intents.resolve(conn, "WestUS", ImageReference("CANONICAL", "ubuntuserver", "18.04-lts", "LATEST"))
    assert found == ImageReference("Canonical", "UbuntuServer", "18.04-LTS", "1.10.0")


def test_names_of_instances(conn: sa.Connection) -> None:
    row = scale_set(conn)
    assert intents.instance_name(row, 7) == "web_7"
    assert intents.instance_computer_name(row, 36) == "web000010"
