"""What the runner asks of the layer above it: intents and operation records (`Actions`), and the
instances' health (`HealthView`). The service layer provides both; tests may provide their own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import sqlalchemy as sa


class Actions(Protocol):
    """What the runner asks of the layer above: intents and operation records."""

    def reimage(self, conn: sa.Connection, scale_set_key: str, targets: dict[int, str], op_id: str | None) -> None:
        """Write reimage intents: instance id -> image urn."""

    def surge(self, conn: sa.Connection, scale_set_key: str, count: int, image_urn: str, op_id: str | None) -> list[int]:
        """maxSurge: create `count` new instances on `image_urn`; returns their ids."""

    def delete(self, conn: sa.Connection, scale_set_key: str, ids: list[int], op_id: str | None) -> None:
        """Write delete intents."""

    def finish(self, conn: sa.Connection, op_id: str | None, status: str, error: dict[str, Any] | None) -> None:
        """End the run's long-running operation."""

    def wake(self, scale_set_key: str, ids: list[int] | None = None, action: str | None = None) -> None:
        """New intents were written for the scale set (for the instances of `ids`, when given; all
        of them this `action`, and nothing else of them, when it is given)."""


class HealthView(Protocol):
    def healthy(self, scale_set_key: str, action_seqs: Mapping[int, int] | None = None) -> dict[int, bool | None]:
        """Each instance's health: True, False, or None while its verdict is not in yet (or, given
        the instances' action_seq, is of the machine before its last action)."""

    def nudge(self, scale_set_key: str, ids: Iterable[int] | None = None) -> None:
        """A run of the scale set began (or is carried on here; `ids` empty: no instance changed):
        its instances' verdicts are wanted now."""
