"""ARM paths match case-insensitively, with or without a trailing slash; a path that exists for
another method is a 405, a path that does not exist a 404."""

from __future__ import annotations

import pytest

from scaleset.api.endpoints import register_all
from scaleset.api.router import Router

SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
VMSS = f"{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web"


@pytest.fixture(scope="module")
def router() -> Router:
    router = Router()
    register_all(router)
    return router


def handler_name(router: Router, method: str, path: str) -> str | None:
    route, _, _ = router.match(method, path)
    return route.handler.__name__ if route else None


@pytest.mark.parametrize(
    ("method", "path", "handler"),
    [
        pytest.param("GET", f"{VMSS}/virtualmachines/3", "get_vm", id="virtualmachines-2018"),
        pytest.param("GET", f"{VMSS}/virtualMachines/3", "get_vm", id="virtualMachines-2024"),
        pytest.param("GET", f"{VMSS}/VIRTUALMACHINES/3", "get_vm", id="VIRTUALMACHINES"),
        pytest.param("POST", f"{VMSS}/virtualmachines/3/poweroff", "vm_poweroff", id="poweroff"),
        pytest.param("POST", f"{VMSS}/virtualMachines/3/powerOff", "vm_poweroff", id="powerOff-sdk39"),
        pytest.param("POST", f"{VMSS}/virtualmachines/3/reimageAll", "vm_reimageall", id="vm-reimageAll"),
        pytest.param("POST", f"{VMSS}/powerOff", "scale_set_poweroff", id="scale-set-powerOff"),
        pytest.param("POST", f"{VMSS}/manualUpgrade", "scale_set_manualupgrade", id="manualUpgrade"),
        pytest.param("POST", f"{VMSS}/reimageall", "scale_set_reimageall", id="scale-set-reimageall"),
        pytest.param("GET", f"{VMSS}/instanceview", "get_instance_view", id="instanceview"),
        pytest.param("GET", f"{VMSS}/virtualMachines", "list_vms", id="vm-list"),
        pytest.param("GET", f"{SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachinescalesets/web", "get_scale_set",
                     id="all-lower-case"),
        pytest.param("GET", f"{SUB.upper()}/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINESCALESETS/WEB",
                     "get_scale_set", id="all-upper-case"),
        pytest.param("PUT", VMSS, "put_scale_set", id="put"),
        pytest.param("PATCH", VMSS, "patch_scale_set", id="patch"),
        pytest.param("DELETE", VMSS, "delete_scale_set", id="delete"),
        pytest.param("HEAD", f"{SUB}/resourcegroups/rg", "head_group", id="head-group"),
        pytest.param("GET", f"{SUB}/providers/Microsoft.Compute/locations/westus/publishers/Canonical/ArtifactTypes/VMImage"
                     "/offers/UbuntuServer/skus/18.04-LTS/versions", "list_versions", id="ArtifactTypes-VMImage"),
        pytest.param("GET", f"{SUB}/providers/Microsoft.Compute/locations/westus/operationresults/abc", "operation_result",
                     id="operationresults"),
    ],
)
def test_paths_match_case_insensitively(router: Router, method: str, path: str, handler: str) -> None:
    assert handler_name(router, method, path) == handler


@pytest.mark.parametrize("method", ["get", "Get", "GET"])
def test_methods_match_case_insensitively(router: Router, method: str) -> None:
    assert handler_name(router, method, VMSS) == "get_scale_set"


@pytest.mark.parametrize(
    ("path", "handler"),
    [(f"{VMSS}/", "get_scale_set"), (f"{VMSS}/virtualMachines/", "list_vms"), (f"{SUB}/resourcegroups/", "list_groups"),
     (f"{SUB}/", "get_subscription"), ("/subscriptions/", "list_subscriptions")],
)
def test_a_trailing_slash_is_the_same_path(router: Router, path: str, handler: str) -> None:
    assert handler_name(router, "GET", path) == handler


def test_parameters_keep_the_spelling_of_the_path(router: Router) -> None:
    _, params, _ = router.match("GET", f"{SUB}/resourceGroups/MyGroup/providers/Microsoft.Compute/virtualMachineScaleSets/MyVmss/virtualMachines/12")
    assert params == {"subscription": SUB.split("/")[2], "group": "MyGroup", "name": "MyVmss", "instance": "12"}


def test_a_parameter_is_one_segment(router: Router) -> None:
    route, _, known = router.match("GET", f"{SUB}/resourceGroups/a/b")
    assert route is None and not known


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("PATCH", f"{SUB}/resourcegroups/rg", id="patch-group"),
        pytest.param("DELETE", "/subscriptions", id="delete-subscriptions"),
        pytest.param("GET", f"{VMSS}/reimage", id="get-an-action"),
        pytest.param("POST", VMSS, id="post-a-scale-set"),
        pytest.param("PUT", f"{VMSS}/virtualMachines", id="put-the-vm-list"),
        pytest.param("DELETE", f"{SUB}/providers/Microsoft.Compute/locations/westus/operations/abc", id="delete-an-operation"),
    ],
)
def test_a_known_path_with_another_method_is_405(router: Router, method: str, path: str) -> None:
    route, params, known = router.match(method, path)
    assert route is None and params == {}
    assert known, "405: the path exists for another method"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/", id="root"),
        pytest.param("GET", "/nothing/here", id="unknown"),
        pytest.param("POST", f"{VMSS}/explode", id="unknown-action"),
        pytest.param("GET", f"{VMSS}/virtualMachines/3/nothing", id="unknown-vm-child"),
        pytest.param("GET", f"{VMSS}x/y/z/w", id="too-deep"),
        pytest.param("GET", f"{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSetsX/web", id="near-miss"),
        pytest.param("GET", f"{VMSS}//", id="double-slash"),
    ],
)
def test_an_unknown_path_is_404(router: Router, method: str, path: str) -> None:
    route, _, known = router.match(method, path)
    assert route is None
    assert not known, "404: no method serves this path"


def test_every_route_of_the_api_is_reachable_by_its_own_template(router: Router) -> None:
    """No route hides another: filling a template in gives back that very route."""
    import re

    for route in router.routes:
        path = re.sub(r"\{(\w+)\}", lambda m: f"x{m.group(1)}", route.template)
        found, _, _ = router.match(route.method, path)
        assert found is route, f"{route.method} {route.template} is shadowed by {found.template if found else None}"
