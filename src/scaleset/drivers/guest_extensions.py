"""VM extensions as the process driver's supervisor runs them: order, CustomScript, the rest.

Standard library only (plus `base`, itself stdlib-only): the supervisor imports this.
"""

from __future__ import annotations

import base64
import gzip
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from scaleset.drivers.base import ExtensionState

# Starts a child in the machine, or returns None once the machine is stopping (so nothing new
# starts after the stop sweep).
Spawn = Callable[..., "subprocess.Popen[bytes] | None"]
Outcome = tuple[ExtensionState, str]

_CUSTOM_SCRIPT = {
    ("microsoft.azure.extensions", "customscript"),
    ("microsoft.compute", "customscriptextension"),
}
_APPLICATION_HEALTH = {
    ("microsoft.managedservices", "applicationhealthlinux"),
    ("microsoft.managedservices", "applicationhealthwindows"),
}
_OUTPUT_TAIL = 2000
INTERRUPTED = "interrupted: the machine stopped before the extension finished"
CYCLE = "provisionAfterExtensions forms a cycle through this extension; it did not run"


@dataclass
class ExtensionRun:
    """One extension to run, with what the machine gives it."""

    spec: dict[str, Any]  # an extension of spec.json: name, publisher, type, settings, provision_after
    protected: dict[str, Any]
    workdir: Path
    env: dict[str, str]
    spawn: Spawn
    should_stop: Callable[[], bool]
    timeout: float
    download_timeout: float


