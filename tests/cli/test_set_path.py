from __future__ import annotations

import copy
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scaleset.cli.set_path import (
    Index,
    Key,
    Match,
    PathError,
    apply_updates,
    get_value,
    parse_path,
    parse_value,
    remove_value,
    removal_paths,
    set_value,
    split_assignment,
)

SCALE_SET: dict[str, Any] = {
    "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web",
    "name": "web",
    "location": "westeurope",
    "sku": {"name": "Standard_DS1_v2", "tier": "Standard", "capacity": 3},
    "tags": {"Env": "prod"},
    "properties": {
        "upgradePolicy": {"mode": "Manual"},
        "virtualMachineProfile": {
            "storageProfile": {
                "imageReference": {"publisher": "Canonical", "version": "latest"},
                "dataDisks": [
                    {"lun": 0, "createOption": "Empty", "diskSizeGB": 10},
                    {"lun": 1, "createOption": "Empty", "diskSizeGB": 20},
                ],
            },
            "extensionProfile": {"extensions": None},
            "networkProfile": {
                "networkInterfaceConfigurations": [
                    {"name": "webNic", "properties": {"primary": True, "ipConfigurations": []}}
                ]
            },
        },
    },
}


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("a", [Key("a")]),
        ("a.b.c", [Key("a"), Key("b"), Key("c")]),
        ("a[0].b", [Key("a"), Index(0), Key("b")]),
        ("a[-1]", [Key("a"), Index(-1)]),
        ("a[0][2]", [Key("a"), Index(0), Index(2)]),
        ("a[name=web].b", [Key("a"), Match("name", "web"), Key("b")]),
        ("a[ lun = 0 ]", [Key("a"), Match("lun", "0")]),
        ("tags.my key", [Key("tags"), Key("my key")]),
    ],
)
def test_parse_path_reads_keys_indexes_and_matches(path: str, steps: list[Any]) -> None:
    assert parse_path(path) == steps


@pytest.mark.parametrize(
    "path", ["", ".a", "a.", "a..b", "a[0", "a[]", "a[x]", "[0]", "a]b", "a=b", "a[0]b", "a.[0]"]
)
def test_parse_path_rejects_malformed_paths(path: str) -> None:
    with pytest.raises(PathError):
        parse_path(path)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("a.b=c", ("a.b", "c")),
        ("a=", ("a", "")),
        ("a=b=c", ("a", "b=c")),
        ("a[name=x].b=1", ("a[name=x].b", "1")),
        ('tags={"k": "v=w"}', ("tags", '{"k": "v=w"}')),
    ],
)
def test_split_assignment_splits_at_the_first_equals_outside_brackets(
    expression: str, expected: tuple[str, str]
) -> None:
    assert split_assignment(expression) == expected


@pytest.mark.parametrize("expression", ["a.b", "=5", "a[name=x]"])
def test_split_assignment_needs_a_path_and_an_equals(expression: str) -> None:
    with pytest.raises(PathError):
        split_assignment(expression)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("5", 5),
        ("2.5", 2.5),
        ("null", None),
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", [1, 2]),
        ('"quoted"', "quoted"),
        ("Rolling", "Rolling"),
        ("True", "True"),  # not JSON: stays a string, as in az
        ("NaN", "NaN"),  # Python's json would take it, but it is not JSON
        ("", ""),
    ],
)
def test_parse_value_takes_json_when_it_parses_else_the_string(text: str, value: Any) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_parse_value_force_string_keeps_the_text() -> None:
    assert parse_value("5", force_string=True) == "5"


# -- set -------------------------------------------------------------------------------------


def test_set_with_az_seed_casing_reaches_the_camel_case_keys_under_properties() -> None:
    document = set_value(SCALE_SET, "UpgradePolicy.Mode", "Rolling")
    assert document["properties"]["upgradePolicy"] == {"mode": "Rolling"}
    assert "UpgradePolicy" not in document


def test_set_creates_missing_keys_with_the_casing_given() -> None:
    document = set_value(
        SCALE_SET, "UpgradePolicy.AutomaticOSUpgradePolicy.EnableAutomaticOSUpgrade", True
    )
    assert document["properties"]["upgradePolicy"] == {
        "mode": "Manual",
        "AutomaticOSUpgradePolicy": {"EnableAutomaticOSUpgrade": True},
    }


def test_set_matches_existing_nested_keys_case_insensitively() -> None:
    existing = set_value(
        SCALE_SET,
        "properties.upgradePolicy.automaticOSUpgradePolicy",
        {"enableAutomaticOSUpgrade": False},
    )
    document = set_value(
        existing, "UpgradePolicy.AutomaticOSUpgradePolicy.EnableAutomaticOSUpgrade", True
    )
    assert document["properties"]["upgradePolicy"]["automaticOSUpgradePolicy"] == {
        "enableAutomaticOSUpgrade": True
    }


