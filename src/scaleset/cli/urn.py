"""Image URNs, `Publisher:Offer:Sku:Version`, the way az names a platform image."""

from __future__ import annotations

from dataclasses import dataclass

from scaleset.cli.errors import CliError


@dataclass(frozen=True)
class ImageUrn:
    publisher: str
    offer: str
    sku: str
    version: str

    def __str__(self) -> str:
        return f"{self.publisher}:{self.offer}:{self.sku}:{self.version}"

    def image_reference(self) -> dict[str, str]:
        return {
            "publisher": self.publisher,
            "offer": self.offer,
            "sku": self.sku,
            "version": self.version,
        }


def parse_urn(text: str) -> ImageUrn:
    parts = text.split(":")
    if len(parts) != 4 or not all(part.strip() for part in parts):
        raise CliError(
            f"image {text!r} is not a URN: expected PUBLISHER:OFFER:SKU:VERSION "
            "(VERSION may be 'latest')",
            exit_code=2,
        )
    publisher, offer, sku, version = (part.strip() for part in parts)
    return ImageUrn(publisher, offer, sku, version)
