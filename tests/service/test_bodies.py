"""Stored scale set bodies: read-only fields and secrets leave the body; PUT keeps what a GET hid;
PATCH merges objects and replaces lists."""

from __future__ import annotations

import copy
from typing import Any

from scaleset.service.bodies import clean, keep_omitted, merge_patch

IMAGE = {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"}


def body(**profile: Any) -> dict[str, Any]:
    return {"location": "westus", "sku": {"capacity": 2}, "properties": {"virtualMachineProfile": profile}}


def extension(name: str, **props: Any) -> dict[str, Any]:
    return {"name": name, "properties": {"publisher": "Contoso", "type": "App", **props}}


# -- clean ------------------------------------------------------------------------------------

def test_clean_strips_read_only_fields() -> None:
    given = {
        "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/v",
        "name": "v", "type": "Microsoft.Compute/virtualMachineScaleSets", "etag": '"1"', "location": "westus",
        "properties": {
            "provisioningState": "Succeeded", "uniqueId": "u", "timeCreated": "2026-01-01T00:00:00Z", "overprovision": False,
            "virtualMachineProfile": {
                "storageProfile": {"imageReference": {**IMAGE, "exactVersion": "1.0.0"}},
                "extensionProfile": {"extensions": [
                    {"id": "x", "type": "Microsoft.Compute/virtualMachineScaleSets/extensions",
                     **extension("app", provisioningState="Succeeded")},
                ]},
            },
        },
    }
    stored, secrets = clean(given)
    assert stored == {
        "location": "westus",
        "properties": {
            "overprovision": False,
            "virtualMachineProfile": {
                "storageProfile": {"imageReference": IMAGE},
                "extensionProfile": {"extensions": [extension("app")]},
            },
        },
    }
    assert secrets == {}


def test_clean_pulls_out_the_admin_password_and_protected_settings() -> None:
    given = body(
        osProfile={"computerNamePrefix": "vm", "adminUsername": "azureuser", "adminPassword": "P@ssw0rd!"},
        extensionProfile={"extensions": [
            extension("script", settings={"a": 1}, protectedSettings={"commandToExecute": "secret.sh"}),
            extension("plain", settings={"b": 2}),
        ]},
    )
    stored, secrets = clean(given)
    assert secrets == {"adminPassword": "P@ssw0rd!", "protectedSettings": {"script": {"commandToExecute": "secret.sh"}}}
    profile = stored["properties"]["virtualMachineProfile"]
    assert profile["osProfile"] == {"computerNamePrefix": "vm", "adminUsername": "azureuser"}
    assert [e["properties"] for e in profile["extensionProfile"]["extensions"]] == [
        {"publisher": "Contoso", "type": "App", "settings": {"a": 1}},
        {"publisher": "Contoso", "type": "App", "settings": {"b": 2}},
    ]
    assert "secret.sh" not in repr(stored) and "P@ssw0rd!" not in repr(stored)


def test_clean_keeps_unknown_fields() -> None:
    given = body(futureProfile={"knob": [1, {"x": None}]})
    given["properties"]["somethingNew"] = True
    given["plan"] = {"name": "p"}
    stored, _ = clean(given)
    assert stored["plan"] == {"name": "p"}
    assert stored["properties"]["somethingNew"] is True
    assert stored["properties"]["virtualMachineProfile"]["futureProfile"] == {"knob": [1, {"x": None}]}


def test_clean_leaves_its_input_alone() -> None:
    given = body(osProfile={"adminPassword": "x"}, extensionProfile={"extensions": [extension("e", protectedSettings={"k": 1})]})
    given["id"] = "some-id"
    before = copy.deepcopy(given)
    clean(given)
    assert given == before


def test_clean_gives_a_body_without_properties_an_empty_object() -> None:
    stored, secrets = clean({"location": "westus"})
    assert stored == {"location": "westus", "properties": {}}
    assert secrets == {}


def test_clean_tolerates_malformed_sections() -> None:
    given = {"properties": {"virtualMachineProfile": {"osProfile": "not an object",
                                                      "extensionProfile": {"extensions": ["not an object", extension("ok")]}}}}
    stored, secrets = clean(given)
    assert secrets == {}
    assert stored["properties"]["virtualMachineProfile"]["osProfile"] == "not an object"


# -- keep_omitted -----------------------------------------------------------------------------

def test_a_put_without_image_reference_keeps_the_stored_one() -> None:
    old = body(storageProfile={"imageReference": IMAGE, "osDisk": {"createOption": "FromImage"}})
    new = body(storageProfile={"osDisk": {"createOption": "FromImage"}})
    keep_omitted(new, {}, old, {})
    assert new["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"] == IMAGE
    # a copy, not the stored object itself
    assert new["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"] is not \
        old["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]


def test_a_put_with_an_image_reference_keeps_its_own() -> None:
    old = body(storageProfile={"imageReference": IMAGE})
    mine = {**IMAGE, "version": "1.0.0"}
    new = body(storageProfile={"imageReference": mine})
    keep_omitted(new, {}, old, {})
    assert new["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"] == mine


def test_a_put_keeps_the_stored_admin_password_unless_it_sends_one() -> None:
    old, new = body(), body()
    assert keep_omitted(new, {}, old, {"adminPassword": "old"}) == {"adminPassword": "old"}
    assert keep_omitted(new, {"adminPassword": "new"}, old, {"adminPassword": "old"}) == {"adminPassword": "new"}
    assert keep_omitted(new, {"adminPassword": "new"}, old, {}) == {"adminPassword": "new"}
    assert keep_omitted(new, {}, old, {}) == {}


def test_a_put_keeps_protected_settings_of_extensions_it_still_has() -> None:
    old = body(extensionProfile={"extensions": [extension("a"), extension("b"), extension("gone")]})
    new = body(extensionProfile={"extensions": [extension("a"), extension("b"), extension("c")]})
    old_secrets = {"protectedSettings": {"a": {"k": "old-a"}, "b": {"k": "old-b"}, "gone": {"k": "old-gone"}}}
    new_secrets = {"protectedSettings": {"b": {"k": "new-b"}, "c": {"k": "new-c"}}}
    merged = keep_omitted(new, new_secrets, old, old_secrets)
    assert merged == {"protectedSettings": {"a": {"k": "old-a"}, "b": {"k": "new-b"}, "c": {"k": "new-c"}}}


def test_a_put_dropping_every_extension_drops_their_protected_settings() -> None:
    old = body(extensionProfile={"extensions": [extension("a")]})
    merged = keep_omitted(body(), {}, old, {"protectedSettings": {"a": {"k": 1}}, "adminPassword": "pw"})
    assert merged == {"adminPassword": "pw"}


# -- merge_patch ------------------------------------------------------------------------------

def test_objects_merge_key_by_key() -> None:
    stored = {"sku": {"name": "Standard_D1_v2", "capacity": 3}, "tags": {"a": "1"},
              "properties": {"upgradePolicy": {"mode": "Manual", "rollingUpgradePolicy": {"maxBatchInstancePercent": 20}}}}
    patch = {"sku": {"capacity": 5}, "tags": {"b": "2"},
             "properties": {"upgradePolicy": {"rollingUpgradePolicy": {"pauseTimeBetweenBatches": "PT5S"}}}}
    assert merge_patch(stored, patch) == {
        "sku": {"name": "Standard_D1_v2", "capacity": 5}, "tags": {"a": "1", "b": "2"},
        "properties": {"upgradePolicy": {"mode": "Manual", "rollingUpgradePolicy": {
            "maxBatchInstancePercent": 20, "pauseTimeBetweenBatches": "PT5S"}}},
    }


def test_lists_replace_whole() -> None:
    stored = {"zones": ["1", "2", "3"], "properties": {"virtualMachineProfile": {"extensionProfile": {
        "extensions": [extension("a"), extension("b")]}}}}
    patch = {"zones": ["2"], "properties": {"virtualMachineProfile": {"extensionProfile": {"extensions": [extension("c")]}}}}
    merged = merge_patch(stored, patch)
    assert merged["zones"] == ["2"]
    assert merged["properties"]["virtualMachineProfile"]["extensionProfile"]["extensions"] == [extension("c")]


def test_scalars_and_type_changes_replace() -> None:
    assert merge_patch({"a": 1, "b": {"x": 1}, "c": "s"}, {"a": 2, "b": "flat", "c": {"now": "object"}}) == \
        {"a": 2, "b": "flat", "c": {"now": "object"}}


def test_an_empty_patch_changes_nothing() -> None:
    stored = {"a": {"b": [1, 2]}}
    assert merge_patch(stored, {}) == stored


def test_merge_patch_leaves_both_inputs_alone() -> None:
    stored = {"a": {"b": {"c": [1]}}, "l": [{"x": 1}]}
    patch = {"a": {"b": {"d": 2}}, "l": [{"y": 2}]}
    before_stored, before_patch = copy.deepcopy(stored), copy.deepcopy(patch)
    merged = merge_patch(stored, patch)
    merged["a"]["b"]["c"].append(99)
    merged["l"][0]["y"] = 3
    assert stored == before_stored
    assert patch == before_patch