def test_set_prefers_an_exact_key_over_a_case_insensitive_one() -> None:
    document = set_value({"ab": 1, "AB": 2}, "AB", 3)
    assert document == {"ab": 1, "AB": 3}


def test_set_top_level_key_stays_at_top_level() -> None:
    assert set_value(SCALE_SET, "Sku.Capacity", 5)["sku"]["capacity"] == 5
    assert set_value(SCALE_SET, "tags.Owner", "ops")["tags"] == {"Env": "prod", "Owner": "ops"}


def test_set_creates_a_new_top_level_key_where_nothing_matches() -> None:
    document = set_value(SCALE_SET, "zones", ["1", "2"])
    assert document["zones"] == ["1", "2"]
    assert "zones" not in document["properties"]


def test_set_flattens_properties_at_deeper_levels_too() -> None:
    path = "virtualMachineProfile.networkProfile.networkInterfaceConfigurations[0].primary"
    document = set_value(SCALE_SET, path, False)
    nic = document["properties"]["virtualMachineProfile"]["networkProfile"][
        "networkInterfaceConfigurations"
    ][0]
    assert nic == {"name": "webNic", "properties": {"primary": False, "ipConfigurations": []}}


def test_set_indexes_lists() -> None:
    path = "virtualMachineProfile.storageProfile.dataDisks[1].diskSizeGB"
    document = set_value(SCALE_SET, path, 64)
    disks = document["properties"]["virtualMachineProfile"]["storageProfile"]["dataDisks"]
    assert [disk["diskSizeGB"] for disk in disks] == [10, 64]
    assert set_value(SCALE_SET, path.replace("[1]", "[-2]"), 7)["properties"][
        "virtualMachineProfile"
    ]["storageProfile"]["dataDisks"][0]["diskSizeGB"] == 7


def test_set_replaces_a_whole_list_element() -> None:
    document = set_value({"a": [1, 2, 3]}, "a[1]", {"x": 1})
    assert document == {"a": [1, {"x": 1}, 3]}


def test_set_selects_list_elements_by_key_value() -> None:
    disks = "virtualMachineProfile.storageProfile.dataDisks"
    document = set_value(SCALE_SET, f"{disks}[lun=1].caching", "ReadOnly")
    assert get_value(document, f"properties.{disks}[1].caching") == "ReadOnly"
    nic = "virtualMachineProfile.networkProfile.networkInterfaceConfigurations[name=webNic]"
    assert get_value(set_value(SCALE_SET, f"{nic}.primary", False), f"{nic}.primary") is False


def test_set_replaces_a_null_object_on_the_way() -> None:
    document = set_value(SCALE_SET, "virtualMachineProfile.extensionProfile.extensions.x", 1)
    assert document["properties"]["virtualMachineProfile"]["extensionProfile"] == {
        "extensions": {"x": 1}
    }


@pytest.mark.parametrize(
    "path",
    [
        "virtualMachineProfile.storageProfile.dataDisks[2].lun",  # out of range
        "virtualMachineProfile.storageProfile.dataDisks[lun=9].lun",  # no such element
        "sku.name.length",  # through a string
        "sku[0]",  # index into an object
        "newList[0]",  # lists are never created by indexing
    ],
)
def test_set_refuses_paths_that_do_not_fit(path: str) -> None:
    with pytest.raises(PathError):
        set_value(SCALE_SET, path, 1)


def test_set_leaves_its_input_untouched() -> None:
    before = copy.deepcopy(SCALE_SET)
    value = {"nested": [1]}
    result = set_value(SCALE_SET, "properties.upgradePolicy.x", value)
    value["nested"].append(2)
    assert SCALE_SET == before
    assert result["properties"]["upgradePolicy"]["x"] == {"nested": [1]}


# -- get / remove ----------------------------------------------------------------------------


def test_get_value_follows_the_same_rules() -> None:
    assert get_value(SCALE_SET, "UPGRADEPOLICY.MODE") == "Manual"
    with pytest.raises(PathError):
        get_value(SCALE_SET, "upgradePolicy.rollingUpgradePolicy")


def test_remove_deletes_a_key_found_case_insensitively() -> None:
    document = remove_value(SCALE_SET, "UpgradePolicy.Mode")
    assert document["properties"]["upgradePolicy"] == {}
    assert SCALE_SET["properties"]["upgradePolicy"] == {"mode": "Manual"}


def test_remove_deletes_list_elements_by_index_or_match() -> None:
    disks = "virtualMachineProfile.storageProfile.dataDisks"
    by_index = remove_value(SCALE_SET, f"{disks}[0]")
    by_match = remove_value(SCALE_SET, f"{disks}[lun=0]")
    assert get_value(by_index, disks) == get_value(by_match, disks) == [
        {"lun": 1, "createOption": "Empty", "diskSizeGB": 20}
    ]


