"""Deployment order: dependsOn by name, id or loop; implicit dependencies; layers; cycles and unknowns refused."""

from __future__ import annotations

from tests.templates.helpers import names, planned, refused, resource, rid, template

VNET = "Microsoft.Network/virtualNetworks"
LB = "Microsoft.Network/loadBalancers"
PIP = "Microsoft.Network/publicIPAddresses"
VMSS = "Microsoft.Compute/virtualMachineScaleSets"


def layered(plan: object) -> list[list[str]]:
    return [[r.name for r in layer] for layer in plan.layers()]  # type: ignore[attr-defined]


def test_dependencies_reorder_resources_and_keep_template_order_otherwise() -> None:
    plan = planned(template([
        resource("vmss", VMSS, dependsOn=["[resourceId('Microsoft.Network/loadBalancers', 'lb')]", "vnet"]),
        resource("lb", LB, dependsOn=[f"{PIP}/pip"]),
        resource("vnet", VNET),
        resource("pip", PIP),
        resource("other", VNET),
    ]))
    assert names(plan) == ["vnet", "pip", "lb", "vmss", "other"]
    assert layered(plan) == [["vnet", "pip", "other"], ["lb"], ["vmss"]]
    vmss = plan.resources[3]
    assert vmss.depends_on == [rid(LB, "lb"), rid(VNET, "vnet")]


def test_depending_on_a_copy_loop_waits_for_every_instance() -> None:
    plan = planned(template([
        resource("vmss", VMSS, dependsOn=["pips"]),
        resource("[concat('pip', copyIndex())]", PIP, copy={"name": "pips", "count": 2}),
    ]))
    assert names(plan) == ["pip0", "pip1", "vmss"]
    assert plan.resources[2].depends_on == [rid(PIP, "pip0"), rid(PIP, "pip1")]


def test_depending_on_an_empty_copy_loop_is_fine() -> None:
    plan = planned(template([resource("a", dependsOn=["none"]),
                             resource("[concat('x', copyIndex())]", copy={"name": "none", "count": 0})]))
    assert plan.resources[0].depends_on == []


def test_each_copy_instance_resolves_its_own_dependency() -> None:
    plan = planned(template([
        resource("[concat('nic', copyIndex())]", "Microsoft.Network/networkInterfaces", copy={"name": "n", "count": 2},
                 dependsOn=["[concat('Microsoft.Network/publicIPAddresses/pip', copyIndex())]"]),
        resource("[concat('pip', copyIndex())]", PIP, copy={"name": "p", "count": 2}),
    ]))
    nic0, nic1 = (r for r in plan.resources if r.name.startswith("nic"))
    assert nic0.depends_on == [rid(PIP, "pip0")] and nic1.depends_on == [rid(PIP, "pip1")]
    assert layered(plan) == [["pip0", "pip1"], ["nic0", "nic1"]]


def test_an_unresolvable_dependency_is_named_at_its_place() -> None:
    error = refused(template([resource("a"), resource("b", dependsOn=["a", "[resourceId('Microsoft.Network/virtualNetworks', 'zz')]"])]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[1].dependsOn[1]")
    assert f"The resource '{rid(VNET, 'zz')}' is not defined in the template." in error.message


def test_a_dependency_cycle_is_refused_naming_its_resources() -> None:
    error = refused(template([resource("free"), resource("a", dependsOn=["b"]), resource("b", dependsOn=["c"]),
                              resource("c", dependsOn=["a"])]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[1]")
    assert error.message.startswith(
        f"Deployment template validation failed: 'Circular dependency detected on resource: '{rid(VNET, 'a')}', "
        f"'{rid(VNET, 'b')}', '{rid(VNET, 'c')}'.")


def test_a_resource_depending_on_its_own_id_is_a_cycle() -> None:
    error = refused(template([resource("a", dependsOn=["[resourceId('Microsoft.Network/virtualNetworks', 'a')]"])]))
    assert error.code == "InvalidTemplate" and "Circular dependency" in error.message


def test_dependencies_cannot_use_reference() -> None:
    error = refused(template([resource("a"), resource("b", dependsOn=["[reference('a').id]"])]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[1].dependsOn[0]")
    assert "The template function 'reference' is not expected at this location." in error.message


def test_reading_a_template_resource_with_reference_waits_for_it() -> None:
    plan = planned(template([
        resource("vmss", VMSS, properties={
            "probe": "[reference(resourceId('Microsoft.Network/loadBalancers', 'lb')).probes[0].id]",
            "copy": [{"name": "ips", "count": 2,
                      "input": "[reference(concat('pip', copyIndex('ips'))).ipAddress]"}]}),
        resource("lb", LB),
        resource("[concat('pip', copyIndex())]", PIP, copy={"name": "p", "count": 3}),
        resource("external", properties={"x": "[reference('/subscriptions/s/resourceGroups/g/providers/A.B/c/d').x]"}),
    ]))
    vmss = next(r for r in plan.resources if r.name == "vmss")
    assert vmss.depends_on == [rid(LB, "lb"), rid(PIP, "pip0"), rid(PIP, "pip1")]
    assert next(r for r in plan.resources if r.name == "external").depends_on == []
    assert layered(plan) == [["lb", "pip0", "pip1", "pip2", "external"], ["vmss"]]


def test_reference_through_a_variable_is_an_implicit_dependency_too() -> None:
    plan = planned(template([resource("a", properties={"ip": "[variables('ip')]"}), resource("pip", PIP)],
                            variables={"ip": "[reference('pip').ipAddress]"}))
    assert names(plan) == ["pip", "a"]


def test_a_resource_cannot_reference_itself() -> None:
    error = refused(template([resource("a", properties={"me": "[reference('a').x]"})]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[0]")
    assert "cannot reference itself" in error.message


def test_a_conditioned_out_resource_stays_in_the_plan_so_dependents_can_wait_for_it() -> None:
    plan = planned(template([resource("b", dependsOn=["a"]), resource("a", condition=False)]))
    assert [(r.name, r.condition) for r in plan.resources] == [("a", False), ("b", True)]
