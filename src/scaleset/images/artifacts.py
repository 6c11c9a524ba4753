"""The artifact store: each uploaded image artifact installed once, under its content digest.

Installed artifacts are never changed; an instance's OS disk is made from one. A digest already
installed is not installed again, so publishing the same bytes twice costs nothing.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path

from scaleset.drivers.base import Driver


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / digest

    @staticmethod
    def digest(upload: Path) -> str:
        return "sha256-" + _sha256(upload)

    async def install(self, upload: Path, driver: Driver, digest: str) -> None:
        """Install an uploaded file (of that digest) through the driver. Raises InvalidArtifact."""
        final = self.path(digest)
        if final.is_dir():
            return
        staging = self.root / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            await driver.install_image(upload, staging)
            staging.rename(final)
        except FileExistsError:  # installed meanwhile by a concurrent publish of the same bytes
            pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
