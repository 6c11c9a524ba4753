"""The self-signed TLS setup works with the clients the API must serve, and survives restarts."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import requests
from cryptography import x509

from scaleset.api import tls
from scaleset.api.tls import TlsFiles, ensure_self_signed


@pytest.fixture
def files(tmp_path: Path) -> TlsFiles:
    return ensure_self_signed(tmp_path)


@pytest.fixture
def port(files: TlsFiles) -> Iterator[int]:
    """A real TLS server on 127.0.0.1 answering every request with 200 "ok"."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files.cert, files.key)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tconn:
                    tconn.recv(65536)
                    tconn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    )
            except (ssl.SSLError, OSError):
                # A client that rejects our certificate aborts the handshake; that is its right.
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stopping.set()
    thread.join(timeout=5)
    server.close()


def _leaf(files: TlsFiles) -> x509.Certificate:
    return x509.load_pem_x509_certificate(files.cert.read_bytes())


def _sans(files: TlsFiles) -> set[object]:
    san = _leaf(files).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.IPAddress)) | set(
        san.get_values_for_type(x509.DNSName)
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_httpx_trusting_ca_pem_connects(files: TlsFiles, port: int, host: str) -> None:
    ctx = ssl.create_default_context(cafile=str(files.ca))
    with httpx.Client(verify=ctx, trust_env=False) as client:
        response = client.get(f"https://{host}:{port}/")
    assert response.status_code == 200
    assert response.text == "ok"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_requests_trusting_ca_pem_connects(files: TlsFiles, port: int, host: str) -> None:
    # azure-core's default transport is requests, so this is what the Azure SDK will do.
    with requests.Session() as session:
        session.trust_env = False  # a CI proxy must not intercept a loopback connection
        response = session.get(f"https://{host}:{port}/", verify=str(files.ca), timeout=10)
    assert response.status_code == 200


def test_certificates_pass_strict_x509_verification(files: TlsFiles, port: int) -> None:
    # Python 3.13 turns VERIFY_X509_STRICT on by default; it rejects missing key identifiers and
    # non-critical CA constraints.
    ctx = ssl.create_default_context(cafile=str(files.ca))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            assert conn.getpeercert() is not None


def test_a_name_outside_the_certificate_is_rejected(files: TlsFiles, port: int) -> None:
    ctx = ssl.create_default_context(cafile=str(files.ca))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="example.com")


def test_a_client_without_the_ca_rejects_the_server(port: int) -> None:
    with httpx.Client(verify=ssl.create_default_context(), trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):
            client.get(f"https://127.0.0.1:{port}/")


def test_addresses_become_ip_sans_and_names_dns_sans(files: TlsFiles) -> None:
    assert _sans(files) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
        "localhost",
    }


def test_leaf_and_ca_carry_the_extensions_verifiers_expect(files: TlsFiles) -> None:
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    leaf = _leaf(files)
    ca_basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    leaf_basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert ca_basic.critical and ca_basic.value.ca
    assert leaf_basic.critical and not leaf_basic.value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in eku
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    leaf.verify_directly_issued_by(ca)


def test_ca_is_placed_where_clients_are_told_to_look(tmp_path: Path, files: TlsFiles) -> None:
    assert files.ca == tmp_path / "ca.pem"
    assert files.ca.read_bytes() == (tmp_path / "tls" / "ca.pem").read_bytes()
    assert files.cert == tmp_path / "tls" / "server.pem"
    assert files.key == tmp_path / "tls" / "server-key.pem"


def test_private_keys_are_readable_by_the_owner_only(tmp_path: Path, files: TlsFiles) -> None:
    for key in (files.key, tmp_path / "tls" / "ca-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_restart_reuses_ca_and_leaf(tmp_path: Path, files: TlsFiles) -> None:
    ca, cert, key = files.ca.read_bytes(), files.cert.read_bytes(), files.key.read_bytes()
    again = ensure_self_signed(tmp_path)
    assert again == files
    assert again.ca.read_bytes() == ca
    assert again.cert.read_bytes() == cert
    assert again.key.read_bytes() == key


def test_host_order_and_case_do_not_count_as_a_change(tmp_path: Path, files: TlsFiles) -> None:
    cert = files.cert.read_bytes()
    ensure_self_signed(tmp_path, hosts=["LOCALHOST", "::1", "127.0.0.1"])
    assert files.cert.read_bytes() == cert


def test_changed_hosts_reissue_the_leaf_but_keep_the_ca(tmp_path: Path, files: TlsFiles) -> None:
    ca, cert = files.ca.read_bytes(), files.cert.read_bytes()
    again = ensure_self_signed(tmp_path, hosts=["127.0.0.1", "scaleset.example", "10.0.0.5"])
    assert again.ca.read_bytes() == ca
    assert again.cert.read_bytes() != cert
    assert _sans(again) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.0.0.5"),
        "scaleset.example",
    }
    ca_cert = x509.load_pem_x509_certificate(ca)
    _leaf(again).verify_directly_issued_by(ca_cert)


def test_leaf_expiring_within_30_days_is_reissued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(tls, "LEAF_LIFETIME", timedelta(days=20))
        first = ensure_self_signed(tmp_path)
    ca, cert = first.ca.read_bytes(), first.cert.read_bytes()
    again = ensure_self_signed(tmp_path)
    assert again.cert.read_bytes() != cert
    assert again.ca.read_bytes() == ca
    assert _leaf(again).not_valid_after_utc - _leaf(again).not_valid_before_utc > timedelta(
        days=300
    )


def test_a_lost_ca_key_mints_a_new_ca_and_leaf(tmp_path: Path, files: TlsFiles) -> None:
    ca, cert = files.ca.read_bytes(), files.cert.read_bytes()
    (tmp_path / "tls" / "ca-key.pem").unlink()
    again = ensure_self_signed(tmp_path)
    assert again.ca.read_bytes() != ca
    assert again.cert.read_bytes() != cert
    _leaf(again).verify_directly_issued_by(x509.load_pem_x509_certificate(again.ca.read_bytes()))


def test_no_hosts_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ensure_self_signed(tmp_path, hosts=[])
