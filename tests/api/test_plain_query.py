"""The direct path's query split (api.app._PlainQueryRequest) gives what Starlette's parsing gives,
for any query: the plain ones it splits itself, the others it hands to Starlette."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from scaleset.api.app import _PlainQueryRequest

# Pieces queries are made of, escapes and separators included.
PIECES = st.sampled_from(["api-version", "2024-03-01", "%24skiptoken", "$filter", "=", "&", "%24", "%2F", "%", "+", " ",
                          "a", "é", "%C3%A9", ";", "10", ""])


def scope(query: bytes) -> dict[str, object]:
    return {"type": "http", "method": "GET", "path": "/subscriptions/x", "query_string": query, "headers": []}


@given(st.lists(PIECES, max_size=12).map("".join))
def test_a_query_reads_as_starlette_reads_it(query: str) -> None:
    raw = query.encode("utf-8")
    assert list(_PlainQueryRequest(scope(raw)).query_params.multi_items()) == list(Request(scope(raw)).query_params.multi_items())


def test_the_query_clients_send_reads_as_they_mean_it() -> None:
    request = _PlainQueryRequest(scope(b"api-version=2024-03-01&%24skiptoken=10&flag"))
    assert list(request.query_params.multi_items()) == [("api-version", "2024-03-01"), ("$skiptoken", "10"), ("flag", "")]
