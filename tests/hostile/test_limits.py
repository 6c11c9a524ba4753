"""Input limits: oversized bodies (with and without a Content-Length), deep JSON, huge capacities,
thousands of extensions, long names, huge query strings and headers. Each gets a clear ARM error
fast, never a crash or a hang, and nothing is stored (the store read straight from its file, as
tests/api/test_bad_input.py does)."""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from scaleset.api.limits import MAX_BODY, MAX_DEPTH
from tests.api.test_bad_input import store_rows
from tests.conftest import API, TOKEN, module_sim_server
from tests.hostile import world as w

PARAMS = {"api-version": API}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[w.World]:
    with module_sim_server(tmp_path_factory, "limits") as server:
        yield w.build(server, server.data_dir.parent)


@dataclass
class Refusal:
    status: int
    code: str
    target: str | None = None


def _assert_refused(response: httpx.Response, expected: Refusal) -> None:
    assert response.status_code == expected.status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == expected.code and error["message"], error
    if expected.target is not None:
        assert error.get("target") == expected.target, error


@pytest.fixture
def unchanged(world: w.World) -> Iterator[None]:
    """The store reads the same before and after the test."""
    with world.server.client() as client:
        w.wait_until_settled(client, world)
    before = store_rows(world.server.data_dir)
    yield
    assert store_rows(world.server.data_dir) == before, "the store changed"


def _send(world: w.World, method: str, path: str, **request: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    with world.server.client() as client:
        response = client.request(method, path, params=request.pop("params", PARAMS), **request)
    return response, time.monotonic() - started


def _extensions(count: int) -> list[dict[str, Any]]:
    return [{"name": f"ext{i}", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                               "typeHandlerVersion": "2.1", "settings": {"commandToExecute": "true"}}}
            for i in range(count)]


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth - 1):
        value = {"n": value}
    return value


EXTENSIONS = "properties.virtualMachineProfile.extensionProfile.extensions"


def _bodies(sub: str) -> list[Any]:
    body = w.scale_set_body(sub)
    profile = body["properties"]["virtualMachineProfile"]
    return [
        pytest.param("PUT", {**body, "sku": {**body["sku"], "capacity": 10**12}}, Refusal(400, "InvalidParameter", "sku.capacity"),
                     id="put-capacity-10^12"),
        pytest.param("PATCH", {"sku": {"capacity": 10**12}}, Refusal(400, "InvalidParameter", "sku.capacity"), id="patch-capacity-10^12"),
        pytest.param("PATCH", {"sku": {"capacity": 1001}}, Refusal(400, "InvalidParameter", "sku.capacity"), id="patch-capacity-1001"),
        pytest.param("PUT", {**body, "properties": {**body["properties"], "virtualMachineProfile": {
            **profile, "extensionProfile": {"extensions": _extensions(5000)}}}},
            Refusal(400, "InvalidParameter", EXTENSIONS), id="put-5000-extensions"),
        pytest.param("PATCH", {"properties": {"virtualMachineProfile": {"extensionProfile": {"extensions": _extensions(101)}}}},
                     Refusal(400, "InvalidParameter", EXTENSIONS), id="patch-101-extensions"),
        pytest.param("PATCH", {"tags": {f"t{i}": "v" for i in range(51)}}, Refusal(400, "InvalidParameter", "tags"), id="51-tags"),
        pytest.param("PATCH", {"tags": {"t": "v" * 257}}, Refusal(400, "InvalidParameter", "tags"), id="tag-value-257"),
        pytest.param("PATCH", {"tags": {"t" * 513: "v"}}, Refusal(400, "InvalidParameter", "tags"), id="tag-name-513"),
        pytest.param("PATCH", {"tags": _nested(MAX_DEPTH + 1)}, Refusal(400, "InvalidRequestContent"), id="depth-65"),
    ]


