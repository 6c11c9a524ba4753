"""Microsoft.Network resources: stored and returned so templates and scripts that create them work.

Load balancer probes are what a scale set's `networkProfile.healthProbe.id` points at, so they
must resolve; nothing else here is acted on.
"""

from __future__ import annotations

import copy
from typing import Any

import sqlalchemy as sa

from scaleset.health.probe_spec import ProbeSpec
from scaleset.health.sources import probe_spec_for
from scaleset.model import resource_ids
from scaleset.service.bodies import extensions as body_extensions
from scaleset.service.context import Context
from scaleset.service.errors import not_found
from scaleset.service.groups import require as require_group
from scaleset.store.tables import resources

# type key -> canonical type, and the child collections whose items get ids of their own
NETWORK_TYPES = {
    "loadbalancers": ("Microsoft.Network/loadBalancers", ("probes", "frontendIPConfigurations", "backendAddressPools", "loadBalancingRules", "inboundNatPools", "inboundNatRules")),
    "virtualnetworks": ("Microsoft.Network/virtualNetworks", ("subnets",)),
    "publicipaddresses": ("Microsoft.Network/publicIPAddresses", ()),
    "networksecuritygroups": ("Microsoft.Network/networkSecurityGroups", ("securityRules",)),
}


class NetworkResources:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def put(self, sub: str, group: str, type_key: str, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        canonical, children = NETWORK_TYPES[type_key]
        rid = resource_ids.resource_id(sub, group, canonical, name)
        stored = _with_ids(rid, canonical, name, body, children)
        with self.ctx.db.transaction() as conn:
            group_row = require_group(conn, sub, group)
            stored["location"] = body.get("location") or group_row.location
            key = resource_ids.key(rid)
            existed = conn.execute(sa.select(resources.c.key).where(resources.c.key == key)).first() is not None
            if existed:
                conn.execute(resources.update().where(resources.c.key == key).values(body=stored))
            else:
                conn.execute(resources.insert().values(
                    key=key, subscription_id=sub.lower(), group_key=group.lower(), type_key=f"microsoft.network/{type_key}",
                    body=stored, created_at=self.ctx.clock.now()))
        self.ctx.wake()  # its probe may be a scale set's health probe: the health watch reads it anew
        return stored, not existed

    def get(self, sub: str, group: str, type_key: str, name: str) -> dict[str, Any]:
        canonical, _ = NETWORK_TYPES[type_key]
        rid = resource_ids.resource_id(sub, group, canonical, name)
        with self.ctx.db.reading() as conn:
            require_group(conn, sub, group)
            row = conn.execute(sa.select(resources.c.body).where(resources.c.key == resource_ids.key(rid))).first()
        if row is None:
            raise not_found(canonical, name, group)
        return row.body

    def list(self, sub: str, group: str | None, type_key: str) -> list[dict[str, Any]]:
        query = sa.select(resources.c.body).where(
            resources.c.subscription_id == sub.lower(), resources.c.type_key == f"microsoft.network/{type_key}")
        with self.ctx.db.reading() as conn:
            if group is not None:
                require_group(conn, sub, group)
                query = query.where(resources.c.group_key == group.lower())
            return [row.body for row in conn.execute(query.order_by(resources.c.key)).all()]

    def delete(self, sub: str, group: str, type_key: str, name: str) -> bool:
        canonical, _ = NETWORK_TYPES[type_key]
        rid = resource_ids.resource_id(sub, group, canonical, name)
        with self.ctx.db.transaction() as conn:
            return conn.execute(resources.delete().where(resources.c.key == resource_ids.key(rid))).rowcount > 0


def find_probe(conn: sa.Connection, probe_id: str) -> dict[str, Any] | None:
    """The probe a healthProbe id names, or None when it does not resolve."""
    found = _probe_and_balancer(conn, probe_id)
    return found[0] if found else None


def health_probe_of(conn: sa.Connection, body: dict[str, Any], health_probe_id: str | None) -> ProbeSpec | None:
    """The probe a scale set model names (its Application Health extension or its load balancer
    probe), or None for default health. Raises ValueError when that source is malformed."""
    probe = find_probe(conn, health_probe_id) if health_probe_id else None
    return probe_spec_for(body_extensions(body), probe)


def backend_ports(conn: sa.Connection, probe_id: str) -> tuple[int, ...]:
    """The backend ports of the load-balancing rules beside the probe a healthProbe id names:
    the ports the app serves on each instance."""
    found = _probe_and_balancer(conn, probe_id)
    if found is None:
        return ()
    rules = (found[1].get("properties") or {}).get("loadBalancingRules") or []
    ports = []
    for rule in rules:
        try:
            ports.append(int((rule.get("properties") or {}).get("backendPort")))
        except (TypeError, ValueError):
            continue
    return tuple(sorted(set(ports)))


def _probe_and_balancer(conn: sa.Connection, probe_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        parts = resource_ids.parse(probe_id)
    except ValueError:
        return None
    child = parts["children"].split("/")
    if parts["type"].lower() != "loadbalancers" or len(child) != 2 or child[0].lower() != "probes":
        return None
    lb_key = resource_ids.key(probe_id.rsplit("/", 2)[0])
    row = conn.execute(sa.select(resources.c.body).where(resources.c.key == lb_key)).first()
    if row is None:
        return None
    for probe in (row.body.get("properties") or {}).get("probes") or []:
        if str(probe.get("name", "")).lower() == child[1].lower():
            return probe, row.body
    return None


def _with_ids(rid: str, canonical: str, name: str, body: dict[str, Any], children: tuple[str, ...]) -> dict[str, Any]:
    stored = copy.deepcopy(body)
    stored.update(id=rid, name=name, type=canonical)
    props = stored.setdefault("properties", {})
    props["provisioningState"] = "Succeeded"
    for collection in children:
        for item in props.get(collection) or []:
            if isinstance(item, dict) and item.get("name"):
                item["id"] = f"{rid}/{collection}/{item['name']}"
                item.setdefault("properties", {})["provisioningState"] = "Succeeded"
    return stored
