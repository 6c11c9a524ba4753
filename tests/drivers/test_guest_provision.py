"""The provisioning script the qemu driver hands a guest, and the status lines it reads back."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from scaleset.drivers.base import ExtensionSpec, ExtensionState
from scaleset.drivers.guest_extensions import CYCLE
from scaleset.drivers.guest_provision import ExtensionReport, provision_script, read_reports

TIMEOUTS = {"extension_timeout": 60.0, "custom_data_timeout": 30.0, "download_timeout": 5.0}


def custom_script(name: str, *, after: tuple[str, ...] = (), **settings: object) -> ExtensionSpec:
    return ExtensionSpec(name, "Microsoft.Azure.Extensions", "CustomScript", "2.1", settings=dict(settings),
                         provision_after=after)


def script_of(*extensions: ExtensionSpec) -> str:
    text = provision_script(extensions, **TIMEOUTS).decode()
    # Whatever it holds, it must be valid POSIX sh.
    subprocess.run(["sh", "-n"], input=text.encode(), check=True)
    return text


def test_reports_are_read_per_extension_the_last_one_winning() -> None:
    text = ("boot noise\nscaleset-extension my%20ext failed first try\r\n"
            "scaleset-extension my%20ext succeeded Enable succeeded: ok\n"
            "scaleset-extension other transitioning ignored\nscaleset-ready\nscaleset-ready\n")
    reports, ready = read_reports(text)
    assert reports == {"my ext": ExtensionReport(ExtensionState.SUCCEEDED, "Enable succeeded: ok")}
    assert ready == 2


def test_extensions_run_in_provision_order_and_a_cycle_fails_without_running() -> None:
    text = script_of(custom_script("b", after=("a",), commandToExecute="echo B"),
                     custom_script("a", commandToExecute="echo A"),
                     custom_script("x", after=("y",), commandToExecute="echo X"),
                     custom_script("y", after=("x",), commandToExecute="echo Y"))
    assert text.index("# extension a") < text.index("# extension b")
    assert "# extension x" not in text and "# extension y" not in text
    assert text.count(CYCLE) == 2


def test_files_are_downloaded_on_the_host_and_embedded(tmp_path: Path) -> None:
    (tmp_path / "setup.sh").write_text("echo from a file\n")
    text = script_of(custom_script("s", fileUris=[(tmp_path / "setup.sh").as_uri()], commandToExecute="sh setup.sh"))
    assert base64.b64encode(b"echo from a file\n").decode() in text
    assert "> setup.sh" in text


def test_a_failed_download_or_bad_settings_fail_the_extension_in_the_guest(tmp_path: Path) -> None:
    text = script_of(custom_script("gone", fileUris=[(tmp_path / "missing.sh").as_uri() + "?sig=SECRET"],
                                   commandToExecute="true"),
                     custom_script("empty"))
    assert "status gone failed 'failed to download file://" in text and "SECRET" not in text
    assert "status empty failed 'neither commandToExecute nor script is set'" in text


def test_other_extensions_are_recorded_not_run() -> None:
    text = script_of(ExtensionSpec("health", "Microsoft.ManagedServices", "ApplicationHealthLinux", "1.0"),
                     ExtensionSpec("agent", "Example", "Agent", "1.0"))
    assert "status health succeeded 'Application health settings recorded; the control plane probes them'" in text
    assert "status agent succeeded 'Example.Agent recorded but not executed by the qemu driver'" in text
