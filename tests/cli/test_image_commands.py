"""`vm image list|show` and `image publish` against a real local HTTP server."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from pathlib import Path

from tests.cli.arm_server import ArmServer, Reply
from tests.cli.conftest import SUB, Run
from tests.cli.test_artifact import make_os_disk

LOC = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope"
VERSION = f"{LOC}/publishers/Canonical/artifacttypes/vmimage/offers/UbuntuServer/skus/16.04-LTS/versions/16.04.201811140"


def names(*items: str) -> Reply:
    return Reply(200, [{"name": item, "location": "westeurope", "id": f"/x/{item}"} for item in items])


def catalogue(server: ArmServer) -> None:
    server.on("GET", f"{LOC}/publishers", names("Canonical", "MicrosoftWindowsServer", "contoso"))
    server.on("GET", f"{LOC}/publishers/Canonical/artifacttypes/vmimage/offers", names("UbuntuServer", "Debian"))
    server.on("GET", f"{LOC}/publishers/contoso/artifacttypes/vmimage/offers", names("ubuntu-app"))
    server.on("GET", f"{LOC}/publishers/MicrosoftWindowsServer/artifacttypes/vmimage/offers", names("WindowsServer"))
    server.on("GET", f"{LOC}/publishers/Canonical/artifacttypes/vmimage/offers/UbuntuServer/skus", names("16.04-LTS", "18.04-LTS"))
    server.on("GET", f"{LOC}/publishers/contoso/artifacttypes/vmimage/offers/ubuntu-app/skus", names("v1"))
    server.on("GET", f"{LOC}/publishers/Canonical/artifacttypes/vmimage/offers/Debian/skus", names("12"))
    server.on(
        "GET",
        f"{LOC}/publishers/Canonical/artifacttypes/vmimage/offers/UbuntuServer/skus/16.04-LTS/versions",
        names("16.04.201809120", "16.04.201811140", "16.04.20181114"),
    )
    server.on("GET", f"{LOC}/publishers/Canonical/artifacttypes/vmimage/offers/UbuntuServer/skus/18.04-LTS/versions", names())
    server.on("GET", f"{LOC}/publishers/contoso/artifacttypes/vmimage/offers/ubuntu-app/skus/v1/versions", names("1.0.0"))


def test_list_walks_the_catalogue_with_case_insensitive_substring_filters(server: ArmServer, run: Run) -> None:
    catalogue(server)

    result = run("vm", "image", "list", "-l", "westeurope", "--offer", "UBUNTU", "--all")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"architecture": "x64", "offer": "UbuntuServer", "publisher": "Canonical", "sku": "16.04-LTS",
         "urn": f"Canonical:UbuntuServer:16.04-LTS:{version}", "version": version}
        for version in ("16.04.201809120", "16.04.201811140", "16.04.20181114")
    ] + [
        {"architecture": "x64", "offer": "ubuntu-app", "publisher": "contoso", "sku": "v1",
         "urn": "contoso:ubuntu-app:v1:1.0.0", "version": "1.0.0"}
    ]
    # Offers of every publisher were listed, skus only under matching offers.
    assert not server.calls("GET", "Debian/skus")
    assert not server.calls("GET", "WindowsServer/skus")
    assert {r.api_version for r in server.requests} == {"2024-03-01"}


def test_list_table_and_publisher_sku_filters(server: ArmServer, run: Run) -> None:
    catalogue(server)
    result = run("vm", "image", "list", "-l", "westeurope", "-p", "canon", "-s", "16.04", "-o", "table")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Architecture", "Offer", "Publisher", "Sku", "Urn", "Version"]
    assert len(lines) == 5
    assert lines[2].split()[4] == "Canonical:UbuntuServer:16.04-LTS:16.04.201809120"
    assert not server.calls("GET", "contoso/artifacttypes")


def test_show_resolves_latest_to_the_highest_version(server: ArmServer, run: Run) -> None:
    catalogue(server)
    image = {"name": "16.04.201811140", "location": "westeurope",
             "properties": {"osDiskImage": {"operatingSystem": "Linux"},
                            "automaticOSUpgradeProperties": {"automaticOSUpgradeSupported": True}}}
    server.on("GET", VERSION, Reply(200, image))

    result = run("vm", "image", "show", "--urn", "Canonical:UbuntuServer:16.04-LTS:latest", "-l", "westeurope", "-o", "tsv")

    assert result.exit_code == 0, result.output
    assert result.stdout == "16.04.201811140\twesteurope\tLinux\tTrue\n"
    assert server.requests[-1].path == VERSION


def test_show_of_a_missing_version_exits_3(server: ArmServer, run: Run) -> None:
    result = run("vm", "image", "show", "--urn", "a:b:c:1.0", "-l", "westeurope")
    assert result.exit_code == 3


def _published(server: ArmServer) -> None:
    server.on(
        "PUT",
        VERSION,
        handler=lambda request: Reply(201, {"name": "16.04.201811140", "location": "westeurope", "size": len(request.body)}),
    )


def _publish(run: Run, artifact: Path, *extra: str) -> object:
    return run(
        "image", "publish", "-l", "westeurope", "-p", "Canonical", "-f", "UbuntuServer",
        "-s", "16.04-LTS", "--version", "16.04.201811140", "--artifact", str(artifact), *extra,
    )


def test_publish_packs_a_directory_keeping_the_executable_bit(server: ArmServer, run: Run, tmp_path: Path) -> None:
    _published(server)
    disk = make_os_disk(tmp_path / "disk")

    result = _publish(run, disk)

    assert result.exit_code == 0, result.output
    (put,) = server.requests
    assert put.path == VERSION
    assert put.query == {"api-version": ["2024-03-01"], "osType": ["Linux"]}
    assert put.headers["content-type"] == "application/gzip"
    assert int(put.headers["content-length"]) == len(put.body)
    with tarfile.open(fileobj=io.BytesIO(put.body), mode="r:gz") as tar:
        boot = tar.getmember("boot")
        assert stat.S_IMODE(boot.mode) & 0o111 == 0o111
        assert tar.extractfile(boot).read() == b"#!/bin/sh\nexec sleep 1000\n"
        assert not stat.S_IMODE(tar.getmember("etc.conf").mode) & 0o111
    assert json.loads(result.stdout) == {"location": "westeurope", "name": "16.04.201811140", "size": len(put.body)}


def test_publish_sends_a_tarball_and_a_json_image_byte_for_byte(server: ArmServer, run: Run, tmp_path: Path) -> None:
    _published(server)
    tarball = tmp_path / "disk.tar.gz"
    tarball.write_bytes(b"\x1f\x8b not really gzip, but sent as-is" * 1000)
    simulated = tmp_path / "sim.json"
    simulated.write_text('{"bootSeconds": 30}')

    assert _publish(run, tarball, "--os-type", "windows").exit_code == 0
    assert _publish(run, simulated).exit_code == 0

    first, second = server.requests
    assert (first.headers["content-type"], first.body) == ("application/gzip", tarball.read_bytes())
    assert first.query["osType"] == ["Windows"]
    assert (second.headers["content-type"], second.body) == ("application/json", b'{"bootSeconds": 30}')


def test_publish_refusal_shows_the_arm_error(server: ArmServer, run: Run, tmp_path: Path) -> None:
    server.on("PUT", VERSION, Reply(409, {"error": {"code": "Conflict", "message": "Version exists."}}))
    tarball = tmp_path / "disk.tgz"
    tarball.write_bytes(b"x")
    result = _publish(run, tarball)
    assert result.exit_code == 1
    assert result.stderr.strip() == "(Conflict) Version exists."


def test_publish_refuses_unknown_artifact_kinds_before_sending(server: ArmServer, run: Run, tmp_path: Path) -> None:
    disk = tmp_path / "disk.vhd"
    disk.write_bytes(b"conectix")
    result = _publish(run, disk)
    assert result.exit_code == 2
    assert server.requests == []
