"""What a machine's extension statuses say: worked out once per tuple a driver shares."""

from __future__ import annotations

from scaleset.drivers.base import ExtensionState, ExtensionStatus
from scaleset.service.extension_states import said

SHARED = (ExtensionStatus("HealthExtension", ExtensionState.SUCCEEDED, "ok"),
          ExtensionStatus("CustomScript", ExtensionState.FAILED, "exit 1"),
          ExtensionStatus("Monitoring", ExtensionState.TRANSITIONING))


def test_the_statuses_say_their_stored_states_which_ended_and_which_failed() -> None:
    found = said(SHARED)
    assert found.states == [{"name": "HealthExtension", "state": "succeeded", "message": "ok"},
                            {"name": "CustomScript", "state": "failed", "message": "exit 1"},
                            {"name": "Monitoring", "state": "transitioning", "message": ""}]
    assert found.ended == {"HealthExtension", "CustomScript"}
    assert [e.name for e in found.failed] == ["CustomScript"]


def test_a_tuple_shared_among_machines_is_worked_out_once_and_an_equal_one_alike() -> None:
    # The outcome writer spells each distinct states list once: a batch's machines share one.
    assert said(SHARED) is said(SHARED)
    copy = tuple(ExtensionStatus(e.name, e.state, e.message) for e in SHARED)
    assert said(copy) is not said(SHARED) and said(copy) == said(SHARED)
