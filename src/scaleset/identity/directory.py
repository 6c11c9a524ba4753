"""The directory: one tenant whose RS256 key signs every access token this server issues.

Tokens are JWTs shaped like Entra ID's v1 access tokens for ARM (`aud`, `iss`, `tid`, `oid`,
`appid`, `idtyp`), so clients that peek into them (az reads `tid` and `oid`) find what they expect.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from scaleset.store.database import Database
from scaleset.store.secrets import SecretBox
from scaleset.store.tables import directory

TOKEN_LIFETIME = 3600  # seconds, as Entra ID's default
CLOCK_SKEW = 60  # seconds of leeway when checking expiry, as ARM allows


class TokenRejected(Exception):
    """A bearer token that is not one of ours, or no longer good. `code` is ARM's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Directory:
    tenant_id: str
    key_id: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def load_or_create(cls, db: Database, secrets: SecretBox, now: Any) -> Directory:
        """The directory in the store, made on first start (replicas racing agree on the first)."""
        with db.transaction() as conn:
            row = conn.execute(sa.select(directory)).first()
            if row is None:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode("ascii")
                conn.execute(directory.insert().values(tenant_id=str(uuid.uuid4()), key_id=_key_id(key),
                                                       signing_key=secrets.encrypt(pem), created_at=now))
                row = conn.execute(sa.select(directory)).one()
        # Our own key, made and kept encrypted by us: the RSA consistency check (tens of ms) proves nothing here.
        key = serialization.load_pem_private_key(secrets.decrypt(row.signing_key).encode("ascii"), password=None,
                                                 unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey)
        return cls(tenant_id=row.tenant_id, key_id=row.key_id, private_key=key)

    def issuer(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.tenant_id}/v2.0"

    def issue(self, *, app_id: str, object_id: str, audience: str, base_url: str,
              lifetime: int = TOKEN_LIFETIME, now: float | None = None) -> tuple[str, int]:
        """A signed access token and its expiry (epoch seconds)."""
        issued = int(now if now is not None else time.time())
        expires = issued + lifetime
        claims = {"aud": audience, "iss": self.issuer(base_url), "iat": issued, "nbf": issued, "exp": expires,
                  "tid": self.tenant_id, "oid": object_id, "sub": object_id, "appid": app_id, "azp": app_id,
                  "idtyp": "app", "ver": "1.0", "jti": str(uuid.uuid4())}
        token = jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.key_id})
        return token, expires

    def verify(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """The token's claims, if we signed it, for one of `audiences`, and it is still good."""
        try:
            claims = jwt.decode(token, self.private_key.public_key(), algorithms=["RS256"], leeway=CLOCK_SKEW,
                                options={"verify_aud": False, "require": ["exp", "aud", "tid", "appid"]})
        except jwt.ExpiredSignatureError:
            raise TokenRejected("ExpiredAuthenticationToken",
                                "The access token has expired. Get a new token and try again.") from None
        except jwt.InvalidTokenError as error:
            raise TokenRejected("InvalidAuthenticationToken", f"The access token is invalid: {error}.") from None
        if claims["tid"] != self.tenant_id:
            raise TokenRejected("InvalidAuthenticationTokenTenant",
                                f"The access token is from the wrong issuer '{claims['tid']}'. It must match the tenant "
                                f"'{self.tenant_id}' associated with this server.")
        if not any(same_audience(claims["aud"], allowed) for allowed in audiences):
            raise TokenRejected("InvalidAuthenticationTokenAudience",
                                f"The access token has been obtained for wrong audience or resource '{claims['aud']}'. "
                                f"It should exactly match with one of the allowed audiences '{', '.join(audiences)}'.")
        return claims

    def jwks(self) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.key_id,
                          "n": _b64_int(numbers.n), "e": _b64_int(numbers.e)}]}


def same_audience(given: str, allowed: str) -> bool:
    """Audiences compare without case and without trailing slashes (clients differ on both)."""
    return given.rstrip("/").lower() == allowed.rstrip("/").lower()


def _key_id(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:15]).decode("ascii")


def _b64_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
