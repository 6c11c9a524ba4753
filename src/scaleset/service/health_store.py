"""What the health watch reads of the store (the scale sets to watch and their probes, their
instances), and the verdicts it writes there for other replicas.

Reads are few columns, by scale set (or by instance), and a fingerprint per scale set that the
database computes, so that a watch over a million instances reads only what changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from scaleset.health.probe_spec import ProbeSpec
from scaleset.health.verdicts import HealthState, Verdict
from scaleset.model.scale_set import ScaleSetModel
from scaleset.service.context import Context
from scaleset.service.network import health_probe_of
from scaleset.store.database import Database, chunks
from scaleset.store.leases import LeaseLost, scale_set_lease
from scaleset.store.tables import instance_health, instances, scale_sets

log = logging.getLogger(__name__)

_VERDICT_REFRESH = 30.0  # seconds: how stale the evidence other replicas show may get
_WATCH_COLUMNS = (instances.c.scale_set_key, instances.c.instance_id, instances.c.action_seq, instances.c.pending_action,
                  instances.c.private_ip, instances.c.machine_key, instances.c.power_state)


def fingerprints(conn: sa.Connection, keys: list[str] | None) -> dict[str, tuple[Any, ...]]:
    """Per scale set, what changes with any intent, outcome kept by count, creation or deletion
    of its instances: one aggregate the database computes without handing us a row each."""
    query = sa.select(instances.c.scale_set_key, sa.func.count(), sa.func.sum(instances.c.action_seq),
                      sa.func.sum(instances.c.instance_id), sa.func.count(instances.c.pending_action)
                      ).group_by(instances.c.scale_set_key)
    if keys is None:
        return {row[0]: tuple(row[1:]) for row in conn.execute(query).all()}
    return {row[0]: tuple(row[1:]) for chunk in chunks(keys)
            for row in conn.execute(query.where(instances.c.scale_set_key.in_(chunk))).all()}


def _watch_reads(probed: bool) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """What the watch reads of scale sets' instances (`keys`), and of some of one's (`key`, `ids`):
    the extensions' states only where no probe judges them (the JSON costs more to decode than the
    rest of the row)."""
    query = sa.select(*_WATCH_COLUMNS, sa.null().label("extensions") if probed else instances.c.extensions)
    return (query.where(instances.c.scale_set_key.in_(sa.bindparam("keys", expanding=True))),
            query.where(instances.c.scale_set_key == sa.bindparam("key"),
                        instances.c.instance_id.in_(sa.bindparam("ids", expanding=True))))


_WATCH_READS = {probed: _watch_reads(probed) for probed in (True, False)}


def watch_rows(db: Database, keys: list[str], specs: dict[str, ProbeSpec | None],
               parts: dict[str, list[int]]) -> list[Any]:
    """The few columns a verdict needs, of these scale sets' instances (`keys`), and of some
    instances of others (`parts`: scale set -> instance ids), straight on the database driver."""
    reads = []
    for probed in (True, False):
        whole, some = _WATCH_READS[probed]
        wanted = [k for k in keys if (specs[k] is not None) == probed]
        reads += [(whole, {"keys": wanted})] if wanted else []
        reads += [(some, {"key": key, "ids": ids}) for key, ids in parts.items() if ids and (specs[key] is not None) == probed]
    return [row for rows in db.rows(*reads) for row in rows] if reads else []


class Bodies:
    """Each scale set's body as last read, whether its upgrades are gated on health, and its probe:
    a probe is worked out once per body."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[Any, bool, ProbeSpec | None]] = {}

    def watched(self, conn: sa.Connection, keys: set[str] | None, running: set[str],
                probing: Callable[[str], bool], *, fresh: bool) -> dict[str, ProbeSpec | None]:
        """The probe of each scale set to watch (of those in `keys`, or all): the ones we probe
        (`probing`: we hold the lease) whose upgrades are gated on health or under way. A probe is
        worked out again when the body changed, or (`fresh`) always: a load balancer's probe may
        have changed."""
        # The body as stored (text on SQLite), decoded only when it changed: a thousand bodies
        # every few seconds cost more to decode than to compare.
        query = sa.select(scale_sets.c.key, scale_sets.c.name, sa.type_coerce(scale_sets.c.body, sa.Text).label("body"))
        if keys is not None:
            query = query.where(scale_sets.c.key.in_(sorted(keys)))
        found: dict[str, ProbeSpec | None] = {}
        for scale_set in conn.execute(query).all():
            if not probing(scale_set.key):
                continue  # another replica probes it
            known = self._known.get(scale_set.key)
            if fresh or known is None or known[0] != scale_set.body:
                body = json.loads(scale_set.body) if isinstance(scale_set.body, str) else scale_set.body
                model = ScaleSetModel.from_body(scale_set.name, body)
                gated = model.automatic_os_upgrade or model.upgrade_mode == "Rolling"
                known = self._known[scale_set.key] = (scale_set.body, gated, probe_of(conn, body, model))
            if known[1] or scale_set.key in running:
                found[scale_set.key] = known[2]
        return found


