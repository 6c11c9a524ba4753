"""The platform image catalogue through `virtual_machine_images`: publishers, offers, skus,
versions (ordered numerically) and one version.

The module publishes under a publisher of its own, so "latest" of the suite's app image is
untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute import models as m

from tests.compat.conftest import LOCATION, Env, unique
from tests.conftest import publish
from tests.images import boot_image

# Published out of order on purpose: the catalogue must order them numerically, not by time or text.
VERSIONS = ("1.0.10", "1.0.2", "1.0.9")
NUMERIC = ["1.0.2", "1.0.9", "1.0.10"]


@dataclass
class Catalogue:
    publisher: str
    offer: str
    sku: str


@pytest.fixture(scope="module")
def catalogue(proc: Env) -> Catalogue:
    made = Catalogue(unique("CompatPublisher"), "CompatOffer", "compat-sku")
    artifact = boot_image(proc.tmp / "catalogue-v1", version="1.0.0")
    for version in VERSIONS:
        response = publish(proc.http, proc.sub, artifact, version=version, publisher=made.publisher,
                           offer=made.offer, sku=made.sku)
        assert response.status_code == 201, response.text
    # a second offer and sku, so the lists have something to tell apart
    for offer, sku in ((made.offer, "other-sku"), ("OtherOffer", made.sku)):
        response = publish(proc.http, proc.sub, artifact, version="1.0.0", publisher=made.publisher, offer=offer, sku=sku)
        assert response.status_code == 201, response.text
    return made


def test_list_publishers_includes_every_published_publisher(proc: Env, catalogue: Catalogue) -> None:
    publishers = proc.compute.virtual_machine_images.list_publishers(LOCATION)
    assert isinstance(publishers, list)
    assert all(isinstance(p, m.VirtualMachineImageResource) for p in publishers)
    names = [p.name for p in publishers]
    assert catalogue.publisher in names
    assert "Canonical" in names
    assert all(p.location == LOCATION for p in publishers)


def test_list_offers_gives_the_offers_of_one_publisher(proc: Env, catalogue: Catalogue) -> None:
    offers = proc.compute.virtual_machine_images.list_offers(LOCATION, catalogue.publisher)
    assert sorted(o.name for o in offers) == sorted([catalogue.offer, "OtherOffer"])
    assert all(o.id for o in offers)


def test_list_skus_gives_the_skus_of_one_offer(proc: Env, catalogue: Catalogue) -> None:
    skus = proc.compute.virtual_machine_images.list_skus(LOCATION, catalogue.publisher, catalogue.offer)
    assert sorted(s.name for s in skus) == sorted([catalogue.sku, "other-sku"])


def test_list_versions_orders_them_numerically(proc: Env, catalogue: Catalogue) -> None:
    versions = proc.compute.virtual_machine_images.list(LOCATION, catalogue.publisher, catalogue.offer, catalogue.sku)
    assert [v.name for v in versions] == NUMERIC
    assert all(isinstance(v, m.VirtualMachineImageResource) for v in versions)
    assert all(v.location == LOCATION for v in versions)


def test_list_versions_with_top_1_and_orderby_name_desc_gives_the_highest_version(proc: Env, catalogue: Catalogue) -> None:
    versions = proc.compute.virtual_machine_images.list(LOCATION, catalogue.publisher, catalogue.offer, catalogue.sku,
                                                        top=1, orderby="name desc")
    assert [v.name for v in versions] == ["1.0.10"]


def test_list_versions_with_orderby_name_desc_gives_them_highest_first(proc: Env, catalogue: Catalogue) -> None:
    versions = proc.compute.virtual_machine_images.list(LOCATION, catalogue.publisher, catalogue.offer, catalogue.sku,
                                                        orderby="name desc")
    assert [v.name for v in versions] == list(reversed(NUMERIC))


def test_list_versions_with_top_keeps_the_lowest_in_default_order(proc: Env, catalogue: Catalogue) -> None:
    versions = proc.compute.virtual_machine_images.list(LOCATION, catalogue.publisher, catalogue.offer, catalogue.sku, top=2)
    assert [v.name for v in versions] == NUMERIC[:2]


def test_list_publishers_offers_and_skus_match_names_case_insensitively(proc: Env, catalogue: Catalogue) -> None:
    images = proc.compute.virtual_machine_images
    assert [o.name for o in images.list_offers(LOCATION, catalogue.publisher.upper())] == \
        [o.name for o in images.list_offers(LOCATION, catalogue.publisher)]
    assert [v.name for v in images.list(LOCATION, catalogue.publisher.lower(), catalogue.offer.upper(), catalogue.sku.upper())] == NUMERIC


def test_get_gives_one_version_with_its_os_disk_image_and_automatic_upgrade_support(proc: Env, catalogue: Catalogue) -> None:
    image = proc.compute.virtual_machine_images.get(LOCATION, catalogue.publisher, catalogue.offer, catalogue.sku, "1.0.9")
    assert isinstance(image, m.VirtualMachineImage)
    assert image.name == "1.0.9"
    assert image.location == LOCATION
    assert image.os_disk_image.operating_system == "Linux"
    assert isinstance(image.automatic_os_upgrade_properties.automatic_os_upgrade_supported, bool)
    assert image.id.lower().endswith("/versions/1.0.9")


def test_get_of_an_unpublished_version_raises_resource_not_found(proc: Env, catalogue: Catalogue) -> None:
    with pytest.raises(ResourceNotFoundError):
        proc.compute.virtual_machine_images.get(LOCATION, catalogue.publisher, catalogue.offer, catalogue.sku, "9.9.9")

