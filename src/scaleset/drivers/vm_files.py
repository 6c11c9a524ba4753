"""What a QEMU VM is on the host: its directory, and the files the driver makes in it.

Standard library only, like `machine_dir`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from scaleset.drivers.base import DriverError, InstanceSpec
from scaleset.drivers.machine_dir import MachineDir, write_private


class VmDir(MachineDir):
    """The files of one VM.

        <root>/<key>/
            spec.json          the instance spec without protected settings
            state.json         the running QEMU (pid, start time), forwarded ports, size
            os.qcow2           OS disk: an overlay on the image's base
            data/<lun>.img     data disks: raw ext4, survive reimage
            seed/              cloud-init NoCloud seed (meta-data, user-data), served as a FAT disk
            provision-pending  from the start of create/reimage until QEMU runs with the new disk
            deallocated        from deallocate until the next start
            logs/console.log   the guest's first serial port
            logs/status.log    its second: extension reports and readiness
    """

    @property
    def os_disk(self) -> Path:
        return self.path / "os.qcow2"

    def data_disk(self, lun: int) -> Path:
        return self.path / "data" / f"{lun}.img"

    @property
    def state(self) -> Path:
        return self.path / "state.json"

    @property
    def seed(self) -> Path:
        return self.path / "seed"

    @property
    def pidfile(self) -> Path:
        return self.path / "qemu.pid"

    @property
    def console(self) -> Path:
        return self.logs / "console.log"

    @property
    def status_channel(self) -> Path:
        return self.logs / "status.log"

    @property
    def qmp_socket(self) -> Path:
        # Unix socket paths are limited to 107 bytes; a machine directory may be deeper than that.
        digest = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:24]
        return Path(tempfile.gettempdir()) / f"scaleset-qmp-{os.getuid()}" / f"{digest}.sock"


@contextlib.contextmanager
def secret_files(directory: Path, secrets: dict[str, bytes]) -> Iterator[dict[str, Path]]:
    """Files for fw_cfg, mode 0600, removed once QEMU has loaded them (it reads them at launch)."""
    paths: dict[str, Path] = {}
    try:
        for name, content in secrets.items():
            path = directory / f".{name}"
            write_private(path, content)
            paths[name] = path
        yield paths
    finally:
        for path in paths.values():
            path.unlink(missing_ok=True)


def write_seed(seed: Path, spec: InstanceSpec) -> None:
    """A cloud-init NoCloud seed: what stock cloud images read at first boot of an OS disk."""
    shutil.rmtree(seed, ignore_errors=True)
    seed.mkdir(mode=0o700)
    # A new instance-id per OS disk: cloud-init runs user data once per instance-id.
    (seed / "meta-data").write_text(
        f"instance-id: {re.sub(r'[^A-Za-z0-9-]', '-', spec.key)}-{spec.generation}-{os.urandom(4).hex()}\n"
        f"local-hostname: {spec.computer_name}\n"
    )
    write_private(seed / "user-data", spec.custom_data if spec.custom_data is not None else b"#cloud-config\n{}\n")


def make_data_disk(path: Path, lun: int, size_mib: int) -> None:
    staging = path.with_name(path.name + ".new")
    with open(staging, "wb") as f:
        f.truncate(size_mib << 20)
    run_tool(["mkfs.ext4", "-q", "-F", "-L", f"data{lun}", str(staging)])
    staging.replace(path)


def run_tool(argv: list[str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError:
        raise DriverError(f"{argv[0]} is not installed (apt-get install qemu-utils e2fsprogs)") from None
    if done.returncode != 0:
        raise DriverError(f"{' '.join(argv[:2])} failed: {done.stderr.strip()}")


def read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
