"""Secrets are accepted and never given back: `osProfile.adminPassword` and extension
`protectedSettings` appear in no response body and not in clear in the SQLite store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.mgmt.compute import models as m

from tests.compat.conftest import Env, statuses, unique, vmss_json

EXTENSION = "runscript"


@dataclass
class Secret:
    group: str
    name: str
    password: str
    protected: str
    created: m.VirtualMachineScaleSet
    seen: list[str] = field(default_factory=list)  # every response body the SDK read while creating

    def leaks(self, text: str) -> list[str]:
        return [label for label, value in (("adminPassword", self.password), ("protectedSettings", self.protected))
                if value in text]


def _secret_body(password: str, protected: str, capacity: int = 1) -> dict[str, Any]:
    return vmss_json(
        capacity,
        os_profile={"computerNamePrefix": "secret", "adminUsername": "azureuser", "adminPassword": password},
        extensions=[{"name": EXTENSION, "properties": {
            "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
            "autoUpgradeMinorVersion": True, "settings": {"skipDos2Unix": True},
            # The command carries the secret but prints nothing, so no status message can echo it.
            "protectedSettings": {"commandToExecute": f"test -n '{protected}' >/dev/null 2>&1"}}}],
    )


def _text(response: Any) -> str:
    response.read()  # the first response of an LRO is streamed
    return response.text()


@pytest.fixture(scope="module")
def secret(proc: Env) -> Secret:
    group, name = proc.group("secret"), unique("secret")
    password, protected = f"Pw-{uuid.uuid4().hex}!", f"protected-{uuid.uuid4().hex}"
    seen: list[str] = []
    poller = proc.compute.virtual_machine_scale_sets.begin_create_or_update(
        group, name, m.VirtualMachineScaleSet(_secret_body(password, protected)),
        raw_response_hook=lambda pipeline_response: seen.append(_text(pipeline_response.http_response)))
    created = poller.result()
    return Secret(group, name, password, protected, created, seen)


def test_create_accepts_the_secrets_and_the_extension_using_them_succeeds(proc: Env, secret: Secret) -> None:
    assert secret.created.provisioning_state == "Succeeded"
    vm = proc.compute.virtual_machine_scale_set_vms.get(secret.group, secret.name, "0", expand="instanceView")
    extension = next(e for e in vm.instance_view.extensions if e.name == EXTENSION)
    assert statuses(extension) == ["ProvisioningState/succeeded"]


def test_sdk_results_carry_no_admin_password_and_no_protected_settings(proc: Env, secret: Secret) -> None:
    for scale_set in (secret.created, proc.compute.virtual_machine_scale_sets.get(secret.group, secret.name)):
        profile = scale_set.virtual_machine_profile
        assert profile.os_profile.admin_password is None
        assert profile.os_profile.admin_username == "azureuser"
        extension = profile.extension_profile.extensions[0]
        assert extension.name == EXTENSION
        assert extension.protected_settings is None
        assert extension.settings == {"skipDos2Unix": True}


def test_no_response_the_sdk_read_while_creating_carries_a_secret(secret: Secret) -> None:
    assert secret.seen, "the raw response hook saw nothing"
    for body in secret.seen:
        assert secret.leaks(body) == []


def test_no_read_endpoint_returns_a_secret(proc: Env, secret: Secret) -> None:
    path = proc.vmss_path(secret.group, secret.name)
    vm = f"{path}/virtualMachines/0"
    reads = {
        "get scale set": proc.get_raw(path),
        "get scale set 2018-10-01": proc.get_raw(path, api="2018-10-01"),
        "list in group": proc.get_raw(f"{proc.group_path(secret.group)}/providers/Microsoft.Compute/virtualMachineScaleSets"),
        "list in subscription": proc.get_raw(f"/subscriptions/{proc.sub}/providers/Microsoft.Compute/virtualMachineScaleSets"),
        "scale set instance view": proc.get_raw(f"{path}/instanceView"),
        "list vms": proc.get_raw(f"{path}/virtualMachines"),
        "list vms expanded": proc.get_raw(f"{path}/virtualMachines", **{"$expand": "instanceView"}),
        "get vm": proc.get_raw(vm),
        "get vm expanded": proc.get_raw(vm, **{"$expand": "instanceView"}),
        "vm instance view": proc.get_raw(f"{vm}/instanceView"),
    }
    for label, response in reads.items():
        assert response.status_code == 200, (label, response.text)
        assert secret.leaks(response.text) == [], label
    body = reads["get scale set"].json()
    profile = body["properties"]["virtualMachineProfile"]
    assert "adminPassword" not in profile["osProfile"]
    assert "protectedSettings" not in profile["extensionProfile"]["extensions"][0]["properties"]


def test_a_full_put_with_the_secrets_does_not_echo_them(proc: Env) -> None:
    group, name = proc.group("secretput"), unique("secretput")
    password, protected = f"Pw-{uuid.uuid4().hex}!", f"protected-{uuid.uuid4().hex}"
    body = _secret_body(password, protected, capacity=0)
    path = proc.vmss_path(group, name)
    for expected in (201, 200):
        response = proc.put_raw(path, body)
        assert response.status_code == expected, response.text
        assert password not in response.text
        assert protected not in response.text


def test_a_full_put_that_omits_the_secrets_keeps_them(proc: Env) -> None:
    """`az vmss update` GETs the scale set (no secrets in it) and PUTs it back: the protected
    settings must survive, or the next reimage runs the extension without them."""
    group, name = proc.group("secretkeep"), unique("secretkeep")
    password, protected = f"Pw-{uuid.uuid4().hex}!", f"protected-{uuid.uuid4().hex}"
    body = _secret_body(password, protected)
    # Only the protected settings say what to run: without them the extension has no command and fails.
    proc.compute.virtual_machine_scale_sets.begin_create_or_update(group, name, m.VirtualMachineScaleSet(body)).result()
    path = proc.vmss_path(group, name)
    got = proc.get_raw(path).json()
    got.setdefault("tags", {})["edited"] = "by-az"
    response = proc.put_raw(path, got)
    assert response.status_code == 200, response.text
    assert secret_free(response.text, password, protected)

    poller = proc.compute.virtual_machine_scale_sets.begin_reimage(group, name)
    poller.result()
    assert poller.status().lower() == "succeeded"
    vm = proc.compute.virtual_machine_scale_set_vms.get(group, name, "0", expand="instanceView")
    extension = next(e for e in vm.instance_view.extensions if e.name == EXTENSION)
    assert statuses(extension) == ["ProvisioningState/succeeded"]


def secret_free(text: str, *secrets: str) -> bool:
    return not any(value in text for value in secrets)


def test_the_store_keeps_no_secret_in_clear(proc: Env, secret: Secret) -> None:
    data_dir = proc.server.data_dir
    files = [data_dir / f"scaleset.db{suffix}" for suffix in ("", "-wal", "-shm", "-journal")]
    existing = [path for path in files if path.exists()]
    assert data_dir / "scaleset.db" in existing
    for path in existing:
        content = path.read_bytes()
        assert secret.password.encode() not in content, path.name
        assert secret.protected.encode() not in content, path.name
