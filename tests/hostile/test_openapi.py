"""GET /openapi.json: a valid OpenAPI document describing exactly what the server routes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from scaleset.api import openapi_bundle
from scaleset.api.endpoints import register_all
from scaleset.api.openapi import document
from scaleset.api.router import Router
from tests.conftest import Server, module_sim_server

SPEC_ROOT = Path(__file__).resolve().parents[3] / "shared" / "azure-compute-spec"
# Served by Starlette routes of their own rather than the ARM router.
OUTSIDE_THE_ROUTER = {("get", "/healthz"), ("get", "/openapi.json"), ("get", "/metadata/endpoints"), ("get", "/msi/token"),
                      ("get", "/{}/v2.0/.well-known/openid-configuration"), ("get", "/{}/discovery/v2.0/keys"),
                      ("post", "/{}/oauth2/v2.0/token")}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with module_sim_server(tmp_path_factory, "openapi") as running:
        yield running


def _shape(template: str) -> str:
    """A path template as the router matches it: any case, parameter names aside."""
    return re.sub(r"\{[^}]+\}", "{}", template).lower()


def _described() -> set[tuple[str, str]]:
    return {(method, _shape(path)) for path, item in document()["paths"].items() for method in item}


def _routed() -> set[tuple[str, str]]:
    router = Router()
    register_all(router)
    return {(route.method.lower(), _shape(route.template)) for route in router.routes}


def test_the_server_serves_a_valid_openapi_document_without_a_token(server: Server) -> None:
    with httpx.Client(verify=server.ca) as client:
        response = client.get(f"{server.url}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    served = response.json()
    assert served == json.loads(json.dumps(document()))
    validate(served)


def test_every_route_is_described() -> None:
    assert _routed() - _described() == set()


def test_every_described_operation_is_routed() -> None:
    assert _described() - _routed() - OUTSIDE_THE_ROUTER == set()


def test_arm_operations_take_the_api_version_and_answer_cloud_errors() -> None:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if (method, _shape(path)) in OUTSIDE_THE_ROUTER:
                continue
            names = {p.get("name") or p["$ref"].rsplit("/", 1)[-1] for p in operation["parameters"]}
            assert names & {"api-version", "ApiVersionParameter"}, (method, path)
            assert operation["responses"]["default"]["schema"] == {"$ref": "#/definitions/CloudError"}, (method, path)


def test_secrets_are_described_as_input_only_where_azure_says_so() -> None:
    # adminPassword is x-ms-secret in the Azure files: clients know it never comes back.
    assert document()["definitions"]["OSProfile"]["properties"]["adminPassword"].get("x-ms-secret") is True


@pytest.mark.skipif(not SPEC_ROOT.is_dir(), reason=f"the Azure spec files are not at {SPEC_ROOT}")
def test_the_shipped_bundle_is_what_the_azure_spec_files_give() -> None:
    shipped = json.loads(openapi_bundle.BUNDLE.read_text())
    assert shipped == openapi_bundle.bundle(SPEC_ROOT), "run: python -m scaleset.api.openapi_bundle <azure-compute-spec>"
