"""Image references: URNs, case-insensitive identity, and versions ordered numerically."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scaleset.model.image_reference import ImageReference, is_version, version_order

UBUNTU = ImageReference("Canonical", "UbuntuServer", "18.04-LTS", "latest")


# -- versions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["1.0.0", "16.04.201811140", "0.0.0", "999999999.999999999.999999999"])
def test_major_minor_build_is_a_version(text: str) -> None:
    assert is_version(text)


@pytest.mark.parametrize("text", ["1.2", "1.2.3.4", "latest", "1.a.3", "", "1..3", "v1.2.3", "1.2.3 ", "1234567890.0.0"])
def test_anything_else_is_not_a_version(text: str) -> None:
    assert not is_version(text)


def test_versions_order_numerically_not_as_text() -> None:
    assert version_order("16.4.201811140") > version_order("16.4.9")
    assert version_order("10.0.0") > version_order("9.9.9")
    assert version_order("1.10.0") > version_order("1.9.0")
    assert sorted(["1.0.10", "1.0.9", "1.0.100", "0.9.999"], key=version_order) == ["0.9.999", "1.0.9", "1.0.10", "1.0.100"]


def test_leading_zeros_do_not_change_the_order() -> None:
    assert version_order("16.04.201811140") == version_order("16.4.201811140")


def test_order_keys_fit_the_catalogue_column() -> None:
    # images.version_order is String(64): three nine-digit parts and two dots.
    assert len(version_order("999999999.999999999.999999999")) <= 64


_PART = st.integers(min_value=0, max_value=999_999_999)
_TRIPLE = st.tuples(_PART, _PART, _PART)


def _spell(parts: tuple[int, int, int], pads: tuple[int, int, int]) -> str:
    """A version string for `parts`, some parts with leading zeros (still at most 9 digits)."""
    return ".".join(str(p).zfill(min(9, len(str(p)) + pad)) for p, pad in zip(parts, pads, strict=True))


_PADS = st.tuples(*(st.integers(min_value=0, max_value=3),) * 3)


@given(a=_TRIPLE, b=_TRIPLE, pad_a=_PADS, pad_b=_PADS)
def test_ordering_of_keys_equals_ordering_of_integer_tuples(a, b, pad_a, pad_b) -> None:  # type: ignore[no-untyped-def]
    key_a, key_b = version_order(_spell(a, pad_a)), version_order(_spell(b, pad_b))
    assert (key_a < key_b) == (a < b)
    assert (key_a == key_b) == (a == b)


@given(st.lists(_TRIPLE, min_size=1, max_size=20))
def test_sorting_by_key_sorts_like_tuples(triples) -> None:  # type: ignore[no-untyped-def]
    versions = [".".join(map(str, t)) for t in triples]
    assert [tuple(map(int, v.split("."))) for v in sorted(versions, key=version_order)] == sorted(triples)


# -- references -------------------------------------------------------------------------------

def test_from_urn_splits_the_four_parts() -> None:
    ref = ImageReference.from_urn("Canonical:UbuntuServer:18.04-LTS:18.04.201811140")
    assert ref == ImageReference("Canonical", "UbuntuServer", "18.04-LTS", "18.04.201811140")
    assert ref.urn == "Canonical:UbuntuServer:18.04-LTS:18.04.201811140"
    assert not ref.is_latest


@pytest.mark.parametrize("urn", ["", "a:b:c", "a:b:c:d:e", "a::c:d", ":b:c:d", "a:b:c:", "Canonical/UbuntuServer/18.04-LTS/latest"])
def test_from_urn_refuses_anything_but_four_non_empty_parts(urn: str) -> None:
    with pytest.raises(ValueError, match="not an image URN"):
        ImageReference.from_urn(urn)


@pytest.mark.parametrize("version", ["latest", "Latest", "LATEST"])
def test_latest_is_recognised_in_any_case(version: str) -> None:
    assert UBUNTU.at(version).is_latest


def test_same_image_ignores_case_and_version() -> None:
    other = ImageReference("CANONICAL", "ubuntuserver", "18.04-lts", "1.0.0")
    assert UBUNTU.same_image(other)
    assert other.same_image(UBUNTU)


@pytest.mark.parametrize(
    "other",
    [
        ImageReference("Canonical", "UbuntuServer", "16.04-LTS", "latest"),
        ImageReference("Canonical", "Debian", "18.04-LTS", "latest"),
        ImageReference("OpenLogic", "UbuntuServer", "18.04-LTS", "latest"),
    ],
    ids=["other-sku", "other-offer", "other-publisher"],
)
def test_same_image_needs_publisher_offer_and_sku_to_match(other: ImageReference) -> None:
    assert not UBUNTU.same_image(other)


def test_at_changes_only_the_version() -> None:
    assert UBUNTU.at("1.2.3") == ImageReference("Canonical", "UbuntuServer", "18.04-LTS", "1.2.3")
    assert UBUNTU.version == "latest"  # frozen: `at` makes a new reference
