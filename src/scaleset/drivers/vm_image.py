"""The qemu driver's image artifact: a bootable OS disk, optionally with a kernel to boot directly.

Uploaded as one of:
- a `.qcow2` file: booted by its own bootloader (SeaBIOS reads its boot sector);
- a directory or tarball holding `os.qcow2` and, for direct kernel boot, `kernel`, `initrd` and an
  optional one-line `cmdline`.

Installed, it is a directory of the artifact store (named by the upload's digest and never
deleted, so a base stays as long as any overlay refers to it) with `os.qcow2` made read-only and
`vm.json` saying how to boot it. A base must stand alone: a qcow2 with a backing file would make
every instance read some other host file, so it is refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scaleset.drivers.base import InvalidArtifact
from scaleset.drivers.boot_artifact import empty_directory, unpack_tree

QCOW2_MAGIC = b"QFI\xfb"
OS_DISK = "os.qcow2"
DEFAULT_CMDLINE = "console=ttyS0 panic=-1"
_MANIFEST = "vm.json"


@dataclass(frozen=True)
class VmImage:
    """An installed image: where its base disk is and how it boots."""

    base: Path
    kernel: Path | None
    initrd: Path | None
    cmdline: str

    @classmethod
    def load(cls, path: Path) -> VmImage:
        try:
            manifest = json.loads((path / _MANIFEST).read_text())
        except (OSError, ValueError):
            raise InvalidArtifact(f"{path} is not an installed qemu image (no {_MANIFEST})") from None
        return cls(
            base=path / OS_DISK,
            kernel=path / "kernel" if manifest.get("kernel") else None,
            initrd=path / "initrd" if manifest.get("initrd") else None,
            cmdline=str(manifest.get("cmdline") or DEFAULT_CMDLINE),
        )


def install_vm_image(upload: Path, dest: Path, *, qemu_img: str = "qemu-img") -> None:
    """Unpack and check `upload` into the empty directory `dest`; blocking. Raises InvalidArtifact."""
    if upload.is_file() and _starts_with(upload, QCOW2_MAGIC):
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(upload, dest / OS_DISK)
    else:
        unpack_tree(upload, dest, top=OS_DISK, check=lambda _: None)
    try:
        _check(dest, qemu_img)
    except InvalidArtifact:
        empty_directory(dest)
        raise


def _check(dest: Path, qemu_img: str) -> None:
    disk = dest / OS_DISK
    if not disk.is_file() or disk.is_symlink():
        raise InvalidArtifact(f"the artifact has no {OS_DISK} at its top (or a .qcow2 file on its own)")
    info = disk_info(disk, qemu_img)
    if info.get("format") != "qcow2":
        raise InvalidArtifact(f"{OS_DISK} is {info.get('format')!r}, not a qcow2 image")
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise InvalidArtifact(f"{OS_DISK} has a backing file ({info.get('backing-filename')}); flatten it first "
                              "(qemu-img convert -O qcow2 in.qcow2 out.qcow2)")
    manifest: dict[str, object] = {"kernel": False, "initrd": False, "cmdline": DEFAULT_CMDLINE}
    for name in ("kernel", "initrd"):
        path = dest / name
        if path.exists() or path.is_symlink():
            if path.is_symlink() or not path.is_file() or path.stat().st_size == 0:
                raise InvalidArtifact(f"{name} must be a non-empty regular file")
            manifest[name] = True
    if manifest["initrd"] and not manifest["kernel"]:
        raise InvalidArtifact("an initrd without a kernel: direct boot needs `kernel` too")
    cmdline = dest / "cmdline"
    if cmdline.is_file():
        text = cmdline.read_text(errors="replace").strip()
        if "\n" in text:
            raise InvalidArtifact("cmdline must be a single line")
        manifest["cmdline"] = text or DEFAULT_CMDLINE
    disk.chmod(0o444)  # bases are shared by every overlay on them: nothing may write one
    (dest / _MANIFEST).write_text(json.dumps(manifest))


def disk_info(disk: Path, qemu_img: str = "qemu-img") -> dict[str, object]:
    """`qemu-img info` of a disk image as JSON. Raises InvalidArtifact if it is not an image."""
    try:
        done = subprocess.run(
            [qemu_img, "info", "--output=json", "-U", str(disk)],
            capture_output=True, text=True, timeout=60, check=False,
        )
    except FileNotFoundError:
        raise InvalidArtifact(f"{qemu_img} is not installed (apt-get install qemu-utils)") from None
    if done.returncode != 0:
        raise InvalidArtifact(f"{disk.name} is not a readable disk image: {done.stderr.strip()}")
    info = json.loads(done.stdout)
    return info if isinstance(info, dict) else {}


def _starts_with(path: Path, magic: bytes) -> bool:
    with path.open("rb") as f:
        return f.read(len(magic)) == magic
