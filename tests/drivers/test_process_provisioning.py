"""The process driver's provisioning: custom data and extensions, with real downloads."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import http.server
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaleset.drivers import procfs
from scaleset.drivers.base import DriverError, ExtensionSpec, ExtensionState, InstanceSpec, PowerState
from scaleset.drivers.machine_dir import MachineDir, read_json
from scaleset.drivers.process import ProcessDriver
from scaleset.drivers.waiting import wait_for_extensions
from tests.drivers.kits import Kit, get_app_state, urn

CUSTOM_DATA = b"""#!/bin/sh
echo "customdata $SCALESET_IMAGE $(pwd)" >> "$SCALESET_DATA_DISK_0/runs"
env | grep ^SCALESET_ | sort > "$SCALESET_DATA_DISK_0/customdata.env"
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving a directory: (base URL, directory)."""
    served = tmp_path / "served"
    served.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=served))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def custom_script(name: str, command: str, *, file_uris: list[str] | None = None, protected: dict | None = None,
                  after: tuple[str, ...] = ()) -> ExtensionSpec:  # fmt: skip
    settings = {"commandToExecute": command} if command else {}
    if file_uris is not None:
        settings["fileUris"] = file_uris
    return ExtensionSpec(name, "Microsoft.Azure.Extensions", "CustomScript", "2.1", settings=settings,
                         protected_settings=protected or {}, provision_after=after)  # fmt: skip


def runs(kit: Kit, spec: InstanceSpec) -> list[str]:
    path = MachineDir.for_key(kit.driver.root, spec.key).data_disk(0) / "runs"
    return path.read_text().splitlines() if path.exists() else []


async def settled(kit: Kit, spec: InstanceSpec) -> dict[str, tuple[ExtensionState, str]]:
    status = await wait_for_extensions(kit.driver, spec.key, timeout=15)
    return {e.name: (e.state, e.message) for e in status.extensions}


async def test_custom_data_then_extensions_run_after_create_and_again_after_reimage(
    pkit: Kit, file_server: tuple[str, Path], tmp_path: Path
) -> None:
    base_url, served = file_server
    (served / "append.sh").write_text('echo "extension $SCALESET_IMAGE" >> "$SCALESET_DATA_DISK_0/runs"\n')
    local = tmp_path / "local-files" / "note.txt"
    local.parent.mkdir()
    local.write_text("from a file URL\n")
    extension = custom_script(
        "install", 'sh append.sh && cat note.txt >> "$SCALESET_DATA_DISK_0/runs"',
        file_uris=[f"{base_url}/append.sh", local.as_uri()],
    )  # fmt: skip
    spec = pkit.spec("1.0.0", custom_data=CUSTOM_DATA, extensions=(extension,))
    os_disk = MachineDir.for_key(pkit.driver.root, spec.key).os_disk

    await pkit.driver.create(spec)
    assert (await settled(pkit, spec))["install"][0] is ExtensionState.SUCCEEDED
    first = [f"customdata {urn('1.0.0')} {os_disk}", f"extension {urn('1.0.0')}", "from a file URL"]
    assert runs(pkit, spec) == first

    await pkit.driver.restart(spec.key)  # a plain start reruns neither
    await get_app_state(spec.private_ip)
    assert runs(pkit, spec) == first

    await pkit.driver.reimage(pkit.respec(spec, "2.0.0"))
    assert (await settled(pkit, spec))["install"][0] is ExtensionState.SUCCEEDED
    assert runs(pkit, spec) == first + [f"customdata {urn('2.0.0')} {os_disk}", f"extension {urn('2.0.0')}",
                                        "from a file URL"]  # fmt: skip


async def test_custom_data_and_extensions_see_the_machine_environment(pkit: Kit) -> None:
    extension = custom_script("env", 'env | grep ^SCALESET_ | sort > "$SCALESET_DATA_DISK_1/extension.env"')
    spec = pkit.spec(custom_data=CUSTOM_DATA, luns=(0, 1), extensions=(extension,))
    await pkit.driver.create(spec)
    await settled(pkit, spec)
    machine = MachineDir.for_key(pkit.driver.root, spec.key)
    expected = {
        "SCALESET_COMPUTER_NAME": spec.computer_name,
        "SCALESET_CUSTOM_DATA": str(machine.custom_data),
        "SCALESET_DATA_DISK_0": str(machine.data_disk(0)),
        "SCALESET_DATA_DISK_1": str(machine.data_disk(1)),
        "SCALESET_IMAGE": urn("1.0.0"),
        "SCALESET_INSTANCE_ID": spec.instance_id,
        "SCALESET_PRIVATE_IP": spec.private_ip,
    }
    for path in (machine.data_disk(0) / "customdata.env", machine.data_disk(1) / "extension.env"):
        assert dict(line.split("=", 1) for line in path.read_text().splitlines()) == expected


async def test_custom_data_that_is_not_a_script_is_left_for_the_app(pkit: Kit) -> None:
    spec = pkit.spec(custom_data=b"role=web\n")
    await pkit.driver.create(spec)
    assert (await get_app_state(spec.private_ip))["custom_data"] == "role=web\n"


async def test_extensions_run_after_those_they_name_in_provision_after(pkit: Kit) -> None:
    second = custom_script("second", 'echo second >> "$SCALESET_DATA_DISK_0/runs"', after=("first",))
    first = custom_script("first", 'sleep 0.2; echo first >> "$SCALESET_DATA_DISK_0/runs"')
    spec = pkit.spec(extensions=(second, first))
    await pkit.driver.create(spec)
    status = await settled(pkit, spec)
    assert list(status) == ["second", "first"]  # reported in model order
    assert runs(pkit, spec) == ["first", "second"]


async def test_an_extension_is_transitioning_while_it_runs(pkit: Kit) -> None:
    spec = pkit.spec(extensions=(custom_script("slow", "sleep 0.5"),))
    await pkit.driver.create(spec)
    status = await pkit.driver.status(spec.key)
    assert (status.power_state, status.extensions[0].state) == (PowerState.RUNNING, ExtensionState.TRANSITIONING)
    assert (await settled(pkit, spec))["slow"][0] is ExtensionState.SUCCEEDED


async def test_a_failing_command_fails_the_extension_with_its_output(pkit: Kit) -> None:
    spec = pkit.spec(extensions=(custom_script("broken", "echo making progress; echo it broke >&2; exit 3"),))
    await pkit.driver.create(spec)
    state, message = (await settled(pkit, spec))["broken"]
    assert state is ExtensionState.FAILED
    assert "code 3" in message and "making progress" in message and "it broke" in message


async def test_a_failed_download_fails_the_extension_naming_the_url(pkit: Kit, file_server: tuple[str, Path]) -> None:
    base_url, _ = file_server
    spec = pkit.spec(extensions=(custom_script("fetch", "true", file_uris=[f"{base_url}/missing.sh"]),))
    await pkit.driver.create(spec)
    state, message = (await settled(pkit, spec))["fetch"]
    assert state is ExtensionState.FAILED
    assert f"{base_url}/missing.sh" in message and "404" in message


async def test_a_base64_script_runs_like_a_command(pkit: Kit) -> None:
    script = base64.b64encode(b'echo scripted >> "$SCALESET_DATA_DISK_0/runs"\n').decode()
    extension = custom_script("script", "", protected={"script": script})
    spec = pkit.spec(extensions=(extension,))
    await pkit.driver.create(spec)
    assert (await settled(pkit, spec))["script"][0] is ExtensionState.SUCCEEDED
    assert runs(pkit, spec) == ["scripted"]


async def test_other_extensions_are_recorded_and_application_health_succeeds(pkit: Kit) -> None:
    spec = pkit.spec(extensions=(
        ExtensionSpec("health", "Microsoft.ManagedServices", "ApplicationHealthLinux", "1.0", {"port": 8080}),
        ExtensionSpec("agent", "Contoso", "MonitoringAgent", "1.0"),
    ))  # fmt: skip
    await pkit.driver.create(spec)
    status = await settled(pkit, spec)
    assert status["health"][0] is ExtensionState.SUCCEEDED
    assert status["agent"] == (
        ExtensionState.SUCCEEDED,
        "Contoso.MonitoringAgent recorded but not executed by the process driver",
    )


async def test_protected_settings_are_used_but_never_written_to_disk(pkit: Kit, file_server: tuple[str, Path]) -> None:
    base_url, served = file_server
    (served / "tool.sh").write_text('echo tool ran >> "$SCALESET_DATA_DISK_0/runs"\n')
    secret = f"s3cret-{uuid.uuid4().hex}"
    protected = {
        "commandToExecute": f'TOKEN={secret}; test -n "$TOKEN" && sh tool.sh',
        "fileUris": [f"{base_url}/tool.sh?sig={secret}"],
    }
    failing = {"fileUris": [f"{base_url}/nothing.sh?sig={secret}"], "commandToExecute": f"true {secret}"}
    spec = pkit.spec(extensions=(
        custom_script("uses-secret", "echo public-command-overridden", protected=protected),
        custom_script("fails-with-secret", "", protected=failing),
    ))  # fmt: skip
    await pkit.driver.create(spec)
    status = await settled(pkit, spec)
    assert status["uses-secret"][0] is ExtensionState.SUCCEEDED
    assert runs(pkit, spec) == ["tool ran"]
    assert status["fails-with-secret"][0] is ExtensionState.FAILED
    assert f"{base_url}/nothing.sh" in status["fails-with-secret"][1]

    root = pkit.driver.root
    for path in root.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"secret written to {path.relative_to(root)}"
    supervisor = read_json(MachineDir.for_key(root, spec.key).status)["supervisor"]["pid"]
    for view in ("cmdline", "environ"):
        assert secret.encode() not in Path(f"/proc/{supervisor}/{view}").read_bytes()


async def test_stop_ends_background_processes_that_extensions_left(pkit: Kit) -> None:
    extension = custom_script("daemon", 'sleep 300 > /dev/null 2>&1 & echo $! > "$SCALESET_DATA_DISK_0/daemon.pid"')
    spec = pkit.spec(extensions=(extension,))
    await pkit.driver.create(spec)
    assert (await settled(pkit, spec))["daemon"][0] is ExtensionState.SUCCEEDED
    pid = int((MachineDir.for_key(pkit.driver.root, spec.key).data_disk(0) / "daemon.pid").read_text())
    assert procfs.proc_info(pid) is not None and not procfs.proc_info(pid).gone
    await pkit.driver.stop(spec.key)
    info = procfs.proc_info(pid)
    assert info is None or info.gone


async def test_a_stop_during_an_extension_fails_it_as_interrupted(pkit: Kit) -> None:
    spec = pkit.spec(extensions=(custom_script("long", "sleep 300"),))
    await pkit.driver.create(spec)
    await pkit.driver.stop(spec.key)
    state, message = (await settled(pkit, spec))["long"]
    assert state is ExtensionState.FAILED and "interrupted" in message
    assert os.listdir(MachineDir.for_key(pkit.driver.root, spec.key).path)  # disks stay


async def test_an_extension_past_its_timeout_is_killed_and_failed(pkit: Kit) -> None:
    impatient = ProcessDriver(pkit.driver.root, stop_timeout=2.0, extension_timeout=0.3)
    spec = pkit.spec(extensions=(custom_script("hangs", "echo waiting; sleep 300"),))
    await impatient.create(spec)
    state, message = (await settled(pkit, spec))["hangs"]
    assert state is ExtensionState.FAILED
    assert "timed out after 0.3s" in message and "waiting" in message


async def test_waiting_for_extensions_gives_up_after_its_timeout(pkit: Kit) -> None:
    spec = pkit.spec(extensions=(custom_script("long", "sleep 300"),))
    await pkit.driver.create(spec)
    with pytest.raises(TimeoutError, match="still provisioning"):
        await wait_for_extensions(pkit.driver, spec.key, timeout=0.2)


async def test_create_after_an_interrupted_provisioning_provisions_again(pkit: Kit) -> None:
    spec = pkit.spec(custom_data=CUSTOM_DATA)
    await pkit.driver.create(spec)
    await pkit.driver.stop(spec.key)
    # As if the server died between laying down the OS disk and handing over to a supervisor.
    MachineDir.for_key(pkit.driver.root, spec.key).provision_pending.touch()
    assert (await pkit.driver.status(spec.key)).power_state is PowerState.STARTING
    with pytest.raises(DriverError, match="never fully provisioned"):
        await pkit.driver.start(spec.key)
    await pkit.driver.create(spec)
    assert len(runs(pkit, spec)) == 2  # custom data ran again


async def test_a_repeated_reimage_generation_runs_custom_data_once(pkit: Kit) -> None:
    script = b'#!/bin/sh\necho "$SCALESET_IMAGE" >> "$SCALESET_DATA_DISK_0/boots.log"\n'
    spec = pkit.spec("1.0.0", custom_data=script)
    await pkit.driver.create(spec)
    second = dataclasses.replace(pkit.respec(spec, "2.0.0"), generation=3)
    for _ in range(2):  # as a server resuming its intent after a crash would
        await pkit.driver.reimage(second)
        await wait_for_extensions(pkit.driver, spec.key)
    log = MachineDir.for_key(pkit.driver.root, spec.key).data_disk(0) / "boots.log"  # type: ignore[attr-defined]
    deadline = asyncio.get_running_loop().time() + 10
    while len(log.read_text().splitlines()) < 2 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert log.read_text().splitlines() == [urn("1.0.0"), urn("2.0.0")]
