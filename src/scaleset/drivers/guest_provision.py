"""Provisioning inside a VM: the shell script that runs custom data and extensions in the guest,
and the status lines it sends back.

The qemu driver hands each fresh OS disk one POSIX sh script (through fw_cfg as
`opt/scaleset/provision`); the image runs it once per OS disk (see images/README.md). Everything
the guest needs is inside it: CustomScript files are downloaded by the host beforehand (the guest
may have no route to them) and embedded as base64, so the image needs only busybox. The script
reports each extension on the VM's second serial port, which the host keeps as a file:

    scaleset-extension <name, percent-quoted> <succeeded|failed> <message on one line>

The image itself writes `scaleset-ready` there once it has booted.
"""

from __future__ import annotations

import base64
import shlex
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from scaleset.drivers.base import ExtensionSpec, ExtensionState
from scaleset.drivers.guest_extensions import (
    CYCLE,
    custom_script_config,
    custom_script_program,
    download,
    download_failure,
    is_custom_script,
    not_run_outcome,
    provision_order,
)

STATUS_PREFIX = "scaleset-extension "
READY_LINE = "scaleset-ready"
_TAIL = 2000

_HEADER = """#!/bin/sh
# Made by the scaleset qemu driver for one OS disk; the image runs it once.
lib=/var/lib/scaleset
mkdir -p "$lib/extensions"
status() {
    printf 'scaleset-extension %s %s %s\\n' "$1" "$2" "$(printf '%s' "$3" | tr '\\n\\r' '  ' | tail -c {tail})" > /dev/ttyS1
}
finish() {
    out=$(tail -c {tail} "$2/output.log" | tr '\\n\\r' '  ')
    if [ "$3" = 0 ]; then
        if [ -n "$out" ]; then status "$1" succeeded "Enable succeeded: $out"; else status "$1" succeeded "Enable succeeded"; fi
    else
        status "$1" failed "command exited with code $3: $out"
    fi
}
if [ -f "$lib/customdata" ] && [ "$(head -c 2 "$lib/customdata")" = '#!' ]; then
    chmod 700 "$lib/customdata"
    timeout {custom_data_timeout} "$lib/customdata" > "$lib/customdata.log" 2>&1
fi
"""


@dataclass(frozen=True)
class ExtensionReport:
    state: ExtensionState
    message: str


def provision_script(
    extensions: Iterable[ExtensionSpec],
    *,
    extension_timeout: float,
    custom_data_timeout: float,
    download_timeout: float,
) -> bytes:
    """The script for one OS disk; blocking (it downloads CustomScript files)."""
    documents = [{"name": e.name, "publisher": e.publisher, "type": e.type, "settings": e.settings,
                  "protected": e.protected_settings, "provision_after": list(e.provision_after)} for e in extensions]
    ordered, cyclic = provision_order(documents)
    parts = [_HEADER.replace("{tail}", str(_TAIL)).replace("{custom_data_timeout}", str(int(custom_data_timeout)))]
    for extension in ordered:
        parts.append(_extension_part(extension, extension_timeout, download_timeout))
    for extension in cyclic:
        parts.append(_status(extension["name"], ExtensionState.FAILED, CYCLE))
    return "\n".join(parts).encode()


def _extension_part(extension: dict[str, Any], timeout: float, download_timeout: float) -> str:
    name = extension["name"]
    if not is_custom_script(extension):
        state, message = not_run_outcome(extension, "qemu")
        return _status(name, state, message)
    try:
        config, uris = custom_script_config(extension, extension["protected"])
        command, script = custom_script_program(config)
    except ValueError as error:
        return _status(name, ExtensionState.FAILED, str(error))
    files: list[tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory(prefix="scaleset-download-") as scratch:
        for uri in uris:
            try:
                path = download(uri, Path(scratch), timeout=download_timeout)
            except Exception as exc:  # noqa: BLE001 - any failure is the extension's failure, reported
                return _status(name, ExtensionState.FAILED, download_failure(uri, exc))
            files.append((path.name, path.read_bytes()))
    quoted = quote(name, safe="")
    directory = f'"$lib/extensions/"{shlex.quote(quoted)}'
    lines = [f"# extension {quoted}", f"dir={directory}", 'rm -rf "$dir"', 'mkdir -p "$dir/download"', 'cd "$dir/download"']
    for file_name, content in files:
        lines.append(f"printf '%s' {_b64(content)} | base64 -d > {shlex.quote(file_name)}")
    seconds = int(timeout)
    if command is None:
        lines.append(f"printf '%s' {_b64(script)} | base64 -d | timeout {seconds} sh -s > \"$dir/output.log\" 2>&1")
    else:
        lines.append(f"timeout {seconds} sh -c {shlex.quote(command)} > \"$dir/output.log\" 2>&1 < /dev/null")
    lines.append(f'finish {shlex.quote(quoted)} "$dir" $?')
    lines.append('cd "$lib"')
    return "\n".join(lines) + "\n"


def _status(name: str, state: ExtensionState, message: str) -> str:
    return f"status {shlex.quote(quote(name, safe=''))} {state.value} {shlex.quote(message)}\n"


def _b64(data: bytes) -> str:
    return shlex.quote(base64.b64encode(data).decode())


def read_reports(text: str) -> tuple[dict[str, ExtensionReport], int]:
    """The last report of each extension in a status channel's text, and how many times the guest
    said it was ready."""
    reports: dict[str, ExtensionReport] = {}
    ready = 0
    for line in text.splitlines():
        line = line.strip("\r\x00 ")
        if line == READY_LINE:
            ready += 1
        elif line.startswith(STATUS_PREFIX):
            fields = line[len(STATUS_PREFIX):].split(" ", 2)
            if len(fields) >= 2 and fields[1] in (ExtensionState.SUCCEEDED, ExtensionState.FAILED):
                reports[unquote(fields[0])] = ExtensionReport(ExtensionState(fields[1]), fields[2] if len(fields) > 2 else "")
    return reports, ready
