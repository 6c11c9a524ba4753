"""The real az CLI against a real server over TLS, offline, as an operator would use them.

az is installed by `.ci/install-az` into virtual environments of its own (2.80.0, the last
release whose `vmss update --set` matches paths case-insensitively, and the latest release);
`.ci/run` names them in SCALESET_AZ_CLIS. Without that variable the installs under
~/.cache/scaleset are used when present, else these tests are skipped with the command to run.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API, Server, publish, remove_machines, start_server, stop_server
from tests.images import boot_image

PRINCIPALS = "/providers/Scaleset.Identity/principals"
CACHE = Path.home() / ".cache" / "scaleset"


def installed_clis() -> list[Path]:
    named = os.environ.get("SCALESET_AZ_CLIS")
    if named:
        return [Path(p) for p in named.split(os.pathsep) if p]
    return sorted(CACHE.glob("az-*/bin/az"))


def _version_of(az: Path) -> str:
    return az.parent.parent.name.removeprefix("az-")


CLIS = installed_clis()
requires_az = pytest.mark.skipif(
    not CLIS, reason="azure-cli is not installed: run `.ci/install-az 2.80.0` and `.ci/install-az latest` "
                     "(or set SCALESET_AZ_CLIS to az executables separated by ':')")


class AzFailed(AssertionError):
    def __init__(self, args: tuple[str, ...], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(f"az {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        self.returncode = result.returncode
        self.stderr = result.stderr


@dataclass
class Az:
    """One az installation with a configuration directory of its own, logged in to one server."""

    executable: Path
    config_dir: Path
    server: Server
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return _version_of(self.executable)

    @property
    def case_insensitive_set(self) -> bool:
        """az ≤ 2.80.0 matches `--set` paths without case; later releases do not."""
        return tuple(int(p) for p in self.version.split(".")) <= (2, 80, 0)

    def env(self) -> dict[str, str]:
        return {**os.environ, "AZURE_CONFIG_DIR": str(self.config_dir), "REQUESTS_CA_BUNDLE": self.server.ca or "",
                "AZURE_CORE_INSTANCE_DISCOVERY": "false", "AZURE_CORE_COLLECT_TELEMETRY": "false",
                "AZURE_CORE_NO_COLOR": "true", "AZURE_CORE_SURVEY_MESSAGE": "false", **self.extra_env}

    def attempt(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.executable), *args], env=self.env(), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def __call__(self, *args: str, timeout: float = 300) -> Any:
        """Run `az ARGS -o json`; its parsed output (None when it printed nothing)."""
        result = self.attempt(*args, "--output", "json", timeout=timeout)
        if result.returncode != 0:
            raise AzFailed(args, result)
        return json.loads(result.stdout) if result.stdout.strip() else None

    def fails(self, *args: str) -> AzFailed:
        result = self.attempt(*args, "--output", "json")
        assert result.returncode != 0, f"az {' '.join(args)} succeeded:\n{result.stdout}"
        return AzFailed(args, result)

    def use_cloud(self) -> None:
        self("cloud", "register", "--name", "scaleset", "--endpoint-resource-manager", f"{self.server.url}/")
        self("cloud", "set", "--name", "scaleset")

    def login(self, principal: dict[str, str]) -> Any:
        return self("login", "--service-principal", "-u", principal["appId"], "-p", principal["password"],
                    "--tenant", principal["tenant"])


@pytest.fixture(scope="package")
def az_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A TLS server on real processes, the app image Canonical:UbuntuServer:18.04-LTS 1.0.0 published."""
    if not CLIS:
        pytest.skip("azure-cli is not installed")
    root = tmp_path_factory.mktemp("az")
    running = start_server(root / "data", extra=("--probe-interval", "0.2", "--health-wait", "PT60S"))
    try:
        with running.client() as admin:
            answer = publish(admin, running.subscription, boot_image(root / "app-1.0.0", version="1.0.0"), version="1.0.0")
            assert answer.status_code in (200, 201), answer.text
        yield running
    finally:
        stop_server(running)
        remove_machines(running.data_dir)


def register_principal(server: Server, *subscriptions: str, kind: str = "ServicePrincipal") -> dict[str, str]:
    with server.client() as admin:
        created = admin.post(PRINCIPALS, params={"api-version": API},
                             json={"kind": kind, "subscriptions": list(subscriptions or (server.subscription,))})
    assert created.status_code == 201, created.text
    return created.json()


@pytest.fixture(scope="package", params=CLIS or [None], ids=lambda p: f"az-{_version_of(p)}" if p else "no-az")
def az(request: pytest.FixtureRequest, az_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Az:
    """az of one installed version, logged in as a service principal with the server's subscription."""
    cli = Az(request.param, tmp_path_factory.mktemp("azconfig"), az_server)
    cli.use_cloud()
    cli.login(register_principal(az_server))
    return cli


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def dig(value: Any, *path: str) -> Any:
    """value[path...], keys matched without case: az prints some models in its own spelling
    (2.80's `vmss update` says `automaticOsUpgradePolicy` for the API's `automaticOSUpgradePolicy`)."""
    for key in path:
        value = next(v for k, v in value.items() if k.lower() == key.lower())
    return value
