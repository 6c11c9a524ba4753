"""Image artifacts as `image publish` uploads them: a tarball, a directory packed into one, a qcow2
disk image, or a simulator image's JSON description.

A directory becomes a gzipped tarball of its contents (no top-level folder), with file modes kept:
an OS disk whose `boot` lost its executable bit would not start.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from scaleset.cli.errors import CliError

GZIP = "application/gzip"
JSON = "application/json"
DISK = "application/octet-stream"  # a disk image (.qcow2) for the qemu driver, sent as it is
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Artifact:
    content_type: str
    stream: BinaryIO
    size: int

    def chunks(self) -> Iterator[bytes]:
        # Streamed, not read whole: OS disk tarballs run to hundreds of megabytes.
        while chunk := self.stream.read(_CHUNK):
            yield chunk


@contextmanager
def open_artifact(path: Path) -> Iterator[Artifact]:
    if path.is_dir():
        with tempfile.TemporaryFile() as packed:
            pack_directory(path, packed)
            size = packed.tell()
            packed.seek(0)
            yield Artifact(GZIP, packed, size)
        return
    content_type = content_type_of(path)
    try:
        stream = path.open("rb")
    except OSError as error:
        raise CliError(f"cannot read the artifact {path}: {error.strerror or error}") from error
    with stream:
        yield Artifact(content_type, stream, path.stat().st_size)


def content_type_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return GZIP
    if name.endswith(".json"):
        return JSON
    if name.endswith(".qcow2"):
        return DISK
    raise CliError(
        f"cannot publish {path}: the artifact must be a directory, a .tar.gz (or .tgz) file, "
        "a .qcow2 disk image (qemu driver), or a .json simulator image",
        exit_code=2,
    )


def pack_directory(root: Path, out: BinaryIO) -> None:
    """Writes `root`'s contents to `out` as tar.gz, modes and symlinks kept, owners dropped."""
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for child in sorted(root.iterdir()):
            tar.add(child, arcname=child.name, filter=_anonymous)


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # The packer's user means nothing on the server; keep the archive the same from any account.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
