"""Extension ordering, message hygiene, and how a command's end is read."""

from __future__ import annotations

import subprocess
from typing import Any

from scaleset.drivers.guest_extensions import provision_order, redact_url, wait_for_exit


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


def test_a_command_seen_ending_once_the_machine_stops_was_interrupted_not_failed() -> None:
    # The stop terminates the session, so the command dies of the signal; which the supervisor
    # sees first, the stop or the exit, must not decide what the extension reports (a CI flake:
    # "command exited with code -15" instead of "interrupted").
    proc = subprocess.Popen(["/bin/sh", "-c", "exit 143"])
    proc.wait()
    assert wait_for_exit(proc, timeout=5, should_stop=lambda: True) is None
    proc = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
    assert wait_for_exit(proc, timeout=5, should_stop=lambda: False) == 3
