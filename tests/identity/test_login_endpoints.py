"""What a client needs to log in offline: metadata, OpenID configuration, keys, token endpoints."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.conftest import Server
from tests.identity.conftest import Registered, register, token_for


def _get(server: Server, path: str) -> httpx.Response:
    with httpx.Client(verify=server.ca) as client:
        return client.get(f"{server.url}{path}")


def test_metadata_names_this_server_as_cloud_and_login_endpoint(server: Server) -> None:
    # az joins the endpoint it was given (ending in '/') with '/metadata/endpoints'
    answer = _get(server, "//metadata/endpoints?api-version=2022-09-01")
    assert answer.status_code == 200
    body = answer.json()
    assert body["resourceManager"] == f"{server.url}/"
    assert body["authentication"]["loginEndpoint"] == f"{server.url}/"
    assert body["authentication"]["audiences"] == [f"{server.url}/"]
    assert isinstance(body["suffixes"], dict) and body["suffixes"]["storage"]  # az crashes without suffixes
    assert body["name"]


def test_openid_configuration_points_at_token_endpoint_and_keys(server: Server) -> None:
    principal = register(server, server.subscription)
    config = _get(server, f"/{principal.tenant}/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == f"{server.url}/{principal.tenant}/oauth2/v2.0/token"
    assert config["issuer"] == f"{server.url}/{principal.tenant}/v2.0"
    assert _get(server, f"/{principal.tenant}/discovery/v2.0/keys").status_code == 200
    assert _get(server, "/not-our-tenant/v2.0/.well-known/openid-configuration").status_code == 400


def test_client_credentials_give_a_jwt_signed_with_the_published_key(server: Server) -> None:
    principal = register(server, server.subscription)
    answer = token_for(server, principal)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and 3500 <= body["expires_in"] <= 3600
    keys = _get(server, f"/{principal.tenant}/discovery/v2.0/keys").json()["keys"]
    header = jwt.get_unverified_header(body["access_token"])
    key = next(jwt.PyJWK(k) for k in keys if k["kid"] == header["kid"])
    claims = jwt.decode(body["access_token"], key, algorithms=["RS256"], audience=f"{server.url}/")
    assert claims["appid"] == principal.app_id and claims["tid"] == principal.tenant


@pytest.mark.parametrize("change, status, error, code", [
    ({"client_secret": "wrong"}, 401, "invalid_client", "AADSTS7000215"),
    ({"client_id": "00000000-0000-0000-0000-000000000000"}, 400, "unauthorized_client", "AADSTS700016"),
    ({"grant_type": "password"}, 400, "unsupported_grant_type", "AADSTS70003"),
    ({"scope": "https://vault.azure.net/.default"}, 400, "invalid_scope", "AADSTS500011"),
])
def test_bad_token_requests_get_oauth_errors(server: Server, change: dict[str, str], status: int, error: str, code: str) -> None:
    principal = register(server, server.subscription)
    form = {"grant_type": "client_credentials", "client_id": principal.app_id, "client_secret": principal.secret,
            "scope": f"{server.url}//.default", **change}
    with httpx.Client(verify=server.ca) as client:
        answer = client.post(f"{server.url}/{principal.tenant}/oauth2/v2.0/token", data=form)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert answer.json()["error_description"].startswith(code)


def test_azure_resource_manager_scope_is_accepted_too(server: Server) -> None:
    """The SDK asks for https://management.azure.com/.default whatever its base URL."""
    principal = register(server, server.subscription)
    assert token_for(server, principal, scope="https://management.azure.com/.default").status_code == 200


def test_managed_identity_endpoint_gives_tokens_for_the_identity_header(server: Server) -> None:
    identity: Registered = register(server, server.subscription, kind="ManagedIdentity")
    with httpx.Client(verify=server.ca) as client:
        url = f"{server.url}/msi/token"
        params = {"api-version": "2019-08-01", "resource": f"{server.url}/"}
        answer = client.get(url, params=params, headers={"X-IDENTITY-HEADER": identity.secret})
        refused = client.get(url, params=params, headers={"X-IDENTITY-HEADER": "not-it"})
        missing = client.get(url, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.json()["client_id"] == identity.app_id and int(answer.json()["expires_on"]) > 0
    assert refused.status_code == 401 and missing.status_code == 401
