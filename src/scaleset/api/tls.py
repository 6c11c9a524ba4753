"""A private certificate authority and server certificate for the HTTPS API.

The Azure SDK and `az` only talk HTTPS, so the server needs a certificate even on a laptop. We mint
a local CA once and tell clients to trust `<data-dir>/ca.pem`; the server's leaf certificate is
signed by that CA. The CA is kept across restarts (and across leaf reissues) so that a client's
trust, once configured, keeps working. Only the leaf is reissued: when the host names change or it
nears expiry.

Extensions follow what strict verifiers demand (Python 3.13's default `VERIFY_X509_STRICT`,
OpenSSL, Go): critical BasicConstraints and KeyUsage, a SubjectAlternativeName on the leaf (the
common name is ignored by modern clients), ExtendedKeyUsage serverAuth, and key identifiers so the
chain can be built.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")

CA_LIFETIME = timedelta(days=3650)
# Under 398 days, the ceiling browsers and Apple platforms enforce for server certificates.
LEAF_LIFETIME = timedelta(days=397)
RENEW_BEFORE = timedelta(days=30)
# Tolerate client clocks that run a little behind ours.
BACKDATE = timedelta(hours=1)

_CA_NAME = "scaleset local CA"

Host = ipaddress.IPv4Address | ipaddress.IPv6Address | str


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate clients should trust
    cert: Path  # the server's leaf certificate (PEM)
    key: Path  # the server's private key (PEM, 0600)


def ensure_self_signed(
    data_dir: Path, *, hosts: Sequence[str] = DEFAULT_HOSTS
) -> TlsFiles:
    """Return usable TLS files for `hosts`, creating or renewing them as needed."""
    data_dir = Path(data_dir)
    wanted = _parse_hosts(hosts)
    tls_dir = data_dir / "tls"
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca_path, ca_key_path = tls_dir / "ca.pem", tls_dir / "ca-key.pem"
    cert_path, key_path = tls_dir / "server.pem", tls_dir / "server-key.pem"
    trust_path = data_dir / "ca.pem"

    now = datetime.now(timezone.utc)
    # Replicas sharing a data dir must not each mint a different CA.
    with _locked(tls_dir / ".lock"):
        ca = _load_pair(ca_path, ca_key_path)
        if ca is None or not _ca_usable(ca[0], now):
            ca = _new_ca(now)
            _write(ca_key_path, _key_pem(ca[1]), mode=0o600)
            _write(ca_path, _cert_pem(ca[0]), mode=0o644)
        ca_cert, ca_key = ca

        leaf = _load_pair(cert_path, key_path)
        if leaf is None or not _leaf_usable(leaf[0], ca_cert, wanted, now):
            cert, key = _new_leaf(ca_cert, ca_key, wanted, now)
            _write(key_path, _key_pem(key), mode=0o600)
            _write(cert_path, _cert_pem(cert), mode=0o644)

        ca_pem = ca_path.read_bytes()
        if not trust_path.exists() or trust_path.read_bytes() != ca_pem:
            _write(trust_path, ca_pem, mode=0o644)

    return TlsFiles(ca=trust_path, cert=cert_path, key=key_path)


def _parse_hosts(hosts: Sequence[str]) -> frozenset[Host]:
    parsed: set[Host] = set()
    for raw in hosts:
        host = raw.strip().strip("[]")  # accept "[::1]" as written in URLs
        if not host:
            continue
        try:
            parsed.add(ipaddress.ip_address(host))
        except ValueError:
            parsed.add(host.lower().rstrip("."))
    if not parsed:
        raise ValueError("at least one host name or address is needed for a certificate")
    return frozenset(parsed)


def _ca_usable(cert: x509.Certificate, now: datetime) -> bool:
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    # A CA about to expire is replaced; clients then need the new ca.pem, which beats an outage.
    return basic.ca and cert.not_valid_after_utc - now > RENEW_BEFORE


def _leaf_usable(
    cert: x509.Certificate, ca: x509.Certificate, wanted: frozenset[Host], now: datetime
) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    present: set[Host] = set(san.get_values_for_type(x509.IPAddress))
    present.update(name.lower() for name in san.get_values_for_type(x509.DNSName))
    if present != wanted:
        return False
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - now > RENEW_BEFORE


def _new_ca(now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    # A unique subject per CA: verifiers look issuers up by name, and a client that still trusts a
    # replaced CA must not mistake it for the new one.
    common_name = f"{_CA_NAME} {x509.random_serial_number():x}"[:64]
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "scaleset"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_leaf(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    hosts: frozenset[Host],
    now: datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    # Names first, then addresses, each sorted, so the certificate is stable for a given host set.
    names = sorted(h for h in hosts if isinstance(h, str))
    addresses = sorted(
        (h for h in hosts if not isinstance(h, str)), key=lambda a: (a.version, int(a))
    )
    general_names: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    general_names += [x509.IPAddress(a) for a in addresses]
    common_name = str((names or addresses)[0])[:64]
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "scaleset"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        # Never outlive the CA: a chain with an expired root fails even if the leaf is fresh.
        .not_valid_after(min(now + LEAF_LIFETIME, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(general_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _load_pair(
    cert_path: Path, key_path: Path
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The certificate and its key, or None if either is missing, unreadable or mismatched."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if _spki(key.public_key()) != _spki(cert.public_key()):
        return None
    return cert, key


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, mode: int) -> None:
    # Write beside the target and rename, so a reader never sees half a file, and create the file
    # with its final mode so a private key is never readable by others, not even for an instant.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
