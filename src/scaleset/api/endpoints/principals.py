"""Service principals and managed identities (administrators only): what `scaleset sp create`
calls. The secret is in the creation response and nowhere else, ever."""

from __future__ import annotations

from starlette.responses import Response

from scaleset.api import wire
from scaleset.api.app import ArmRequest
from scaleset.api.responses import base_url, json_response
from scaleset.api.router import Router
from scaleset.identity.principals import MANAGED_IDENTITY, SERVICE_PRINCIPAL, require_valid_kind
from scaleset.service.errors import ArmError

PRINCIPALS = "/providers/Scaleset.Identity/principals"


def register(router: Router) -> None:
    router.add("POST", PRINCIPALS, create_principal, admin=True)
    router.add("GET", PRINCIPALS, list_principals, admin=True)
    router.add("GET", PRINCIPALS + "/{app}", get_principal, admin=True)
    router.add("DELETE", PRINCIPALS + "/{app}", delete_principal, admin=True)


async def create_principal(req: ArmRequest) -> Response:
    body = wire.validate(wire.NewPrincipal, req.body or {})
    kind = require_valid_kind(body.get("kind") or SERVICE_PRINCIPAL)
    name = body.get("displayName") or ("scaleset-identity" if kind == MANAGED_IDENTITY else "scaleset-sp")
    principal, secret = req.plane.principals.create(name, kind, body.get("subscriptions") or [])
    tenant = req.request.app.state.tenant
    view = {**principal.view(), "tenant": tenant}
    if kind == MANAGED_IDENTITY:
        # What a process needs in its environment for `az login --identity`.
        view.update(clientId=principal.app_id, principalId=principal.object_id, tenantId=tenant,
                    identityEndpoint=f"{base_url(req.request)}/msi/token", identityHeader=secret)
    else:
        view["password"] = secret  # as `az ad sp create-for-rbac` prints it
    return json_response(view, 201)


async def list_principals(req: ArmRequest) -> Response:
    return json_response({"value": [p.view() for p in req.plane.principals.list()]})


async def get_principal(req: ArmRequest) -> Response:
    principal = req.plane.principals.get(req.param("app"))
    if principal is None:
        raise ArmError(404, "PrincipalNotFound", f"No principal has the app id '{req.param('app')}'.")
    return json_response(principal.view())


async def delete_principal(req: ArmRequest) -> Response:
    return Response(status_code=200 if req.plane.principals.delete(req.param("app")) else 204)
