"""The process driver's image artifacts: what installs, and what is refused."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from scaleset.drivers.base import InvalidArtifact
from scaleset.drivers.process import ProcessDriver

BOOT = b"#!/bin/sh\nexec sleep 300\n"


def tarball(path: Path, members: list[tuple[str, bytes | None, int]], *, links: dict[str, str] | None = None) -> Path:
    """A .tar.gz of (name, content or None for a directory, mode) members, plus symlinks name -> target."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content, mode in members:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


@pytest.fixture
def driver(tmp_path: Path) -> ProcessDriver:
    return ProcessDriver(tmp_path / "machines")


async def test_a_tarball_with_boot_at_its_top_installs(driver: ProcessDriver, tmp_path: Path) -> None:
    upload = tarball(tmp_path / "app.tar.gz", [("./boot", BOOT, 0o755), ("./lib", None, 0o755),
                                               ("./lib/data.txt", b"data", 0o644)])  # fmt: skip
    await driver.install_image(upload, tmp_path / "dest")
    assert (tmp_path / "dest" / "boot").read_bytes() == BOOT
    assert (tmp_path / "dest" / "boot").stat().st_mode & 0o100
    assert (tmp_path / "dest" / "lib" / "data.txt").read_text() == "data"


async def test_a_tarball_with_one_top_directory_is_unwrapped(driver: ProcessDriver, tmp_path: Path) -> None:
    # The inner directory holds an entry with its own name, which a naive move would trip over.
    upload = tarball(tmp_path / "app.tar.gz", [("app", None, 0o755), ("app/boot", BOOT, 0o755),
                                               ("app/app", b"same name", 0o644)])  # fmt: skip
    await driver.install_image(upload, tmp_path / "dest")
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["app", "boot"]
    assert (tmp_path / "dest" / "app").read_text() == "same name"


async def test_a_directory_installs_with_its_internal_links(driver: ProcessDriver, tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "boot").write_bytes(BOOT)
    (upload / "boot").chmod(0o755)
    (upload / "start").symlink_to("boot")
    await driver.install_image(upload, tmp_path / "dest")
    assert (tmp_path / "dest" / "start").readlink() == Path("boot")


@pytest.mark.parametrize(
    ("members", "links", "complaint"),
    [
        ([("readme", b"no boot here", 0o644)], None, "no 'boot'"),
        ([("boot", BOOT, 0o644)], None, "not executable"),
        ([("boot", None, 0o755)], None, "not a regular file"),
        ([("boot", BOOT, 0o755), ("../escaped", b"x", 0o644)], None, "'..'"),
        ([("boot", BOOT, 0o755), ("/tmp/absolute", b"x", 0o644)], None, "absolute"),
        ([("boot", BOOT, 0o755)], {"etc": "../../etc"}, "links outside"),
        ([("boot", BOOT, 0o755)], {"passwd": "/etc/passwd"}, "links outside"),
        ([], {"boot": "../../bin/sh"}, "links outside"),
    ],
)
async def test_bad_tarballs_are_refused_and_leave_nothing(
    driver: ProcessDriver, tmp_path: Path, members: list, links: dict | None, complaint: str
) -> None:
    upload = tarball(tmp_path / "bad.tar.gz", members, links=links)
    with pytest.raises(InvalidArtifact, match=complaint):
        await driver.install_image(upload, tmp_path / "deep" / "dest")
    assert list((tmp_path / "deep" / "dest").iterdir()) == []
    assert not (tmp_path / "deep" / "escaped").exists()


async def test_a_file_that_is_not_a_tarball_is_refused(driver: ProcessDriver, tmp_path: Path) -> None:
    upload = tmp_path / "image.tar.gz"
    upload.write_bytes(b"\x1f\x8b but not really gzip")
    with pytest.raises(InvalidArtifact, match="tar.gz"):
        await driver.install_image(upload, tmp_path / "dest")


async def test_a_directory_with_a_link_out_is_refused(driver: ProcessDriver, tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "boot").write_bytes(BOOT)
    (upload / "boot").chmod(0o755)
    (upload / "secrets").symlink_to("/etc")
    with pytest.raises(InvalidArtifact, match="links outside"):
        await driver.install_image(upload, tmp_path / "dest")


async def test_a_missing_upload_is_refused(driver: ProcessDriver, tmp_path: Path) -> None:
    with pytest.raises(InvalidArtifact, match="no such file"):
        await driver.install_image(tmp_path / "nothing.tar.gz", tmp_path / "dest")
