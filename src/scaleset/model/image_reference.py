"""Platform image references and their versions (Major.Minor.Build, ordered numerically)."""

from __future__ import annotations

import re
from dataclasses import dataclass

LATEST = "latest"
_VERSION = re.compile(r"^\d{1,9}\.\d{1,9}\.\d{1,9}$")


def is_version(text: str) -> bool:
    return bool(_VERSION.match(text))


def version_order(version: str) -> str:
    """A string that sorts like the version does numerically: '16.4.201811140' > '16.4.9'."""
    return ".".join(part.zfill(9) for part in version.split("."))


@dataclass(frozen=True)
class ImageReference:
    publisher: str
    offer: str
    sku: str
    version: str  # exact, or "latest"

    @property
    def is_latest(self) -> bool:
        return self.version.lower() == LATEST

    @property
    def urn(self) -> str:
        return f"{self.publisher}:{self.offer}:{self.sku}:{self.version}"

    def same_image(self, other: ImageReference) -> bool:
        """Same publisher/offer/sku, whatever the version (names compare case-insensitively)."""
        return (self.publisher.lower(), self.offer.lower(), self.sku.lower()) == (
            other.publisher.lower(),
            other.offer.lower(),
            other.sku.lower(),
        )

    def at(self, version: str) -> ImageReference:
        return ImageReference(self.publisher, self.offer, self.sku, version)

    @classmethod
    def from_urn(cls, urn: str) -> ImageReference:
        parts = urn.split(":")
        if len(parts) != 4 or not all(parts):
            raise ValueError(f"'{urn}' is not an image URN publisher:offer:sku:version")
        return cls(*parts)
