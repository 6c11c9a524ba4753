"""Extension ordering and message hygiene, as pure functions."""

from __future__ import annotations

from typing import Any

from scaleset.drivers.guest_extensions import provision_order, redact_url


def ext(name: str, *after: str) -> dict[str, Any]:
    return {"name": name, "provision_after": list(after)}


def names(extensions: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in extensions]


def test_model_order_is_kept_when_nothing_constrains_it() -> None:
    assert names(provision_order([ext("a"), ext("b"), ext("c")])[0]) == ["a", "b", "c"]


def test_an_extension_moves_after_those_it_names() -> None:
    ordered, cyclic = provision_order([ext("c", "b"), ext("a"), ext("b", "a")])
    assert (names(ordered), cyclic) == (["a", "b", "c"], [])


def test_names_of_no_extension_constrain_nothing() -> None:
    assert names(provision_order([ext("a", "missing"), ext("b")])[0]) == ["a", "b"]


def test_a_cycle_is_returned_apart() -> None:
    ordered, cyclic = provision_order([ext("free"), ext("x", "y"), ext("y", "x"), ext("after-x", "x")])
    assert (names(ordered), names(cyclic)) == (["free"], ["x", "y", "after-x"])


def test_urls_in_messages_lose_their_query_and_credentials() -> None:
    assert redact_url("https://user:pw@store.example/c/s.sh?sv=1&sig=SECRET#frag") == "https://store.example/c/s.sh"
