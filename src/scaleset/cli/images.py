"""The platform image catalogue: `vm image list|show` (as az) and `image publish` (ours).

Listing walks publishers -> offers -> skus -> versions and filters each level by
case-insensitive substring on the client, exactly like `az vm image list --all`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from scaleset.cli.arm_client import COMPUTE_API_VERSION, ArmClient
from scaleset.cli.arm_paths import (
    offers_path,
    publishers_path,
    skus_path,
    version_path,
    versions_path,
)
from scaleset.cli.artifact import open_artifact
from scaleset.cli.errors import CliError
from scaleset.cli.lro import finish_put
from scaleset.cli.multi_value import AzGroup
from scaleset.cli.output import Column
from scaleset.cli.session import Session, client_command
from scaleset.cli.urn import ImageUrn, parse_urn

IMAGE_ROW_COLUMNS = (
    Column("Architecture", "architecture"),
    Column("Offer", "offer"),
    Column("Publisher", "publisher"),
    Column("Sku", "sku"),
    Column("Urn", "urn"),
    Column("Version", "version"),
)

IMAGE_COLUMNS = (
    Column("Name", "name"),
    Column("Location", "location"),
    Column("OsType", "properties.osDiskImage.operatingSystem"),
    Column("AutomaticOSUpgrade", "properties.automaticOSUpgradeProperties.automaticOSUpgradeSupported"),
)

DEFAULT_ARCHITECTURE = "x64"


@click.group(cls=AzGroup)
def vm() -> None:
    """Virtual machine commands (only `vm image` here)."""


@vm.group(name="image", cls=AzGroup)
def vm_image() -> None:
    """Browse the platform image catalogue."""


@vm_image.command(name="list")
@click.option("--location", "-l", required=True, help="Location of the catalogue.")
@click.option("--publisher", "-p", help="Publisher filter (case-insensitive substring).")
@click.option("--offer", "-f", help="Offer filter (case-insensitive substring).")
@click.option("--sku", "-s", help="SKU filter (case-insensitive substring).")
@click.option(
    "--all", "all_images", is_flag=True, help="Accepted for az compatibility: always on here."
)
@client_command
def list_images(
    session: Session,
    location: str,
    publisher: str | None,
    offer: str | None,
    sku: str | None,
    all_images: bool,
) -> None:
    """List image versions, walking the whole catalogue (az's --all)."""
    rows = list(walk_catalogue(session.client, session.subscription, location, publisher, offer, sku))
    session.emit(rows, columns=IMAGE_ROW_COLUMNS)


@vm_image.command(name="show")
@click.option("--urn", required=True, help="PUBLISHER:OFFER:SKU:VERSION; VERSION may be 'latest'.")
@click.option("--location", "-l", required=True, help="Location of the catalogue.")
@client_command
def show_image(session: Session, urn: str, location: str) -> None:
    """Show one image version."""
    image = parse_urn(urn)
    subscription = session.subscription
    version = image.version
    if version.lower() == "latest":
        version = latest_version(session.client, subscription, location, image)
    url = version_path(subscription, location, image.publisher, image.offer, image.sku, version)
    session.emit(session.client.get(url, api_version=COMPUTE_API_VERSION), columns=IMAGE_COLUMNS)


@click.group(cls=AzGroup)
def image() -> None:
    """Publish images to the catalogue."""


@image.command()
@click.option("--location", "-l", required=True, help="Location of the catalogue.")
@click.option("--publisher", "-p", required=True)
@click.option("--offer", "-f", required=True)
@click.option("--sku", "-s", required=True)
@click.option("--version", "image_version", required=True, help="e.g. 16.04.201811140")
@click.option(
    "--artifact",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="OS disk: a directory (packed here), a .tar.gz, or a .json simulator image.",
)
@click.option(
    "--os-type",
    type=click.Choice(("Linux", "Windows"), case_sensitive=False),
    default="Linux",
    show_default=True,
)
@client_command
def publish(
    session: Session,
    location: str,
    publisher: str,
    offer: str,
    sku: str,
    image_version: str,
    artifact: Path,
    os_type: str,
) -> None:
    """Publish a new image version; scale sets with automatic OS upgrades roll onto it."""
    url = version_path(session.subscription, location, publisher, offer, sku, image_version)
    with open_artifact(artifact) as upload:
        response = session.client.request(
            "PUT",
            url,
            api_version=COMPUTE_API_VERSION,
            params={"osType": os_type},
            content=upload.chunks(),
            # With a length given, httpx sends the stream as-is rather than chunked.
            headers={"Content-Type": upload.content_type, "Content-Length": str(upload.size)},
        )
    result = finish_put(session.client, url, response, api_version=COMPUTE_API_VERSION)
    session.emit(result, columns=IMAGE_COLUMNS)


def walk_catalogue(
    client: ArmClient,
    subscription: str,
    location: str,
    publisher: str | None = None,
    offer: str | None = None,
    sku: str | None = None,
) -> Iterator[dict[str, str]]:
    """One az-shaped row per image version matching the filters."""
    for pub in _matching(client, publishers_path(subscription, location), publisher):
        for off in _matching(client, offers_path(subscription, location, pub), offer):
            for sk in _matching(client, skus_path(subscription, location, pub, off), sku):
                for item in _items(client, versions_path(subscription, location, pub, off, sk)):
                    version = str(item["name"])
                    yield {
                        "architecture": _architecture(item),
                        "offer": off,
                        "publisher": pub,
                        "sku": sk,
                        "urn": f"{pub}:{off}:{sk}:{version}",
                        "version": version,
                    }


def latest_version(client: ArmClient, subscription: str, location: str, image: ImageUrn) -> str:
    url = versions_path(subscription, location, image.publisher, image.offer, image.sku)
    versions = [str(item["name"]) for item in _items(client, url)]
    if not versions:
        raise CliError(
            f"(ImageNotFound) no version of {image.publisher}:{image.offer}:{image.sku} "
            f"in {location}",
            exit_code=3,
        )
    return max(versions, key=version_key)


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Orders `16.04.201811140` after `16.04.201809120` and `1.10` after `1.9`."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[.\-]", version)
    )


def _matching(client: ArmClient, url: str, wanted: str | None) -> list[str]:
    names = [str(item["name"]) for item in _items(client, url)]
    if not wanted:
        return names
    folded = wanted.casefold()
    return [name for name in names if folded in name.casefold()]


def _items(client: ArmClient, url: str) -> list[Mapping[str, Any]]:
    # Image list endpoints answer bare arrays, not ARM pages.
    body = client.get(url, api_version=COMPUTE_API_VERSION)
    if not isinstance(body, list):
        raise CliError(f"expected a JSON array from {url}, got {type(body).__name__}")
    return [item for item in body if isinstance(item, Mapping) and "name" in item]


def _architecture(item: Mapping[str, Any]) -> str:
    properties = item.get("properties")
    if isinstance(properties, Mapping) and properties.get("architecture"):
        return str(properties["architecture"])
    return DEFAULT_ARCHITECTURE
