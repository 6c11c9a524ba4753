"""The API checks principals' tokens and shows each only the subscriptions granted to it."""

from __future__ import annotations

import sqlite3
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from scaleset.identity.directory import Directory
from scaleset.store.database import Database, sqlite_url
from scaleset.store.secrets import SecretBox
from tests.conftest import API, Server
from tests.identity.conftest import PRINCIPALS, as_bearer, register, token_for

OTHER_SUB = "6f1b1b38-4c4b-4f4e-9a55-2a0e4a5f0c11"


def _token(server: Server, *subs: str) -> str:
    answer = token_for(server, register(server, *subs))
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _directory(server: Server) -> Directory:
    from datetime import datetime, timezone

    db = Database(sqlite_url(server.data_dir / "scaleset.db"))
    try:
        return Directory.load_or_create(db, SecretBox.from_data_dir(server.data_dir), datetime.now(timezone.utc))
    finally:
        db.close()


def test_a_principal_lists_only_its_subscriptions(server: Server) -> None:
    with server.client() as admin:  # an administrator registers another subscription by using it
        admin.put(f"/subscriptions/{OTHER_SUB}/resourcegroups/other", params={"api-version": API}, json={"location": "westus"})
        everything = {s["subscriptionId"] for s in admin.get("/subscriptions", params={"api-version": API}).json()["value"]}
    assert {server.subscription, OTHER_SUB} <= everything
    with as_bearer(server, _token(server, server.subscription)) as client:
        listed = [s["subscriptionId"] for s in client.get("/subscriptions", params={"api-version": API}).json()["value"]]
    assert listed == [server.subscription]


def test_a_principal_works_in_its_subscription_and_is_refused_elsewhere(server: Server) -> None:
    with as_bearer(server, _token(server, server.subscription)) as client:
        made = client.put(f"/subscriptions/{server.subscription}/resourcegroups/mine", params={"api-version": API},
                          json={"location": "westus"})
        other = client.get(f"/subscriptions/{OTHER_SUB}/resourcegroups", params={"api-version": API})
        hidden = client.get(f"/subscriptions/{OTHER_SUB}", params={"api-version": API})
    assert made.status_code in (200, 201), made.text
    assert other.status_code == 403 and other.json()["error"]["code"] == "AuthorizationFailed"
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "SubscriptionNotFound"


def test_administrator_calls_are_refused_to_principals(server: Server) -> None:
    with as_bearer(server, _token(server, server.subscription)) as client:
        publish = client.put(f"/subscriptions/{server.subscription}/providers/Microsoft.Compute/locations/westus/publishers/P"
                             "/artifacttypes/vmimage/offers/O/skus/S/versions/1.0.0",
                             params={"api-version": API}, content=b"{}", headers={"Content-Type": "application/json"})
        principals = client.post(PRINCIPALS, params={"api-version": API}, json={})
    assert publish.status_code == 403 and principals.status_code == 403


def test_static_tokens_still_see_everything(server: Server) -> None:
    with server.client() as admin:
        assert admin.get(f"/subscriptions/{OTHER_SUB}/resourcegroups", params={"api-version": API}).status_code == 200


def test_expired_tokens_are_refused_with_the_code_arm_uses(server: Server) -> None:
    principal = register(server, server.subscription)
    directory = _directory(server)
    stale, _ = directory.issue(app_id=principal.app_id, object_id=str(uuid.uuid4()), audience=f"{server.url}/",
                               base_url=server.url, lifetime=60, now=1_000_000_000)
    with as_bearer(server, stale) as client:
        answer = client.get("/subscriptions", params={"api-version": API})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "ExpiredAuthenticationToken"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


def test_tokens_signed_with_another_key_are_refused(server: Server) -> None:
    good = jwt.decode(_token(server, server.subscription), options={"verify_signature": False})
    forged = jwt.encode(good, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")
    with as_bearer(server, forged) as client:
        answer = client.get("/subscriptions", params={"api-version": API})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_tokens_for_another_audience_are_refused(server: Server) -> None:
    principal = register(server, server.subscription)
    other, _ = _directory(server).issue(app_id=principal.app_id, object_id=str(uuid.uuid4()),
                                        audience="https://vault.azure.net", base_url=server.url)
    with as_bearer(server, other) as client:
        answer = client.get("/subscriptions", params={"api-version": API})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


def test_a_deleted_principal_loses_access_at_once(server: Server) -> None:
    principal = register(server, server.subscription)
    token = token_for(server, principal).json()["access_token"]
    with server.client() as admin:
        assert admin.delete(f"{PRINCIPALS}/{principal.app_id}", params={"api-version": API}).status_code == 200
    with as_bearer(server, token) as client:
        assert client.get("/subscriptions", params={"api-version": API}).status_code == 401


def test_managed_identity_tokens_work_on_the_api(server: Server) -> None:
    identity = register(server, server.subscription, kind="ManagedIdentity")
    import httpx

    with httpx.Client(verify=server.ca) as raw:
        token = raw.get(f"{server.url}/msi/token", params={"api-version": "2019-08-01", "resource": f"{server.url}/"},
                        headers={"X-IDENTITY-HEADER": identity.secret}).json()["access_token"]
    with as_bearer(server, token) as client:
        listed = client.get("/subscriptions", params={"api-version": API}).json()["value"]
    assert [s["subscriptionId"] for s in listed] == [server.subscription]


def test_only_a_hash_of_each_secret_is_stored_and_none_is_returned(server: Server) -> None:
    principal = register(server, server.subscription)
    with server.client() as admin:
        listed = admin.get(PRINCIPALS, params={"api-version": API}).text
        shown = admin.get(f"{PRINCIPALS}/{principal.app_id}", params={"api-version": API}).text
    assert principal.app_id in listed and principal.secret not in listed and principal.secret not in shown
    database = (server.data_dir / "scaleset.db").read_bytes()
    for suffix in ("-wal", "-shm"):
        extra = server.data_dir / f"scaleset.db{suffix}"
        if extra.exists():
            database += extra.read_bytes()
    assert principal.secret.encode() not in database
    with sqlite3.connect(server.data_dir / "scaleset.db") as conn:
        keys = conn.execute("SELECT signing_key FROM directory").fetchall()
    assert keys and all("PRIVATE KEY" not in key for (key,) in keys)  # the signing key is encrypted too