@pytest.mark.parametrize(("method", "body", "expected"), _bodies("{sub}"))
def test_a_body_past_a_limit_is_refused_and_nothing_is_stored(world: w.World, unchanged: None, method: str, body: Any,
                                                             expected: Refusal) -> None:
    text = json.dumps(body).replace("{sub}", world.sub)
    response, seconds = _send(world, method, world.scale_set, content=text, headers={"Content-Type": "application/json"})
    _assert_refused(response, expected)
    assert seconds < 5


def test_json_exactly_at_the_depth_limit_is_read(world: w.World, unchanged: None) -> None:
    # 64 levels is fine to read; the tag is refused as a tag (not a string), not for its depth.
    response, _ = _send(world, "PATCH", world.scale_set, json={"tags": {"t": _nested(MAX_DEPTH - 2)}})
    _assert_refused(response, Refusal(400, "InvalidParameter", "tags.t"))


@pytest.mark.parametrize("path", ["{group}/providers/Microsoft.Compute/virtualMachineScaleSets/web",
                                  "{group}/providers/Microsoft.Resources/deployments/deep"])
def test_json_nested_a_hundred_thousand_deep_is_a_400_not_a_recursion_error(world: w.World, unchanged: None, path: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    response, seconds = _send(world, "PUT", path.replace("{group}", world.group), content=deep)
    _assert_refused(response, Refusal(400, "InvalidRequestContent"))
    assert "64 levels" in response.json()["error"]["message"] and seconds < 5


@pytest.mark.parametrize(("path", "expected"), [
    pytest.param("/subscriptions/{sub}/resourceGroups/" + "g" * 91, Refusal(400, "InvalidResourceGroup", "group"), id="group-91"),
    pytest.param("/subscriptions/{sub}/resourceGroups/rg.", Refusal(400, "InvalidResourceGroup", "group"), id="group-ends-in-dot"),
    pytest.param("{group}/providers/Microsoft.Compute/virtualMachineScaleSets/" + "s" * 65, Refusal(400, "InvalidResourceName", "name"),
                 id="scale-set-65"),
    pytest.param("{group}/providers/Microsoft.Compute/virtualMachineScaleSets/" + "s" * 5000,
                 Refusal(400, "InvalidResourceName", "name"), id="scale-set-5000"),
    pytest.param("{group}/providers/Microsoft.Compute/virtualMachineScaleSets/a%0Ab", Refusal(400, "InvalidResourceName", "name"),
                 id="scale-set-newline"),
    pytest.param("{group}/providers/Microsoft.Network/loadBalancers/" + "l" * 81, Refusal(400, "InvalidResourceName", "name"),
                 id="load-balancer-81"),
    pytest.param("{group}/providers/Microsoft.Resources/deployments/" + "d" * 65, Refusal(400, "InvalidDeploymentName", "deployment"),
                 id="deployment-65"),
])
def test_a_name_azure_would_refuse_is_refused_and_nothing_is_stored(world: w.World, unchanged: None, path: str,
                                                                    expected: Refusal) -> None:
    target = path.replace("{group}", world.group).replace("{sub}", world.sub)
    body = w.scale_set_body(world.sub) if "virtualMachineScaleSets" in path else {"location": w.LOCATION}
    response, _ = _send(world, "PUT", target, json=body)
    _assert_refused(response, expected)


def test_a_body_over_4_mib_with_a_content_length_is_413(world: w.World, unchanged: None) -> None:
    body = json.dumps({**w.scale_set_body(world.sub), "tags": {"pad": "x" * MAX_BODY}})
    response, seconds = _send(world, "PUT", world.scale_set, content=body, headers={"Content-Type": "application/json"})
    _assert_refused(response, Refusal(413, "RequestEntityTooLarge"))
    assert seconds < 5


def _stream(megabytes: int) -> Iterator[bytes]:
    yield b'{"location": "westus", "tags": {"pad": "'
    for _ in range(megabytes):
        yield b"x" * (1 << 20)
    yield b'"}}'


@pytest.mark.parametrize("path", ["{group}", "/{tenant}/oauth2/v2.0/token"], ids=["arm", "login"])
def test_a_body_streamed_without_a_content_length_is_cut_off_at_the_limit(world: w.World, unchanged: None, path: str) -> None:
    """256 MiB offered in chunks: the server stops reading at 4 MiB and answers 413 at once."""
    target = path.replace("{group}", f"/subscriptions/{world.sub}/resourceGroups/streamed").replace("{tenant}", world.tenant)
    method = "POST" if "token" in path else "PUT"
    try:
        response, seconds = _send(world, method, target, content=_stream(256), headers={"Content-Type": "application/json"})
    except (httpx.WriteError, httpx.RemoteProtocolError):  # the server may close while the client still sends
        return
    _assert_refused(response, Refusal(413, "RequestEntityTooLarge"))
    assert seconds < 10


def _raw(world: w.World, request: bytes) -> tuple[int, bytes]:
    """Send bytes httpx would refuse to build (a 1 MB query); the status and body of the answer."""
    host, port = world.server.url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=world.server.ca)
    with socket.create_connection((host, int(port)), timeout=30) as plain, \
            context.wrap_socket(plain, server_hostname=host) as tls:
        tls.sendall(request)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("length", [20_000, 1_000_000])
