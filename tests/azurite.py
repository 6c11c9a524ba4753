"""Azurite, Microsoft's Azure Storage emulator, as a pytest fixture: a real blob endpoint on loopback.

The blob service comes from the npm package `azurite` (`.ci/run` installs it). It is found through
`AZURITE_BLOB` (the `azurite-blob` executable; set, it must work, so CI cannot skip quietly), else
under `~/.cache/scaleset/azurite` (`npm install --prefix ~/.cache/scaleset/azurite azurite@3`), else
on PATH. Without it, tests that use the fixture are skipped, saying how to install it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

# Azurite's well-known development account: public, documented, the same in every installation.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CACHE = Path.home() / ".cache" / "scaleset" / "azurite"
INSTALL_HINT = "npm install --prefix ~/.cache/scaleset/azurite azurite@3 (or set AZURITE_BLOB to azurite-blob)"


@dataclass(frozen=True)
class Azurite:
    port: int
    location: Path

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={self.blob_endpoint};")

    def sas_url(self, container: str, blob: str, *, expires_in: float) -> str:
        """A read-only SAS URL for one blob, valid from a minute ago until `expires_in` seconds from now."""
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        now = datetime.now(timezone.utc)
        token = generate_blob_sas(ACCOUNT, container, blob, account_key=ACCOUNT_KEY,
                                  permission=BlobSasPermissions(read=True),
                                  start=now - timedelta(minutes=1), expiry=now + timedelta(seconds=expires_in))
        return f"{self.blob_endpoint}/{container}/{blob}?{token}"


def azurite_blob_executable() -> str | None:
    """The azurite-blob to run, or None when none is installed."""
    given = os.environ.get("AZURITE_BLOB")
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            pytest.fail(f"AZURITE_BLOB={given} is not an executable; install Azurite with: {INSTALL_HINT}")
        return given
    cached = CACHE / "node_modules" / ".bin" / "azurite-blob"
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("azurite-blob")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def azurite(tmp_path: Path) -> Iterator[Azurite]:
    """A fresh azurite-blob on a free loopback port with its data in a temp dir; stopped afterwards."""
    executable = azurite_blob_executable()
    if executable is None:
        pytest.skip(f"Azurite is not installed: {INSTALL_HINT}")
    if shutil.which("node") is None and not os.environ.get("AZURITE_BLOB"):
        pytest.skip(f"Azurite needs Node.js, which is not installed: {INSTALL_HINT}")
    location = tmp_path / "azurite"
    location.mkdir()
    log_path = location.parent / "azurite.log"
    for _attempt in range(3):  # the free port may be taken between finding and binding it
        port = _free_port()
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [executable, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(location),
                 "--skipApiVersionCheck", "--loose", "--silent"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if _answers(process, port, timeout=30):
            break
        _stop(process)
    else:
        raise RuntimeError(f"azurite-blob did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
    try:
        yield Azurite(port=port, location=location)
    finally:
        _stop(process)


def _answers(process: subprocess.Popen[bytes], port: int, *, timeout: float) -> bool:
    """Any HTTP answer from the blob endpoint counts: an error status still means it serves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            httpx.get(f"http://127.0.0.1:{port}/{ACCOUNT}?comp=list", timeout=2)
            return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
