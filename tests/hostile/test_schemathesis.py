"""Schemathesis against a real server, from the server's own /openapi.json: thousands of generated
requests (the coverage phase's boundary and wrong-type cases, then random ones), each answered
without a 5xx, with a body that fits the documented schema, and JSON whenever there is a body.

The CLI (`schemathesis run`) in a process of its own: its engine runs every phase with one seed
and one worker, so a run is reproducible, and its JSON report says how many cases ran. Path
parameters are drawn most of the time from the names of a small world on the server (see
world.py), so requests reach real handlers rather than stopping at "not found"; calls that destroy
what they name aim at a scratch copy of that world.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TOKEN, module_sim_server
from tests.hostile import world as w

SEED = 20261126
MAX_EXAMPLES = 10  # per operation and phase; the coverage phase adds its own deterministic cases
MIN_CASES = 5000
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,bodies_are_json"
DESTRUCTIVE = ("ResourceGroups_Delete", "VirtualMachineScaleSets_Delete", "VirtualMachineScaleSets_DeleteInstances",
               "VirtualMachineScaleSetVMs_Delete", "Network_Delete", "Network_DeleteChild", "Network_CreateOrUpdate",
               "Network_CreateOrUpdateChild", "Deployments_Delete", "Deployments_Delete_Legacy", "ResourceGroups_CreateOrUpdate")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[w.World]:
    with module_sim_server(tmp_path_factory, "schemathesis") as server:
        yield w.build(server, server.data_dir.parent)


def config(world: w.World) -> str:
    """schemathesis.toml: the world's names as dictionaries, each drawn with some probability."""
    dictionaries = {
        "subscriptions": [world.sub], "groups": [w.GROUP], "scale-sets": [w.SCALE_SET], "instances": ["0", "1"],
        "locations": [w.LOCATION], "publishers": [w.IMAGE["publisher"]], "offers": [w.IMAGE["offer"]],
        "skus": [w.IMAGE["sku"]], "versions": [w.IMAGE["version"]],
        "network-types": ["loadBalancers", "virtualNetworks", "publicIPAddresses", "networkSecurityGroups"],
        "network-names": [w.LOAD_BALANCER], "children": ["probes"], "child-names": ["http"],
        "deployments": [w.DEPLOYMENT], "tenants": [world.tenant], "apps": [world.app_id],
    }
    bound = {
        "subscriptionId": ("subscriptions", 0.9), "resourceGroupName": ("groups", 0.8), "vmScaleSetName": ("scale-sets", 0.8),
        "virtualMachineScaleSetName": ("scale-sets", 0.8), "instanceId": ("instances", 0.8), "location": ("locations", 0.8),
        "publisherName": ("publishers", 0.8), "offer": ("offers", 0.8), "skus": ("skus", 0.8), "version": ("versions", 0.5),
        "resourceType": ("network-types", 0.8), "resourceName": ("network-names", 0.8), "childCollection": ("children", 0.8),
        "childName": ("child-names", 0.8), "deploymentName": ("deployments", 0.8), "tenant": ("tenants", 0.8),
        "appId": ("apps", 0.8),
    }
    lines = ["[dictionaries]"]
    lines += [f'"{name}" = {{ values = {json.dumps(values)} }}' for name, values in dictionaries.items()]
    lines += ["", "[parameters]"]
    lines += [f'"path.{name}" = {{ dictionary = "{dictionary}", probability = {p} }}' for name, (dictionary, p) in bound.items()]
    lines += ["", "[[operations]]", f"include-operation-id = {json.dumps(list(DESTRUCTIVE))}",
              f'parameters = {{ "path.resourceGroupName" = "{w.SCRATCH}" }}']
    return "\n".join(lines) + "\n"


def run_schemathesis(world: w.World, folder: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], float]:
    (folder / "schemathesis.toml").write_text(config(world))
    command = [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(folder / "schemathesis.toml"),
               "run", f"{world.server.url}/openapi.json", "--header", f"Authorization: Bearer {TOKEN}",
               "--tls-verify", world.server.ca or "false", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
               "--workers", "1", "--checks", CHECKS, "--no-color", "--report", "json,har",
               "--report-json-path", str(folder / "report.json"), "--report-har-path", str(folder / "report.har"), "--generation-database", "none"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.hostile.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    started = time.monotonic()
    finished = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder, timeout=600)
    return finished, json.loads((folder / "report.json").read_text()), time.monotonic() - started


def test_thousands_of_generated_requests_get_no_5xx_and_only_documented_answers(world: w.World, tmp_path: Path) -> None:
    finished, report, seconds = run_schemathesis(world, tmp_path)

    output = finished.stdout + finished.stderr
    assert report["complete"] and report["operations"]["errored"] == 0, output[-5000:]
    assert report["test_cases"]["with_failures"] == 0 and not report["failures"], output[-20000:]
    assert not report["errors"], output[-5000:]
    assert finished.returncode == 0, output[-5000:]
    assert report["operations"]["tested"] == report["operations"]["total"]
    assert report["test_cases"]["generated"] >= MIN_CASES, report["test_cases"]
    assert seconds < 150, f"the run took {seconds:.0f} s"
    assert "Traceback" not in (world.server.data_dir / "server.log").read_text()


    # The dictionaries work: hundreds of requests got past validation and "not found" to a success.
    statuses = Counter(entry["response"]["status"] for entry in json.loads((tmp_path / "report.har").read_text())["log"]["entries"])
    assert sum(n for status, n in statuses.items() if 200 <= status < 300) >= 300, statuses
