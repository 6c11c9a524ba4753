"""Resources expanded for deployment: copy loops, property copy, nested children, conditions, bodies."""

from __future__ import annotations

from tests.templates.helpers import names, no_reference, planned, refused, resource, rid, template, values

VMSS = "Microsoft.Compute/virtualMachineScaleSets"


def test_a_copy_loop_makes_one_instance_per_index_in_order() -> None:
    plan = planned(template([resource("[concat('pip', copyIndex())]", "Microsoft.Network/publicIPAddresses",
                                      copy={"name": "pips", "count": "[parameters('n')]"})],
                            parameters={"n": {"type": "int"}}), values(n=3))
    assert names(plan) == ["pip0", "pip1", "pip2"]
    assert [r.copy_index.index("pips") for r in plan.resources] == [0, 1, 2]
    assert all(r.path == "resources[0]" and r.depends_on == [] for r in plan.resources)


def test_a_copy_count_of_zero_deploys_nothing() -> None:
    assert names(planned(template([resource("[concat('a', copyIndex())]", copy={"name": "l", "count": 0})]))) == []


def test_a_serial_copy_loop_makes_each_batch_wait_for_the_one_before() -> None:
    plan = planned(template([resource("[concat('v', copyIndex())]",
                                      copy={"name": "l", "count": 5, "mode": "Serial", "batchSize": 2})]))
    waits = {r.name: sorted(d.rsplit("/", 1)[1] for d in r.depends_on) for r in plan.resources}
    assert waits == {"v0": [], "v1": [], "v2": ["v0", "v1"], "v3": ["v0", "v1"], "v4": ["v2", "v3"]}
    assert [[r.name for r in layer] for layer in plan.layers()] == [["v0", "v1"], ["v2", "v3"], ["v4"]]


def test_a_serial_copy_loop_without_batch_size_deploys_one_at_a_time() -> None:
    plan = planned(template([resource("[concat('v', copyIndex())]", copy={"name": "l", "count": 3, "mode": "serial"})]))
    assert [[r.name for r in layer] for layer in plan.layers()] == [["v0"], ["v1"], ["v2"]]


def test_bad_copy_loops_are_refused() -> None:
    for copy, target in [({"name": "l", "count": -1}, "resources[0].copy.count"),
                         ({"name": "l", "count": 801}, "resources[0].copy.count"),
                         ({"name": "l", "count": "3"}, "resources[0].copy.count"),
                         ({"count": 2}, "resources[0].copy.name"),
                         ({"name": "l", "count": 2, "mode": "sideways"}, "resources[0].copy.mode"),
                         ({"name": "l", "count": 2, "mode": "serial", "batchSize": 0}, "resources[0].copy.batchSize")]:
        error = refused(template([resource("[concat('v', copyIndex())]", copy=copy)]))
        assert (error.code, error.target) == ("InvalidTemplate", target), copy


def test_property_copy_makes_an_array_property_with_named_indexes() -> None:
    plan = planned(template([resource("vmss1", VMSS, copy={"name": "sets", "count": 1}, properties={
        "virtualMachineProfile": {"storageProfile": {
            "copy": [{"name": "dataDisks", "count": 2, "input": {
                "lun": "[copyIndex('dataDisks')]", "diskSizeGB": "[mul(copyIndex('dataDisks', 1), 10)]",
                "set": "[copyIndex()]"}}]}}})]))
    body = plan.body(plan.resources[0], no_reference)
    assert body["properties"]["virtualMachineProfile"]["storageProfile"] == {"dataDisks": [
        {"lun": 0, "diskSizeGB": 10, "set": 0}, {"lun": 1, "diskSizeGB": 20, "set": 0}]}


def test_nested_property_copies_see_both_indexes() -> None:
    plan = planned(template([resource("a", properties={"copy": [{"name": "outer", "count": 2, "input": {
        "copy": [{"name": "inner", "count": 2, "input": "[concat(string(copyIndex('outer')), string(copyIndex('inner')))]"}]}}]})]))
    assert plan.body(plan.resources[0], no_reference)["properties"] == {"outer": [{"inner": ["00", "01"]},
                                                                                  {"inner": ["10", "11"]}]}


