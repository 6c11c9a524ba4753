"""Encryption at rest for secrets the API accepts but never returns.

`adminPassword` and extension `protectedSettings` are stored as opaque tokens, so a copy of the
database (a backup, a replica, a bug report) does not leak them. Fernet gives authenticated
encryption: a token encrypted under another key, or tampered with, fails loudly instead of
decrypting to garbage.

The key comes from `SCALESET_SECRET_KEY` when set (several replicas must share one key, and an
operator may keep it out of the data directory), otherwise from `<data-dir>/secret.key`, created on
first use.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

ENV_KEY = "SCALESET_SECRET_KEY"
KEY_FILE = "secret.key"


class SecretError(Exception):
    """A secret could not be encrypted or decrypted, or the key is unusable."""


class SecretBox:
    def __init__(self, key: bytes | str, *, source: str = "the given key") -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise SecretError(
                f"{source} is not a valid secret key (expected 32 url-safe base64-encoded bytes, "
                f"as made by `Fernet.generate_key()`)"
            ) from exc
        # Named in errors, so an operator knows which key to check.
        self._source = source

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> SecretBox:
        env = os.environ.get(ENV_KEY)
        if env:
            return cls(env.strip(), source=f"${ENV_KEY}")
        path = Path(data_dir) / KEY_FILE
        return cls(_load_or_create_key(path), source=str(path))

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, obj: Any) -> str:
        try:
            plain = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise SecretError(f"secret is not JSON-serializable: {exc}") from exc
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> Any:
        try:
            plain = self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise SecretError(
                f"cannot decrypt a stored secret with the key from {self._source}: it was "
                f"encrypted with a different key, or the stored value is corrupt"
            ) from exc
        return json.loads(plain)


def _load_or_create_key(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write the key fully to a private temp file, then hard-link it into place: the link fails if
    # another process won the race, and then both use the winner's key rather than each their own.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:  # mkstemp creates the file 0600
            f.write(Fernet.generate_key() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path.read_bytes().strip()
