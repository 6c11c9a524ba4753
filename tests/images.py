"""Real image artifacts for tests: a tarball whose `boot` serves HTTP on the instance's own address."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

_BOOT = """#!/bin/sh
# An app that answers every GET with its image version and instance id, like a real service would.
exec {python} -c '
import http.server, os, json
version = {version_json}
healthy = {healthy!r}
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"version": version, "instance": os.environ["SCALESET_INSTANCE_ID"]}}).encode()
        self.send_response(200 if healthy else 503)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ["SCALESET_PRIVATE_IP"], {port}), Handler).serve_forever()
'
"""


def boot_image(folder: Path, *, version: str, port: int = 8080, healthy: bool = True) -> Path:
    """Build <folder>.tar.gz holding an executable `boot`; returns its path."""
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    boot = folder / "boot"
    boot.write_text(_BOOT.format(python=sys.executable, version_json=json.dumps(version), healthy=healthy, port=port))
    boot.chmod(0o755)
    (folder / "VERSION").write_text(version)
    archive = folder.with_suffix(".tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(folder.iterdir()):
            tar.add(item, arcname=item.name)
    return archive


def sim_image(path: Path, **knobs: object) -> Path:
    """A simulator image document."""
    document = {"bootSeconds": 0.05, "reimageSeconds": 0.05, "healthy": True, **knobs}
    path.write_text(json.dumps(document))
    return path