def test_remove_of_a_missing_key_is_an_error() -> None:
    with pytest.raises(PathError):
        remove_value(SCALE_SET, "tags.Missing")


def test_removal_paths_join_az_list_index_pairs() -> None:
    assert removal_paths(["a.b", "0", "tags.x", "c", "-1"]) == ["a.b[0]", "tags.x", "c[-1]"]


def test_apply_updates_sets_in_order_then_removes() -> None:
    document = apply_updates(
        SCALE_SET,
        sets=["sku.capacity=5", "tags.Team=web", "tags.Team=ops", "upgradePolicy.mode=Rolling"],
        removes=["tags.Env"],
    )
    assert document["sku"]["capacity"] == 5
    assert document["tags"] == {"Team": "ops"}
    assert document["properties"]["upgradePolicy"]["mode"] == "Rolling"


def test_apply_updates_force_string() -> None:
    document = apply_updates(SCALE_SET, sets=["tags.build=42"], force_string=True)
    assert document["tags"]["build"] == "42"


# -- properties ------------------------------------------------------------------------------

names = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=6)
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
documents = st.recursive(
    leaves,
    lambda children: st.dictionaries(names, children, max_size=4),
    max_leaves=12,
).filter(lambda value: isinstance(value, dict))


def _key_paths(document: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every path of keys in the document whose case-insensitive spelling is unambiguous."""
    paths: list[tuple[str, ...]] = []
    if isinstance(document, dict):
        folded = [key.casefold() for key in document]
        for key, value in document.items():
            if folded.count(key.casefold()) == 1:
                paths.append((*prefix, key))
                paths.extend(_key_paths(value, (*prefix, key)))
    return paths


def _unambiguous(document: Any, path: tuple[str, ...]) -> bool:
    """No step could be resolved through a `properties` fallback or a second spelling."""
    current = document
    for key in path:
        if not isinstance(current, dict) or "properties" in {k.casefold() for k in current}:
            return False
        current = current[key]
    return True


@given(documents, st.data(), leaves)
def test_recased_paths_set_the_same_key_as_exact_ones(
    document: dict[str, Any], data: st.DataObject, value: Any
) -> None:
    candidates = [p for p in _key_paths(document) if _unambiguous(document, p)]
    if not candidates:
        return
    path = data.draw(st.sampled_from(candidates))
    recased = ".".join(
        "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in key) for key in path
    )
    assert set_value(document, recased, value) == set_value(document, ".".join(path), value)


@given(documents, st.data(), leaves)
def test_set_then_get_returns_the_value_and_touches_nothing_else(
    document: dict[str, Any], data: st.DataObject, value: Any
) -> None:
    candidates = [p for p in _key_paths(document) if _unambiguous(document, p)]
    if not candidates:
        return
    path = data.draw(st.sampled_from(candidates))
    before = copy.deepcopy(document)
    updated = set_value(document, ".".join(path), value)
    assert get_value(updated, ".".join(path)) == value
    assert document == before
    # Putting the old value back restores the document exactly.
    assert set_value(updated, ".".join(path), get_value(before, ".".join(path))) == before


@given(documents, names)
def test_setting_then_removing_a_new_key_is_a_no_op(document: dict[str, Any], name: str) -> None:
    key = f"new{name}"
    if key.casefold() in {k.casefold() for k in document} or "properties" in document:
        return
    assert remove_value(set_value(document, key, 1), key) == document


steps = st.lists(
    st.one_of(
        names.map(Key),
        st.integers(min_value=-50, max_value=50).map(Index),
        st.tuples(names, st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=4)).map(
            lambda pair: Match(*pair)
        ),
    ),
    max_size=6,
)


@given(names, steps)
def test_parse_path_reads_back_any_formatted_path(first: str, rest: list[Any]) -> None:
    text = first + "".join(
        f".{step.name}" if isinstance(step, Key)
        else f"[{step.position}]" if isinstance(step, Index)
        else f"[{step.key}={step.value}]"
        for step in rest
    )
    assert parse_path(text) == [Key(first), *rest]


@given(documents, documents, st.data(), leaves)
def test_keys_only_under_properties_are_reached_without_naming_properties(
    outer: dict[str, Any], inner: dict[str, Any], data: st.DataObject, value: Any
) -> None:
    top_level = {key.casefold() for key in outer}
    inner_folded = [key.casefold() for key in inner]
    reachable = [
        key
        for key in inner
        if key.casefold() not in top_level and inner_folded.count(key.casefold()) == 1
    ]
    if not reachable:
        return
    key = data.draw(st.sampled_from(reachable))
    document = {**outer, "properties": inner}
    assert set_value(document, key.upper(), value) == set_value(
        document, f"properties.{key}", value
    )
