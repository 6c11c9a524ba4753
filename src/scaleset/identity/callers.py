"""The caller of an API request, as its bearer token says."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    name: str  # the app id of a principal; "administrator" for a static token
    object_id: str
    admin: bool
    subscriptions: frozenset[str] = frozenset()

    def sees(self, subscription: str) -> bool:
        return self.admin or subscription.lower() in self.subscriptions


ADMINISTRATOR = Caller(name="administrator", object_id="administrator", admin=True)
