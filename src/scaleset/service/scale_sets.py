"""Scale sets: create, update, scale, delete. Each change is one transaction that writes the new
model and the instance intents it implies; the reconciler carries the intents out."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scaleset.images import catalog
from scaleset.model import resource_ids
from scaleset.model.scale_set import ScaleSetModel
from scaleset.service import bodies, intents, operations
from scaleset.service.context import Context
from scaleset.service.errors import ArmError, invalid, not_allowed, not_found
from scaleset.service.groups import require as require_group
from scaleset.service.network import find_probe
from scaleset.service.subscriptions import Subscriptions
from scaleset.service.upgrade_rules import check_automatic_os_upgrade
from scaleset.store.tables import instances, resource_groups, scale_sets

IMAGE_TARGET = "properties.virtualMachineProfile.storageProfile.imageReference"
PROBE_TARGET = "properties.virtualMachineProfile.networkProfile.healthProbe.id"

# The scale set, when it and its group are there to be read (what `require` lets through): the
# columns its JSON and its instances' are rendered from (api/render.py), not its secrets.
PEEK = (sa.select(*(scale_sets.c[name] for name in ("key", "subscription_id", "group_name", "name", "location",
                                                    "unique_id", "body", "provisioning_state", "model_version",
                                                    "created_at")))
        .join(resource_groups, sa.and_(resource_groups.c.subscription_id == scale_sets.c.subscription_id,
                                       resource_groups.c.key == scale_sets.c.group_key))
        .where(scale_sets.c.key == sa.bindparam("key"), resource_groups.c.state != "Deleting"))


class ScaleSets:
    def __init__(self, ctx: Context, subscriptions: Subscriptions) -> None:
        self.ctx = ctx
        self.subscriptions = subscriptions
        # Called in the transaction of every update: (conn, old row, new body). Upgrades listen.
        self.updated: list[Callable[[sa.Connection, sa.Row[Any], dict[str, Any]], None]] = []

    # -- reads --------------------------------------------------------------------------------

    def get(self, sub: str, group: str, name: str) -> sa.Row[Any]:
        with self.ctx.db.reading() as conn:
            return require(conn, sub, group, name)

    def peek(self, sub: str, group: str, name: str) -> tuple[Any, ...] | None:
        """The scale set's row as the driver returns it (`ctx.db.prepared(PEEK).typed` types it),
        read in one statement for the hot GET; None when `get` would raise (it says which 404)."""
        rows, = self.ctx.db.fetch((PEEK, {"key": key_of(sub, group, name)}))
        return rows[0] if rows else None

    def exists(self, sub: str, group: str, name: str) -> bool:
        """Whether the scale set exists; a missing resource group is still a 404."""
        with self.ctx.db.reading() as conn:
            require_group(conn, sub, group)
            return find(conn, sub, group, name) is not None

    def list(self, sub: str, group: str | None) -> list[sa.Row[Any]]:
        query = sa.select(scale_sets).where(scale_sets.c.subscription_id == sub.lower())
        with self.ctx.db.reading() as conn:
            if group is not None:
                require_group(conn, sub, group)
                query = query.where(scale_sets.c.group_key == group.lower())
            return conn.execute(query.order_by(scale_sets.c.key)).all()

    def secrets_of(self, row: sa.Row[Any]) -> bodies.Secrets:
        return self.ctx.secrets.decrypt(row.secrets) if row.secrets else {}

    # -- writes -------------------------------------------------------------------------------

    def put(self, sub: str, group: str, name: str, body: dict[str, Any]) -> tuple[sa.Row[Any], bool, str]:
        """Create or fully update. Returns (row, created, operation id)."""
        stored, secrets = bodies.clean(body)
        key = resource_ids.key(resource_ids.scale_set_id(sub, group, name))
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as conn:
            group_row = require_group(conn, sub, group)
            old = conn.execute(sa.select(scale_sets).where(scale_sets.c.key == key)).first()
            if old is None:
                row, op = self._create(conn, sub, group_row, name, key, stored, secrets, now)
            else:
                secrets = bodies.keep_omitted(stored, secrets, old.body, self.secrets_of(old))
                row, op = self._update(conn, old, stored, secrets, now)
            operations.settle_open(conn, now)
            row = conn.execute(sa.select(scale_sets).where(scale_sets.c.key == key)).first()
        self.ctx.wake(key)
        return row, old is None, op

    def patch(self, sub: str, group: str, name: str, patch: dict[str, Any]) -> tuple[sa.Row[Any], str]:
        stored_patch, patch_secrets = bodies.clean(patch)
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as conn:
            old = require(conn, sub, group, name)
            merged = bodies.merge_patch(old.body, stored_patch)
            secrets = self.secrets_of(old)
            if patch_secrets.get("adminPassword") is not None:
                secrets["adminPassword"] = patch_secrets["adminPassword"]
            protected = dict(secrets.get("protectedSettings") or {})
            protected.update(patch_secrets.get("protectedSettings") or {})
            names = {str(e.get("name")) for e in bodies.extensions(merged)}
            kept = {k: v for k, v in protected.items() if k in names}
            # No protected settings are stored as none at all, as PUT stores them: an empty dict
            # would read as a change of the model, and a tags-only PATCH must not be one.
            secrets = {k: v for k, v in secrets.items() if k != "protectedSettings"} | ({"protectedSettings": kept} if kept else {})
            row, op = self._update(conn, old, merged, secrets, now)
            operations.settle_open(conn, now)
            row = conn.execute(sa.select(scale_sets).where(scale_sets.c.key == old.key)).first()
        self.ctx.wake(old.key)
        return row, op

    def delete(self, sub: str, group: str, name: str) -> str | None:
        """Begin deleting; None when there is nothing to delete."""
        now = self.ctx.clock.now()
        with self.ctx.db.transaction() as conn:
            require_group(conn, sub, group)
            row = find(conn, sub, group, name)
            if row is None:
                return None
            op = begin_delete(conn, row, now)
            operations.settle_open(conn, now)
        self.ctx.wake(row.key)
        return op

    # -- the steps ----------------------------------------------------------------------------

    def _create(self, conn: sa.Connection, sub: str, group_row: sa.Row[Any], name: str, key: str,
                stored: dict[str, Any], secrets: bodies.Secrets, now: datetime) -> tuple[sa.Row[Any], str]:
        location = stored["location"]
        model = ScaleSetModel.from_body(name, stored)
        self._check_references(conn, location, model, stored)
        conn.execute(scale_sets.insert().values(
            key=key, subscription_id=sub.lower(), group_key=group_row.key, group_name=group_row.name, name=name, location=location,
            unique_id=str(uuid.uuid4()), body=stored, secrets=self._seal(secrets), provisioning_state="Creating",
            model_version=1, next_instance_id=0, created_at=now))
        op = operations.begin(conn, subscription=sub.lower(), location=location, resource_key=key, kind="create-scale-set", now=now)
        row = conn.execute(sa.select(scale_sets).where(scale_sets.c.key == key)).one()
        intents.resize(conn, row, model, op, now, address_block=self.ctx.settings.address_block)
        return row, op

    def _update(self, conn: sa.Connection, old: sa.Row[Any], stored: dict[str, Any], secrets: bodies.Secrets,
                now: datetime) -> tuple[sa.Row[Any], str]:
        if old.provisioning_state == "Deleting":
            raise not_allowed(f"The scale set '{old.name}' is being deleted.")
        location = stored.get("location") or old.location
        if location.replace(" ", "").lower() != old.location.replace(" ", "").lower():
            raise ArmError(409, "PropertyChangeNotAllowed", "Changing property 'location' is not allowed.", target="location")
        stored["location"] = old.location
        model = ScaleSetModel.from_body(old.name, stored)
        old_model = ScaleSetModel.from_body(old.name, old.body)
        for field in ("publisher", "offer"):
            if getattr(model.image, field).lower() != getattr(old_model.image, field).lower():
                raise ArmError(409, "PropertyChangeNotAllowed", f"Changing property 'imageReference.{field}' is not allowed.",
                               target=f"{IMAGE_TARGET}.{field}")
        self._check_references(conn, old.location, model, stored)
        for listener in self.updated:
            listener(conn, old, stored)
        model_changed = bodies.vm_profile(stored) != bodies.vm_profile(old.body) or secrets != self.secrets_of(old)
        model_version = old.model_version + (1 if model_changed else 0)
        conn.execute(scale_sets.update().where(scale_sets.c.key == old.key).values(
            body=stored, secrets=self._seal(secrets), model_version=model_version, provisioning_state="Updating"))
        op = operations.begin(conn, subscription=old.subscription_id, location=old.location, resource_key=old.key,
                              kind="update-scale-set", now=now)
        row = conn.execute(sa.select(scale_sets).where(scale_sets.c.key == old.key)).one()
        intents.resize(conn, row, model, op, now, address_block=self.ctx.settings.address_block)
        if model_changed and model.upgrade_mode == "Automatic":
            # Automatic mode: every instance takes the new model at once, as Azure documents.
            current = intents.live_instances(conn, row.key)
            intents.apply_model(conn, row, model, current, op)
        return row, op

    def _check_references(self, conn: sa.Connection, location: str, model: ScaleSetModel, body: dict[str, Any]) -> None:
        ref = model.image
        if not (ref.publisher and ref.offer and ref.sku):
            raise invalid(IMAGE_TARGET, "The imageReference needs publisher, offer and sku.")
        if catalog.find(conn, location, ref) is None:
            raise invalid(IMAGE_TARGET, f"The platform image '{ref.urn}' is not available in location '{location}'.")
        if model.health_probe_id is not None and find_probe(conn, model.health_probe_id) is None:
            raise invalid(PROBE_TARGET, f"The health probe '{model.health_probe_id}' does not exist.")
        if model.upgrade_mode == "Rolling" and model.health_probe_id is None and not model.has_application_health:
            raise invalid("properties.upgradePolicy.mode",
                          "Rolling upgrade mode needs a health signal: networkProfile.healthProbe or the Application Health extension.")
        check_automatic_os_upgrade(body, self.ctx.settings.eligible_images)

    def _seal(self, secrets: bodies.Secrets) -> str | None:
        return self.ctx.secrets.encrypt(secrets) if secrets else None


def key_of(sub: str, group: str, name: str) -> str:
    return resource_ids.key(resource_ids.scale_set_id(sub, group, name))


def find(conn: sa.Connection, sub: str, group: str, name: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(scale_sets).where(scale_sets.c.key == key_of(sub, group, name))).first()


def require(conn: sa.Connection, sub: str, group: str, name: str) -> sa.Row[Any]:
    require_group(conn, sub, group)
    row = find(conn, sub, group, name)
    if row is None:
        raise not_found(resource_ids.SCALE_SET_TYPE, name, group)
    return row


def begin_delete(conn: sa.Connection, row: sa.Row[Any], now: datetime) -> str:
    """Mark a scale set deleting and intend the deletion of each of its instances."""
    conn.execute(scale_sets.update().where(scale_sets.c.key == row.key).values(provisioning_state="Deleting"))
    op = operations.begin(conn, subscription=row.subscription_id, location=row.location, resource_key=row.key,
                          kind="delete-scale-set", now=now)
    every = conn.execute(sa.select(instances).where(instances.c.scale_set_key == row.key)).all()
    intents.intend(conn, every, "delete", op)
    return op
