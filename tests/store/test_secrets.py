"""Secrets are encrypted at rest under a key that persists, and a wrong key fails loudly."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from scaleset.store.secrets import ENV_KEY, KEY_FILE, SecretBox, SecretError

PROTECTED = {
    "commandToExecute": "echo s3cr3t-Pa55w0rd && ./setup.sh",
    "storageAccountKey": "Zm9vYmFy",
    "nested": {"list": [1, 2.5, None, True], "unicode": "clé ☃"},
}


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)


@pytest.mark.parametrize("value", [PROTECTED, "P@ssw0rd!", [], {}, None, 42])
def test_round_trip(tmp_path: Path, value: object) -> None:
    box = SecretBox.from_data_dir(tmp_path)
    assert box.decrypt(box.encrypt(value)) == value


def test_token_is_text(tmp_path: Path) -> None:
    token = SecretBox.from_data_dir(tmp_path).encrypt(PROTECTED)
    assert isinstance(token, str)
    token.encode("ascii")


def test_ciphertext_does_not_contain_the_plaintext(tmp_path: Path) -> None:
    token = SecretBox.from_data_dir(tmp_path).encrypt(PROTECTED)
    assert "s3cr3t-Pa55w0rd" not in token
    raw = base64.urlsafe_b64decode(token)
    assert b"s3cr3t-Pa55w0rd" not in raw
    assert b"commandToExecute" not in raw


def test_same_secret_encrypts_differently_each_time(tmp_path: Path) -> None:
    box = SecretBox.from_data_dir(tmp_path)
    assert box.encrypt("P@ssw0rd!") != box.encrypt("P@ssw0rd!")


def test_key_file_is_created_private_and_persists(tmp_path: Path) -> None:
    token = SecretBox.from_data_dir(tmp_path).encrypt(PROTECTED)
    key_path = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = key_path.read_bytes()
    assert SecretBox.from_data_dir(tmp_path).decrypt(token) == PROTECTED
    assert key_path.read_bytes() == key


def test_missing_data_dir_is_created(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet"
    SecretBox.from_data_dir(data_dir).encrypt("x")
    assert (data_dir / KEY_FILE).exists()


def test_env_key_takes_precedence_and_writes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = SecretBox.generate_key()
    monkeypatch.setenv(ENV_KEY, key)
    token = SecretBox.from_data_dir(tmp_path).encrypt(PROTECTED)
    assert not (tmp_path / KEY_FILE).exists()
    assert SecretBox(key).decrypt(token) == PROTECTED


def test_wrong_key_fails_with_a_clear_error(tmp_path: Path) -> None:
    token = SecretBox.from_data_dir(tmp_path / "a").encrypt(PROTECTED)
    other = SecretBox.from_data_dir(tmp_path / "b")
    with pytest.raises(SecretError, match="different key") as info:
        other.decrypt(token)
    # The message says which key was used, so an operator knows what to fix.
    assert str(tmp_path / "b" / KEY_FILE) in str(info.value)


def test_wrong_env_key_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = SecretBox.from_data_dir(tmp_path).encrypt("x")
    monkeypatch.setenv(ENV_KEY, SecretBox.generate_key())
    with pytest.raises(SecretError, match=ENV_KEY):
        SecretBox.from_data_dir(tmp_path).decrypt(token)


def test_tampered_token_fails(tmp_path: Path) -> None:
    box = SecretBox.from_data_dir(tmp_path)
    token = box.encrypt(PROTECTED)
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-40] ^= 0x01
    with pytest.raises(SecretError):
        box.decrypt(base64.urlsafe_b64encode(bytes(raw)).decode())
    with pytest.raises(SecretError):
        box.decrypt("not a token ☃")


def test_malformed_env_key_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, "too-short")
    with pytest.raises(SecretError, match=ENV_KEY):
        SecretBox.from_data_dir(tmp_path)


def test_unserializable_secret_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SecretError):
        SecretBox.from_data_dir(tmp_path).encrypt({"when": object()})
