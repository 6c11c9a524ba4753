"""Image artifacts that are file trees, and the process driver's one: a directory with an executable `boot` at its top.

Uploaded as a directory or a tarball (.tar.gz; other tar compressions work too), either with
`boot` at the top or with a single top-level directory holding it. Unpacking refuses anything
that could write outside `dest`: absolute names, `..` components, links pointing out, and device
or fifo entries.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

from scaleset.drivers.base import InvalidArtifact


def unpack_boot_artifact(upload: Path, dest: Path) -> None:
    """Unpack `upload` into the empty directory `dest` and check it; blocking.

    On InvalidArtifact `dest` is left empty.
    """
    unpack_tree(upload, dest, top="boot", check=_check_boot)


def unpack_tree(upload: Path, dest: Path, *, top: str, check: Callable[[Path], None]) -> None:
    """Unpack a directory or tarball into `dest`, hoisting a single top-level directory that holds
    `top`, then `check(dest)`; blocking. Shared by the drivers whose artifacts are file trees.

    On InvalidArtifact `dest` is left empty.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if upload.is_dir():
            _copy_tree(upload, dest)
        elif upload.is_file():
            _extract_tar(upload, dest)
        else:
            raise InvalidArtifact(f"{upload.name}: no such file or directory")
        _hoist_single_directory(dest, top)
        check(dest)
    except InvalidArtifact:
        empty_directory(dest)
        raise


def _extract_tar(upload: Path, dest: Path) -> None:
    try:
        with tarfile.open(upload, "r:*") as tar:
            for member in tar.getmembers():
                _check_member(member)
            # Belt and braces: the "data" filter enforces the same limits (Python >= 3.11.4).
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, filter="data")
            else:  # pragma: no cover - older 3.11 patch releases
                tar.extractall(dest)
    except InvalidArtifact:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise InvalidArtifact(f"{upload.name} is neither a directory nor a readable .tar.gz archive: {exc}") from exc


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or posixpath.isabs(name):
        raise InvalidArtifact(f"archive member {name!r} has an absolute path")
    if ".." in Path(name).parts:
        raise InvalidArtifact(f"archive member {name!r} reaches outside the artifact with '..'")
    if member.issym():
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if posixpath.isabs(member.linkname) or target == ".." or target.startswith("../"):
            raise InvalidArtifact(f"archive member {name!r} links outside the artifact ({member.linkname!r})")
    elif member.islnk():
        target = posixpath.normpath(member.linkname)
        if posixpath.isabs(target) or target == ".." or target.startswith("../"):
            raise InvalidArtifact(f"archive member {name!r} links outside the artifact ({member.linkname!r})")
    elif not (member.isfile() or member.isdir()):
        raise InvalidArtifact(f"archive member {name!r} is a device or fifo; only files, directories and links")


def _copy_tree(upload: Path, dest: Path) -> None:
    root = upload.resolve()
    for dirpath, dirnames, filenames in os.walk(upload):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                target = (path.parent / os.readlink(path)).resolve()
                if not target.is_relative_to(root):
                    raise InvalidArtifact(f"{path.relative_to(upload)} links outside the artifact")
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise InvalidArtifact(f"{path.relative_to(upload)} is a device, fifo or socket")
    shutil.copytree(upload, dest, symlinks=True, dirs_exist_ok=True)


def _hoist_single_directory(dest: Path, top: str) -> None:
    entries = list(dest.iterdir())
    if (dest / top).exists() or len(entries) != 1:
        return
    inner = entries[0]
    if inner.is_symlink() or not inner.is_dir():
        return
    # Renamed first: the inner directory may hold an entry with its own name.
    staging = inner.rename(dest / f".unpack-{uuid.uuid4().hex}")
    for child in staging.iterdir():
        child.rename(dest / child.name)
    staging.rmdir()


def _check_boot(dest: Path) -> None:
    boot = dest / "boot"
    if not boot.exists() and not boot.is_symlink():
        raise InvalidArtifact("the artifact has no 'boot' file at its top")
    if not boot.resolve().is_relative_to(dest.resolve()):
        raise InvalidArtifact("'boot' links outside the artifact")
    if not boot.is_file():
        raise InvalidArtifact("'boot' is not a regular file")
    if not boot.stat().st_mode & stat.S_IXUSR:
        raise InvalidArtifact("'boot' is not executable (chmod +x boot)")


def empty_directory(dest: Path) -> None:
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
