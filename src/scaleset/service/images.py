"""Publishing image versions (Azure keeps this to itself; here it is ours) and reading the catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from scaleset.drivers.base import InvalidArtifact
from scaleset.images import catalog
from scaleset.images.artifacts import ArtifactStore
from scaleset.model.image_reference import ImageReference, is_version, version_order
from scaleset.service.context import Context
from scaleset.service.errors import ArmError, invalid
from scaleset.store.tables import images, publications

OS_TYPES = ("Linux", "Windows")


class Images:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.artifacts = ArtifactStore(ctx.data_dir / "images")
        self.published: list[Any] = []  # awaited (location, ImageReference) after each new version

    async def publish(self, location: str, ref: ImageReference, *, os_type: str, upload: Path) -> tuple[sa.Row[Any], bool]:
        """Add a version to the catalogue. Returns (row, created). Versions are immutable."""
        if not is_version(ref.version):
            raise invalid("version", f"Image version '{ref.version}' is not of the form Major.Minor.Build (digits).")
        canonical_os = next((o for o in OS_TYPES if o.lower() == os_type.lower()), None)
        if canonical_os is None:
            raise invalid("osType", f"osType '{os_type}' is not one of {', '.join(OS_TYPES)}.")
        for field, value in (("publisher", ref.publisher), ("offer", ref.offer), ("sku", ref.sku)):
            if not value or "/" in value or ":" in value:
                raise invalid(field, f"The {field} name '{value}' is not valid.")
        digest = self.artifacts.digest(upload)
        with self.ctx.db.reading() as conn:
            existing = catalog.find(conn, location, ref)
        if existing is not None:  # checked before installing, so a refused publish leaves nothing behind
            return self._republished(existing, ref, digest), False
        try:
            await self.artifacts.install(upload, self.ctx.driver, digest)
        except InvalidArtifact as error:
            raise ArmError(400, "InvalidArtifact", f"The image artifact was refused: {error}", target="artifact") from None
        with self.ctx.db.transaction() as conn:
            existing = catalog.find(conn, location, ref)
            if existing is not None:  # published meanwhile by a concurrent call
                return self._republished(existing, ref, digest), False
            conn.execute(images.insert().values(
                location=location.lower(), publisher=ref.publisher.lower(), offer=ref.offer.lower(), sku=ref.sku.lower(),
                version=ref.version, names={"publisher": ref.publisher, "offer": ref.offer, "sku": ref.sku},
                version_order=version_order(ref.version), os_type=canonical_os, artifact=digest,
                created_at=self.ctx.clock.now()))
            # The automatic trigger's queue: whichever replica holds its lease starts the runs.
            conn.execute(publications.insert().values(location=location, urn=ref.urn, published_at=self.ctx.clock.now()))
            row = catalog.find(conn, location, ref)
        for callback in self.published:
            await callback(location, ref)
        return row, True

    @staticmethod
    def _republished(existing: sa.Row[Any], ref: ImageReference, digest: str) -> sa.Row[Any]:
        """Publishing the same bytes again is harmless; other bytes under a known version are not."""
        if existing.artifact != digest:
            raise ArmError(409, "Conflict", f"Image version {ref.urn} already exists with another artifact; versions are immutable.",
                           target="version")
        return existing

    def names(self, level: str, location: str, **above: str) -> list[str]:
        with self.ctx.db.reading() as conn:
            return catalog.names(conn, level, location, **above)

    def versions(self, location: str, publisher: str, offer: str, sku: str) -> list[sa.Row[Any]]:
        with self.ctx.db.reading() as conn:
            return catalog.versions(conn, location, publisher, offer, sku)

    def get(self, location: str, ref: ImageReference) -> sa.Row[Any]:
        with self.ctx.db.reading() as conn:
            row = catalog.find(conn, location, ref) if not ref.is_latest else None
        if row is None:
            raise ArmError(404, "NotFound", f"Artifact: VMImage was not found: {ref.urn} in {location}.")
        return row
