"""The two hottest reads, GET of a scale set and a page of its instances, as JSON bytes kept per
scale set and per instance, keyed by the very rows they were rendered from.

Correct by construction, with nothing to invalidate: the JSON is a function of the rows and the
api-version alone, and every GET still reads the rows afresh from the store (one statement, or one
read transaction for a page) and compares them with the rows its cached bytes came from. So a
change by any path (a client's write, the reconciler's status writes, another replica on
PostgreSQL) shows on the very next GET: its rows differ, and they are rendered anew. What the cache
saves is the rendering and the encoding (~70 us an instance, most of a page's cost), not the read.
"""

from __future__ import annotations

from typing import Any

from scaleset.api import render
from scaleset.api.responses import encode
from scaleset.model.scale_set import ScaleSetModel
from scaleset.service.instances import PAGE
from scaleset.service.scale_sets import PEEK
from scaleset.store.database import Database

MAX_SCALE_SETS = 64  # (scale set, api-version) pairs kept
MAX_INSTANCES = 20_000  # instances kept, over all of them (~1.2 KiB of JSON each)


class _Generation:
    """One scale set's row as last read, with what was rendered from it (its instances' JSON
    depends on the scale set's row too, so a change to it starts a new generation)."""

    __slots__ = ("raw", "row", "model", "body", "instances")

    def __init__(self, raw: tuple[Any, ...], row: Any) -> None:
        self.raw, self.row = raw, row
        self.model: ScaleSetModel | None = None
        self.body: bytes | None = None
        self.instances: dict[int, tuple[tuple[Any, ...], bytes]] = {}  # instance id -> (its row, its JSON)


class Renders:
    """The kept JSON of one app; `scale_set` and `instances` take rows as `ScaleSets.peek` and
    `Instances.peek_page` read them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._scale_set = db.prepared(PEEK)
        self._instance = db.prepared(PAGE)
        self._key = self._scale_set.row._fields.index("key")
        self._instance_id = self._instance.row._fields.index("instance_id")
        self._generations: dict[tuple[str, str], _Generation] = {}
        self._instances = 0  # entries over all generations

    def scale_set(self, raw: tuple[Any, ...], api_version: str) -> bytes:
        generation = self._generation(raw, api_version)
        if generation.body is None:
            generation.body = encode(render.scale_set(generation.row, api_version))
        self._evict()
        return generation.body

    def instances(self, raw_scale_set: tuple[Any, ...], raw_rows: list[tuple[Any, ...]], api_version: str) -> list[bytes]:
        """Each instance's JSON as `render.vm` gives it without the instance view."""
        generation = self._generation(raw_scale_set, api_version)
        out = []
        for raw in raw_rows:
            instance_id = raw[self._instance_id]
            cached = generation.instances.get(instance_id)
            if cached is not None and cached[0] == raw:
                out.append(cached[1])
                continue
            if generation.model is None:
                generation.model = ScaleSetModel.from_body(generation.row.name, generation.row.body)
            rendered = encode(render.vm(generation.row, self._instance.typed(raw), api_version, model=generation.model))
            if cached is None:
                self._instances += 1
            generation.instances[instance_id] = (raw, rendered)
            out.append(rendered)
        self._evict()
        return out

    def instance_id(self, raw: tuple[Any, ...]) -> int:
        """The instance id of a row as `Instances.peek_page` gives it."""
        return raw[self._instance_id]

    def _generation(self, raw: tuple[Any, ...], api_version: str) -> _Generation:
        slot = (raw[self._key], api_version)
        generation = self._generations.get(slot)
        if generation is None or generation.raw != raw:
            if generation is not None:
                self._instances -= len(generation.instances)
                del self._generations[slot]  # re-inserted last: the dict's order is the eviction order
            generation = self._generations[slot] = _Generation(raw, self._scale_set.typed(raw))
        return generation

    def _evict(self) -> None:
        """Drop the oldest generations while over the bounds, keeping at least the newest."""
        while len(self._generations) > 1 and (len(self._generations) > MAX_SCALE_SETS or self._instances > MAX_INSTANCES):
            oldest = next(iter(self._generations))
            self._instances -= len(self._generations.pop(oldest).instances)
