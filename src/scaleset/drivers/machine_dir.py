"""The on-disk layout of one process-driver machine, shared by the driver and its supervisor.

Standard library only: the supervisor imports this and must start fast.

    <root>/<key>/
        os/                  OS disk: a fresh copy of the image artifact on every create and reimage
        data/<lun>/          data disks: survive reimage, go only with delete
        spec.json            the instance spec without protected settings
        status.json          written by the supervisor while it lives (atomically)
        customdata           decoded custom data (mode 0600), when the spec has any
        provision-pending    present from the start of create/reimage until a supervisor takes over
        deallocated          present from deallocate until the next start
        extensions/<name>/   per-extension downloads and output
        logs/                supervisor, custom data and boot output
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote


class MachineDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_key(cls, root: Path, key: str) -> MachineDir:
        # Keys are opaque to drivers (they may hold '/'); quoting keeps each one a single path
        # component and stays reversible. A leading dot would allow '.' and '..'.
        name = quote(key, safe="")
        if name.startswith("."):
            name = "%2E" + name[1:]
        return cls(root / name)

    @property
    def os_disk(self) -> Path:
        return self.path / "os"

    def data_disk(self, lun: int) -> Path:
        return self.path / "data" / str(lun)

    @property
    def spec(self) -> Path:
        return self.path / "spec.json"

    @property
    def status(self) -> Path:
        return self.path / "status.json"

    @property
    def custom_data(self) -> Path:
        return self.path / "customdata"

    @property
    def provision_pending(self) -> Path:
        return self.path / "provision-pending"

    @property
    def deallocated(self) -> Path:
        return self.path / "deallocated"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    def extension_dir(self, name: str) -> Path:
        return self.path / "extensions" / (re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "_")


def write_json_atomic(path: Path, document: Any) -> None:
    """Readers see the old document or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(document, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner may read (custom data, secrets on their way to a machine)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def read_json(path: Path) -> Any:
    """The document at `path`, or None if there is none (or it is being replaced by a crash)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