def test_nested_children_get_full_type_and_name_and_wait_for_their_parent() -> None:
    plan = planned(template([resource("vmss1", VMSS, resources=[
        resource("ext1", "extensions", properties={"publisher": "Microsoft.Azure.Extensions"}),
        resource("vmss1/ext2", f"{VMSS}/extensions")])]))
    parent, child, full = plan.resources
    assert (child.type, child.name, child.path) == (f"{VMSS}/extensions", "vmss1/ext1", "resources[0].resources[0]")
    assert child.id == rid(f"{VMSS}/extensions", "vmss1", "ext1")
    assert child.depends_on == [parent.id] and full.depends_on == [parent.id]
    assert plan.body(child, no_reference) == {"properties": {"publisher": "Microsoft.Azure.Extensions"}}


def test_children_of_a_copied_parent_follow_each_instance_and_see_its_index() -> None:
    plan = planned(template([resource("[concat('lb', copyIndex())]", "Microsoft.Network/loadBalancers",
                                      copy={"name": "lbs", "count": 2},
                                      resources=[resource("[concat('probe', copyIndex())]", "probes")])]))
    assert names(plan) == ["lb0", "lb0/probe0", "lb1", "lb1/probe1"]


def test_a_nested_child_cannot_have_its_own_copy_loop() -> None:
    error = refused(template([resource("p", resources=[resource("c", "subnets", copy={"name": "l", "count": 2})])]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[0].resources[0].copy")


def test_names_need_one_segment_per_type_level() -> None:
    for bad, path in [(resource("lb1", "Microsoft.Network/loadBalancers/probes"), "resources[0].name"),
                      (resource("a/b", "Microsoft.Network/loadBalancers"), "resources[0].name")]:
        error = refused(template([bad]))
        assert (error.code, error.target) == ("InvalidTemplate", path)
        assert "has incorrect segment lengths" in error.message
    error = refused(template([resource("p", resources=[resource("a/b", "subnets")])]))
    assert error.target == "resources[0].resources[0].name"


def test_types_and_api_versions_are_checked_after_evaluation() -> None:
    error = refused(template([resource("a", "virtualNetworks")]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[0].type")
    error = refused(template([resource("a", apiVersion="[concat('latest', '')]")]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[0].apiVersion")
    error = refused(template([{"type": "Microsoft.Network/virtualNetworks", "name": "a"}]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[0]") and "'apiVersion'" in error.message
    plan = planned(template([resource("a", apiVersion="[variables('api')]")], variables={"api": "2021-04-01-preview"}))
    assert plan.resources[0].api_version == "2021-04-01-preview"


def test_a_resource_defined_twice_is_refused_unless_one_is_conditioned_out() -> None:
    error = refused(template([resource("a"), resource("A")]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[1]")
    assert "is defined multiple times" in error.message
    assert len(planned(template([resource("a"), resource("a", condition=False)])).resources) == 2


def test_conditions_are_evaluated_and_must_be_booleans() -> None:
    plan = planned(template([resource("a", condition="[equals(parameters('env'), 'prod')]"), resource("b")],
                            parameters={"env": {"type": "string"}}), values(env="dev"))
    assert [(r.name, r.condition) for r in plan.resources] == [("a", False), ("b", True)]
    error = refused(template([resource("a", condition="true")]))
    assert (error.code, error.target) == ("InvalidTemplate", "resources[0].condition")


def test_the_body_keeps_resource_properties_and_drops_template_only_keys() -> None:
    plan = planned(template([resource("a", location="[resourceGroup().location]", tags={"t": "[toUpper('x')]"},
                                      sku={"name": "S", "capacity": "[add(1, 2)]"}, kind="k", zones=["1"],
                                      identity={"type": "SystemAssigned"}, plan={"name": "p"},
                                      dependsOn=[], condition=True, comments="why", properties={"p": 1})]))
    assert plan.body(plan.resources[0], no_reference) == {
        "location": "westeurope", "tags": {"t": "X"}, "sku": {"name": "S", "capacity": 3}, "kind": "k",
        "zones": ["1"], "identity": {"type": "SystemAssigned"}, "plan": {"name": "p"}, "properties": {"p": 1}}


def test_a_resource_that_is_not_an_object_is_refused() -> None:
    error = refused(template(["vnet"]))  # type: ignore[list-item]
    assert (error.code, error.target) == ("InvalidTemplate", "resources[0]")