def provision_order(extensions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Model order, except that an extension comes after those it names in provision_after.

    Returns (runnable in order, caught in a cycle). Names that match no extension are ignored, as
    they constrain nothing here.
    """
    names = {e["name"] for e in extensions}
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []
    remaining = list(extensions)
    while remaining:
        for ext in remaining:
            if all(dep in done for dep in ext.get("provision_after", ()) if dep in names):
                break
        else:
            return ordered, remaining
        ordered.append(ext)
        done.add(ext["name"])
        remaining.remove(ext)
    return ordered, []


def is_custom_script(spec: dict[str, Any]) -> bool:
    return _kind(spec) in _CUSTOM_SCRIPT


def not_run_outcome(spec: dict[str, Any], driver: str) -> Outcome:
    """What an extension that is not a CustomScript reports: machines run nothing for it."""
    if _kind(spec) in _APPLICATION_HEALTH:
        return ExtensionState.SUCCEEDED, "Application health settings recorded; the control plane probes them"
    return ExtensionState.SUCCEEDED, f"{spec.get('publisher')}.{spec.get('type')} recorded but not executed by the {driver} driver"


def custom_script_config(spec: dict[str, Any], protected: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A CustomScript's settings merged with its protected ones, and its fileUris.

    Raises ValueError when fileUris is not a list of URLs.
    """
    config = {**(spec.get("settings") or {}), **protected}
    uris = config.get("fileUris") or []
    if not isinstance(uris, list) or not all(isinstance(uri, str) for uri in uris):
        raise ValueError("fileUris must be a list of URLs")
    return config, uris


def custom_script_program(config: dict[str, Any]) -> tuple[str | None, bytes]:
    """(commandToExecute, b"") or (None, the decoded script): what a CustomScript runs.

    `script` wins over `commandToExecute`, as in Azure. Raises ValueError naming what is wrong.
    """
    command, script = config.get("commandToExecute"), config.get("script")
    if script:
        try:
            return None, decode_script(script)
        except ValueError as exc:
            raise ValueError(f"script is not base64 (optionally gzipped): {exc}") from None
    if isinstance(command, str) and command:
        return command, b""
    raise ValueError("neither commandToExecute nor script is set")


def _kind(spec: dict[str, Any]) -> tuple[str, str]:
    return str(spec.get("publisher", "")).lower(), str(spec.get("type", "")).lower()


def run_extension(run: ExtensionRun) -> Outcome | None:
    """The extension's final state and message, or None if the machine stopped meanwhile."""
    if is_custom_script(run.spec):
        return _custom_script(run)
    return not_run_outcome(run.spec, "process")


def _custom_script(run: ExtensionRun) -> Outcome | None:
    try:
        config, uris = custom_script_config(run.spec, run.protected)
    except ValueError as error:
        return ExtensionState.FAILED, str(error)
    downloads = run.workdir / "download"
    shutil.rmtree(downloads, ignore_errors=True)
    downloads.mkdir(parents=True)
    for uri in uris:
        if run.should_stop():
            return None
        try:
            download(uri, downloads, timeout=run.download_timeout)
        except Exception as exc:  # noqa: BLE001 - any failure is the extension's failure, reported
            return ExtensionState.FAILED, download_failure(uri, exc)

    try:
        command, script_bytes = custom_script_program(config)
    except ValueError as exc:
        return ExtensionState.FAILED, str(exc)
    if command is None:
        # Through a pipe, not a file: the script may come from protected settings.
        argv, stdin = ["/bin/sh", "-s"], subprocess.PIPE
    else:
        argv, stdin = ["/bin/sh", "-c", command], subprocess.DEVNULL

    output = run.workdir / "output.log"
    with open(output, "wb") as out:
        proc = run.spawn(argv, cwd=downloads, env=run.env, stdin=stdin, stdout=out, stderr=subprocess.STDOUT)
    if proc is None:
        return None
    if command is None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(script_bytes)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    code = wait_for_exit(proc, timeout=run.timeout, should_stop=run.should_stop)
    if code is None:
        return None
    tail = _tail(output)
    if code == "timeout":
        return ExtensionState.FAILED, f"command timed out after {run.timeout:g}s: {tail}"
    if code == 0:
        return ExtensionState.SUCCEEDED, f"Enable succeeded: {tail}" if tail else "Enable succeeded"
    return ExtensionState.FAILED, f"command exited with code {code}: {tail}"


def settle_interrupted(statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Extension statuses once nothing runs them any more: whatever was under way failed."""
    return [
        {**s, "state": ExtensionState.FAILED.value, "message": INTERRUPTED}
        if s.get("state") == ExtensionState.TRANSITIONING
        else s
        for s in statuses
    ]


def download(uri: str, dest: Path, *, timeout: float) -> Path:
    import urllib.request  # only extensions with files pay for importing http and ssl

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https", "file"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} (use http, https or file)")
    name = Path(unquote(parts.path)).name or "download"
    with urllib.request.urlopen(uri, timeout=timeout) as response, open(dest / name, "wb") as f:
        shutil.copyfileobj(response, f)
    return dest / name


def download_failure(uri: str, exc: Exception) -> str:
    reason = _reason(exc)
    # Some errors quote the URL they failed on (a file: URL names its path and query).
    parts = urlsplit(uri)
    for secret in (parts.query, parts.fragment, parts.netloc.rpartition("@")[0]):
        if secret:
            reason = reason.replace(secret, "***")
    return f"failed to download {redact_url(uri)}: {reason}"


def redact_url(uri: str) -> str:
    # Messages are stored in status.json; a query string or user info may hold a SAS token or a
    # password from protected settings.
    parts = urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _reason(exc: Exception) -> str:
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def decode_script(script: str) -> bytes:
    data = base64.b64decode(script, validate=True)
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def wait_for_exit(
    proc: subprocess.Popen[bytes], *, timeout: float, should_stop: Callable[[], bool]
) -> int | str | None:
    """The exit code, "timeout" (the command was killed), or None if the machine is stopping."""
    deadline = time.monotonic() + timeout
    while (code := proc.poll()) is None:
        if should_stop():
            return None
        if time.monotonic() > deadline:
            _kill_group(proc.pid)
            proc.wait()
            return "timeout"
        time.sleep(0.05)
    if should_stop():
        # The stop terminates the machine's whole session, this command with it: seen ending only
        # now, it was interrupted, not failed (with the signal's exit code).
        return None
    return code


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - _OUTPUT_TAIL))
        return f.read().decode("utf-8", "replace").strip()
