from __future__ import annotations

import httpx
import pytest

from scaleset.cli.lro import DEFAULT_POLL_DELAY, poll_delay


def _response(**headers: str) -> httpx.Response:
    return httpx.Response(202, headers={key.replace("_", "-"): value for key, value in headers.items()})


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        ({"x_ms_retry_after_ms": "250"}, 0.25),
        ({"x_ms_retry_after_ms": "0"}, 0.0),
        ({"Retry_After": "3"}, 3.0),
        ({"x_ms_retry_after_ms": "100", "Retry_After": "3"}, 0.1),  # the finer one wins
        ({"Retry_After": "0"}, DEFAULT_POLL_DELAY),  # 0 means "absent", as in azure-core
        ({"Retry_After": "Wed, 21 Oct 2026 07:28:00 GMT"}, DEFAULT_POLL_DELAY),
        ({"x_ms_retry_after_ms": "soon"}, DEFAULT_POLL_DELAY),
        ({}, DEFAULT_POLL_DELAY),
    ],
)
def test_poll_delay_follows_the_server(headers: dict[str, str], delay: float) -> None:
    assert poll_delay(_response(**headers)) == delay


def test_poll_delay_falls_back_to_the_initial_response() -> None:
    assert poll_delay(_response(), fallback=_response(Retry_After="2")) == 2.0
    assert poll_delay(_response(Retry_After="1"), fallback=_response(Retry_After="2")) == 1.0