def test_a_huge_query_string_is_refused(world: w.World, unchanged: None, length: int) -> None:
    request = (f"PUT {world.group}?api-version={API}&pad={'a' * length} HTTP/1.1\r\nHost: localhost\r\n"
               f"Authorization: Bearer {TOKEN}\r\nContent-Length: 22\r\nConnection: close\r\n\r\n"
               '{"location": "westus"}').encode()
    status, body = _raw(world, request)
    if length < 64 * 1024:
        assert status == 414 and json.loads(body)["error"]["code"] == "RequestUriTooLong"
    else:  # uvicorn's parser stops a request line past 64 KiB itself, before the app sees it
        assert status == 400
    with world.server.client() as client:
        assert client.get("/subscriptions", params=PARAMS).status_code == 200


@pytest.mark.parametrize("headers", [{"X-Pad": "a" * 100_000}, {f"X-Pad-{i}": "a" * 100 for i in range(2000)}],
                         ids=["one-100k-header", "2000-headers"])
def test_huge_headers_are_400(world: w.World, unchanged: None, headers: dict[str, str]) -> None:
    response, seconds = _send(world, "PUT", f"/subscriptions/{world.sub}/resourceGroups/headers", json={"location": "westus"},
                              headers=headers)
    _assert_refused(response, Refusal(400, "RequestHeaderTooLarge"))
    assert seconds < 5


def test_a_large_jsonc_deployment_is_read_in_well_under_a_second(world: w.World) -> None:
    """JSONC (unquoted keys, comments) of 3 MB: json5 alone took minutes and held the event loop."""
    resources = ",\n".join(['{type: "Microsoft.Network/publicIPAddresses", // a comment\n'
                            ' apiVersion: "2020-11-01", name: "[concat(\'ip\', \'x\')]", location: "westus", '
                            'condition: false,}'] * 20_000)
    body = ('{properties: {mode: "Incremental", template: {"$schema": "https://schema.management.azure.com/schemas/'
            '2019-04-01/deploymentTemplate.json#", contentVersion: "1.0.0.0", /* many */ resources: [' + resources + "]}}}")
    assert len(body) > 3_000_000
    response, seconds = _send(world, "POST", f"{world.group}/providers/Microsoft.Resources/deployments/big/validate",
                              content=body)
    assert response.status_code in (200, 400), response.text[:500]
    assert seconds < 10


def test_the_server_logged_no_traceback(world: w.World) -> None:
    assert "Traceback" not in (world.server.data_dir / "server.log").read_text()