def stored_verdicts(db: Database, scale_set_key: str) -> dict[int, Verdict | None]:
    """The verdicts of a scale set's instances as its prober (another replica) last wrote them."""
    with db.reading() as conn:
        rows = conn.execute(sa.select(instance_health.c.instance_id, instance_health.c.verdict)
                            .where(instance_health.c.scale_set_key == scale_set_key)).all()
    return {row.instance_id: Verdict.from_json(row.verdict) for row in rows}


class SharedVerdicts:
    """The verdicts written to the store, for the replicas that do not probe a scale set to show."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.stored: dict[tuple[str, int], tuple[HealthState, float]] = {}  # (state, when) last written, per instance
        self.sharing = True  # whether other replicas are alive to read what we write

    def share(self, others_alive: bool) -> None:
        """Write verdicts to the store only while another replica may read them: a lone server
        keeps them in memory. When one appears, everything is written afresh."""
        if not others_alive:
            self.stored.clear()
        self.sharing = others_alive

    def write(self, watched: Mapping[tuple[str, int], Any], by_set: Mapping[str, Mapping[int, Any]]) -> None:
        """Write the verdicts of what is watched (slot -> something with `state` and `verdict(now)`)
        whose state changed since we last wrote them (or written long ago), per scale set under its
        lease (so a replica that lost the lease writes nothing); only while sharing."""
        if not self.sharing:
            return
        changed: dict[str, list[tuple[int, Verdict]]] = {}
        now, now_monotonic = self.ctx.clock.now(), self.ctx.clock.monotonic()
        for (key, instance_id), one in list(watched.items()):
            state, stored = one.state, self.stored.get((key, instance_id))
            if state is not None and (stored is None or stored[0] != state or now_monotonic - stored[1] > _VERDICT_REFRESH):
                verdict = one.verdict(now)
                assert verdict is not None
                changed.setdefault(key, []).append((instance_id, verdict))
        for key in {k for k, _ in self.stored} - {k for k, _ in watched}:
            changed.setdefault(key, [])
        for scale_set_key, verdicts in changed.items():
            try:
                with self.ctx.db.transaction() as conn:
                    self.ctx.leases.fence(conn, scale_set_lease(scale_set_key))
                    watched_ids = list(by_set.get(scale_set_key, {}))
                    conn.execute(instance_health.delete().where(instance_health.c.scale_set_key == scale_set_key,
                                                                instance_health.c.instance_id.not_in(watched_ids)))
                    for instance_id, verdict in verdicts:
                        values = {"verdict": verdict.as_json(), "updated_at": now}
                        where = (instance_health.c.scale_set_key == scale_set_key, instance_health.c.instance_id == instance_id)
                        if not conn.execute(instance_health.update().where(*where).values(**values)).rowcount:
                            conn.execute(instance_health.insert().values(scale_set_key=scale_set_key, instance_id=instance_id, **values))
            except (LeaseLost, sa.exc.IntegrityError):  # lost the lease, or the scale set went meanwhile
                verdicts = []
            for stale in [k for k in self.stored if k[0] == scale_set_key and k not in watched]:
                del self.stored[stale]
            for instance_id, verdict in verdicts:
                self.stored[(scale_set_key, instance_id)] = (verdict.state, now_monotonic)


def probe_of(conn: sa.Connection, body: dict[str, Any], model: ScaleSetModel) -> ProbeSpec | None:
    """The scale set's health probe, if any; a malformed one is logged and judged as none."""
    try:
        return health_probe_of(conn, body, model.health_probe_id)
    except ValueError as error:
        log.warning("health probe of a scale set is malformed: %s", error)
        return None
