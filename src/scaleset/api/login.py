"""What a client needs to log in, offline: the cloud's metadata, the directory's OpenID
configuration and keys, the OAuth 2.0 client-credentials token endpoint (`az login
--service-principal`), and a managed-identity endpoint (`az login --identity`).

These answer without a bearer token, in the shapes Entra ID and ARM use; errors on the token
endpoints are OAuth errors (`error`, `error_description` with an AADSTS code), which is what MSAL
and az show to the user.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scaleset.api.auth import audiences_for
from scaleset.api.responses import json_response
from scaleset.identity.directory import Directory, same_audience
from scaleset.identity.principals import Principal
from scaleset.service.controlplane import ControlPlane

# Domain suffixes of the cloud's other services; az reads several and crashes without the object.
SUFFIXES = {"acrLoginServer": "azurecr.scaleset.local", "keyVaultDns": "vault.scaleset.local",
            "storage": "core.scaleset.local", "sqlServerHostname": "database.scaleset.local",
            "mariadbServerEndpoint": "mariadb.scaleset.local", "mysqlServerEndpoint": "mysql.scaleset.local",
            "postgresqlServerEndpoint": "postgres.scaleset.local", "attestationEndpoint": "attest.scaleset.local",
            "synapseAnalytics": "dev.azuresynapse.scaleset.local"}


def login_routes(plane: ControlPlane) -> list[Route]:
    def directory() -> Directory:
        assert plane.directory is not None
        return plane.directory

    async def metadata(request: Request) -> Response:
        base = _base(request)
        return json_response({
            "name": "scaleset", "resourceManager": base, "portal": base, "gallery": base,
            "graph": base, "graphAudience": base, "microsoftGraphResourceId": base,
            "authentication": {"loginEndpoint": base, "audiences": [base], "tenant": directory().tenant_id,
                               "identityProvider": "AAD"},
            "suffixes": SUFFIXES,
        })

    async def openid_configuration(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if not _our_tenant(directory(), tenant):
            return _oauth_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        root = f"{_base(request)}{tenant}"
        return json_response({
            "issuer": directory().issuer(_base(request)),
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": None,
        })

    async def keys(_request: Request) -> Response:
        return json_response(directory().jwks())

    async def token(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        # OAuth bodies are urlencoded forms; parsed here rather than pull in a multipart library.
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        grant = str(form.get("grant_type", ""))
        client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        if not _our_tenant(directory(), tenant):
            return _oauth_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check the tenant id.")
        if grant != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", 70003,
                                f"The app requested an unsupported grant type '{grant}'; use client_credentials.")
        if not client_id or not secret:
            return _oauth_error(400, "invalid_request", 900144, "The request body must contain client_id and client_secret.")
        principal = plane.principals.with_secret(client_id, secret)
        if principal is None:
            if plane.principals.get(client_id) is None:
                return _oauth_error(400, "unauthorized_client", 700016,
                                    f"Application with identifier '{client_id}' was not found in the directory "
                                    f"'{directory().tenant_id}'.")
            return _oauth_error(401, "invalid_client", 7000215,
                                f"Invalid client secret provided. Ensure the secret being sent in the request is the "
                                f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.")
        scope = str(form.get("scope", ""))
        audience = _audience(scope, request)
        if audience is None:
            return _oauth_error(400, "invalid_scope", 500011,
                                f"The resource principal named {scope} was not found in the tenant named "
                                f"{directory().tenant_id}. Ask for <resource manager>/.default.")
        return _token_response(directory(), principal, audience, request)

    async def managed_identity(request: Request) -> Response:
        # The App Service style endpoint az uses with IDENTITY_ENDPOINT and IDENTITY_HEADER.
        header = request.headers.get("x-identity-header", "")
        principal = plane.principals.with_identity_header(header) if header else None
        if principal is None:
            return json_response({"statusCode": 401, "message": "The X-IDENTITY-HEADER is missing or not valid."}, 401)
        wanted = request.query_params.get("client_id") or request.query_params.get("principal_id")
        if wanted and wanted.lower() not in (principal.app_id, principal.object_id):
            return json_response({"statusCode": 400, "message": f"No managed identity '{wanted}' is assigned here."}, 400)
        resource = request.query_params.get("resource", "")
        if not any(same_audience(resource, allowed) for allowed in audiences_for(_base(request))):
            return json_response({"statusCode": 400, "message": f"The resource '{resource}' is not known here."}, 400)
        issued, expires = directory().issue(app_id=principal.app_id, object_id=principal.object_id,
                                            audience=resource, base_url=_base(request))
        return json_response({"access_token": issued, "expires_on": str(expires), "resource": resource,
                              "token_type": "Bearer", "client_id": principal.app_id})

    return [
        Route("/metadata/endpoints", metadata),
        Route("/msi/token", managed_identity),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration),
        Route("/{tenant}/discovery/v2.0/keys", keys),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    ]


def _base(request: Request) -> str:
    return str(request.base_url)  # scheme://host:port/ as the client reached us


def _our_tenant(directory: Directory, tenant: str) -> bool:
    # "organizations" and "common" are the multi-tenant aliases MSAL may use.
    return tenant.lower() in (directory.tenant_id, "organizations", "common")


def _audience(scope: str, request: Request) -> str | None:
    """The resource a `<resource>/.default` scope asks for, when it is one we issue tokens for."""
    for item in scope.split():
        if item.endswith("/.default"):
            resource = item[: -len("/.default")]
            for allowed in audiences_for(_base(request)):
                if same_audience(resource, allowed):
                    return resource
    return None


def _token_response(directory: Directory, principal: Principal, audience: str, request: Request) -> Response:
    issued, expires = directory.issue(app_id=principal.app_id, object_id=principal.object_id,
                                      audience=audience, base_url=_base(request))
    return json_response({"token_type": "Bearer", "expires_in": expires - int(time.time()),
                          "ext_expires_in": expires - int(time.time()), "access_token": issued})


def _oauth_error(status: int, error: str, code: int, description: str) -> Response:
    body: dict[str, Any] = {"error": error, "error_description": f"AADSTS{code}: {description}",
                            "error_codes": [code], "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())}
    return json_response(body, status)
