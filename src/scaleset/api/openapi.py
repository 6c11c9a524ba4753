"""The OpenAPI (Swagger 2.0, as Azure's own files) description of the whole API, served at
GET /openapi.json without a token.

Built once from one place: the Compute operations this server serves, cut from Azure's spec files
at build time into `spec/compute.json` (see openapi_bundle.py), plus the Resources and Network paths
and our own (openapi_paths.py, openapi_definitions.py), with a few corrections where this server
differs from the Azure files (below). tests/hostile checks that every route in router.py is
described and every described path is routed, and fuzzes the server against this document.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from importlib.metadata import PackageNotFoundError, version
from scaleset.api import api_versions
from scaleset.api.openapi_bundle import BUNDLE, VERSION
from scaleset.api.openapi_definitions import DEFINITIONS
from scaleset.api.openapi_paths import arm_paths, own_paths

_ARM_METHODS = ("get", "put", "patch", "post", "delete", "head")


@cache
def document() -> dict[str, Any]:
    """The document; callers must not change it (it is built once per process)."""
    bundle = json.loads(BUNDLE.read_text())
    paths = copy.deepcopy(bundle["paths"])
    _add_our_query_parameters(paths)
    for extra in (arm_paths(), own_paths()):
        for path, item in extra.items():
            twice = set(paths.get(path, {})) & set(item)
            assert not twice, f"{path}: {twice} described twice"
            paths.setdefault(path, {}).update(item)
    definitions = {**bundle["definitions"], **DEFINITIONS}
    parameters = copy.deepcopy(bundle["parameters"])
    # The server takes any api-version from OLDEST to NEWEST; the document promises the two whose
    # shapes it describes (the seed's, and the Compute files'): a newer version may add values,
    # such as the RollingBack state, that these schemas do not list.
    parameters["ApiVersionParameter"].update(
        enum=sorted({api_versions.OLDEST, VERSION}),
        description=f"{VERSION} (whose Compute shapes this document describes) or {api_versions.OLDEST} (a subset "
                    f"of them). The server accepts any api-version from {api_versions.OLDEST} to {api_versions.NEWEST}.")
    parameters["SubscriptionIdParameter"]["description"] = "A subscription id (a GUID)."
    return {
        "swagger": "2.0",
        "info": {"title": "scaleset", "version": _package_version(),
                 "description": "A self-hosted control plane for VM scale sets, speaking the Azure Resource Manager "
                                "API (Microsoft.Compute virtualMachineScaleSets, Microsoft.Resources, "
                                "Microsoft.Network) plus a few paths of its own. Every ARM path answers errors as "
                                "CloudError. Request bodies are limited to 4 MiB (413), URLs to 8 KiB (414), "
                                "JSON nesting to 64 levels (400)."},
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"bearer": {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "'Bearer <token>': an administrator's static token, or an access token from "
                           "/{tenant}/oauth2/v2.0/token or /msi/token."}},
        "security": [{"bearer": []}],
        "paths": paths,
        "definitions": dict(sorted(definitions.items())),
        "parameters": parameters,
    }


def _add_our_query_parameters(paths: dict[str, Any]) -> None:
    """What this server takes beyond the Azure files: a dry run and a forced reimage of a rolling
    upgrade; and every served Compute operation can answer a CloudError (2024-03-01 says so too)."""
    for item in paths.values():
        for method, operation in item.items():
            if method not in _ARM_METHODS:
                continue
            if operation["operationId"] == "VirtualMachineScaleSetRollingUpgrades_StartOSUpgrade":
                operation["parameters"] += [
                    {"name": name, "in": "query", "required": False, "type": "boolean", "description": description}
                    for name, description in (("dryRun", "Answer 200 with the plan the run would follow, starting nothing."),
                                              ("forceReimage", "Reimage instances already on the newest version too."))]
                operation["responses"]["200"] = {"description": "The plan (dryRun=true).", "schema": {"type": "object"}}
            operation["responses"].setdefault("default", {"description": "An ARM error.",
                                                          "schema": {"$ref": "#/definitions/CloudError"}})


def _package_version() -> str:
    try:
        return version("scaleset")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0"


def served_json() -> bytes:
    return _served_json()


@cache
def _served_json() -> bytes:
    return json.dumps(document(), separators=(",", ":")).encode()
