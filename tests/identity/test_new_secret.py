"""Principals' secrets: long, random, and never mistaken by az for an option."""

from __future__ import annotations

from scaleset.identity import principals
from scaleset.identity.principals import new_secret


def test_a_secret_never_starts_with_a_dash(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    drawn = iter(["-first", "-second", "third"])
    monkeypatch.setattr(principals.secrets, "token_urlsafe", lambda _n: next(drawn))
    assert new_secret() == "third"
    monkeypatch.undo()
    assert len({new_secret() for _ in range(100)}) == 100
