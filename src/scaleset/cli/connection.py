"""Where the client finds its server: endpoint, token and CA, from flags, environment or data dir.

`scaleset serve` writes `<data-dir>/endpoint.json` (`{"url", "ca"}`) once it is listening, with the
token and CA beside it, so a client started next to a server needs no flags at all. Explicit flags
and environment variables (handled by click) always win over the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaleset.cli.errors import CliError

ENDPOINT_FILE = "endpoint.json"
TOKEN_FILE = "token"
CA_FILE = "ca.pem"


@dataclass(frozen=True)
class Connection:
    endpoint: str
    token: str | None
    ca: Path | None


def resolve_connection(
    *,
    data_dir: Path,
    endpoint: str | None = None,
    token: str | None = None,
    ca: Path | None = None,
) -> Connection:
    advertised = read_endpoint_file(data_dir / ENDPOINT_FILE)
    endpoint = endpoint or advertised.get("url")
    if not endpoint:
        raise CliError(
            "no scaleset endpoint: pass --endpoint, set SCALESET_ENDPOINT, or start "
            f"`scaleset serve` (it writes {data_dir / ENDPOINT_FILE} when ready)"
        )
    return Connection(
        endpoint=str(endpoint).rstrip("/"),
        token=token or _read_token(data_dir / TOKEN_FILE),
        ca=ca or _default_ca(data_dir, advertised.get("ca")),
    )


def read_endpoint_file(path: Path) -> dict[str, Any]:
    """The server's advertisement, or {} when no server has written one here."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        advertised = json.loads(text)
    except ValueError as error:
        raise CliError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(advertised, dict):
        raise CliError(f"{path} must hold a JSON object with a 'url'")
    return advertised


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _default_ca(data_dir: Path, advertised_ca: str | None) -> Path | None:
    if advertised_ca:
        # A relative path in endpoint.json means relative to the data dir, not to our cwd.
        return data_dir / advertised_ca
    candidate = data_dir / CA_FILE
    return candidate if candidate.is_file() else None
