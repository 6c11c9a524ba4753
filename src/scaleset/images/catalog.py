"""The platform image catalogue: publisher / offer / sku / version per location.

Names match case-insensitively and keep the spelling they were published with. Versions order
numerically, and "latest" is the highest.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from scaleset.model.image_reference import ImageReference
from scaleset.store.tables import images


def _where(location: str, publisher: str | None = None, offer: str | None = None, sku: str | None = None) -> list[sa.ColumnElement[bool]]:
    clauses = [images.c.location == location.lower()]
    for column, value in ((images.c.publisher, publisher), (images.c.offer, offer), (images.c.sku, sku)):
        if value is not None:
            clauses.append(column == value.lower())
    return clauses


def names(conn: sa.Connection, level: str, location: str, **above: str) -> list[str]:
    """Distinct publisher, offer or sku names (as published) under the given parents."""
    rows = conn.execute(sa.select(images.c[level], images.c.names).where(*_where(location, **above)).order_by(images.c[level])).all()
    seen: dict[str, str] = {}
    for row in rows:
        seen.setdefault(row[0], row.names[level])
    return list(seen.values())


def versions(conn: sa.Connection, location: str, publisher: str, offer: str, sku: str) -> list[sa.Row[Any]]:
    """Every version of one sku, oldest first."""
    return conn.execute(
        sa.select(images).where(*_where(location, publisher, offer, sku)).order_by(images.c.version_order)
    ).all()


def find(conn: sa.Connection, location: str, ref: ImageReference) -> sa.Row[Any] | None:
    """The version a reference names: its exact version, or the highest for "latest"."""
    query = sa.select(images).where(*_where(location, ref.publisher, ref.offer, ref.sku))
    if ref.is_latest:
        query = query.order_by(images.c.version_order.desc()).limit(1)
    else:
        query = query.where(images.c.version == ref.version)
    return conn.execute(query).first()


def reference(row: sa.Row[Any]) -> ImageReference:
    """The exact reference of a catalogue row, spelt as published."""
    return ImageReference(row.names["publisher"], row.names["offer"], row.names["sku"], row.version)
