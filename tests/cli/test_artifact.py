from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from scaleset.cli.artifact import content_type_of, open_artifact, pack_directory
from scaleset.cli.errors import CliError


def make_os_disk(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "boot").write_text("#!/bin/sh\nexec sleep 1000\n")
    (root / "boot").chmod(0o755)
    (root / "bin" / "health").write_text("#!/bin/sh\n")
    (root / "bin" / "health").chmod(0o750)
    (root / "etc.conf").write_text("x=1\n")
    (root / "etc.conf").chmod(0o644)
    os.symlink("boot", root / "start")
    return root


def test_pack_directory_keeps_modes_symlinks_and_no_top_folder(tmp_path: Path) -> None:
    root = make_os_disk(tmp_path / "disk")
    buffer = io.BytesIO()
    pack_directory(root, buffer)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer, mode="r:gz") as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert set(members) == {"bin", "bin/health", "boot", "etc.conf", "start"}
    assert stat.S_IMODE(members["boot"].mode) == 0o755
    assert stat.S_IMODE(members["bin/health"].mode) == 0o750
    assert stat.S_IMODE(members["etc.conf"].mode) == 0o644
    assert members["start"].issym() and members["start"].linkname == "boot"
    assert {(m.uid, m.gid, m.uname) for m in members.values()} == {(0, 0, "")}


def test_open_artifact_streams_a_packed_directory_with_its_size(tmp_path: Path) -> None:
    root = make_os_disk(tmp_path / "disk")
    with open_artifact(root) as artifact:
        data = b"".join(artifact.chunks())
    assert artifact.content_type == "application/gzip"
    assert len(data) == artifact.size and data[:2] == b"\x1f\x8b"


def test_open_artifact_sends_files_as_they_are(tmp_path: Path) -> None:
    image = tmp_path / "sim.json"
    image.write_text('{"bootSeconds": 3}')
    with open_artifact(image) as artifact:
        assert (artifact.content_type, b"".join(artifact.chunks())) == (
            "application/json",
            b'{"bootSeconds": 3}',
        )


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("a.tar.gz", "application/gzip"), ("A.TGZ", "application/gzip"), ("s.json", "application/json")],
)
def test_content_type_by_suffix(name: str, content_type: str) -> None:
    assert content_type_of(Path(name)) == content_type


def test_other_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="directory, a .tar.gz"):
        content_type_of(tmp_path / "disk.vhd")


def test_a_qcow2_disk_goes_as_it_is(tmp_path: Path) -> None:
    assert content_type_of(tmp_path / "Disk.QCOW2") == "application/octet-stream"
