"""The operations of the served OpenAPI document that are not in the Compute bundle: the ARM paths of
Microsoft.Resources and Microsoft.Network this server answers (written here, from the shapes
render.py and the services produce), the operation-status URLs, and our own paths (rolling-upgrade
pause/resume, platform maintenance, image publishing, principals, logging in, /healthz).

Swagger 2.0 like the Azure files they sit beside. Schemas say what is always there and let the rest
through (additionalProperties), as ARM's own do.
"""

from __future__ import annotations

from typing import Any

SUB = "/subscriptions/{subscriptionId}"
GROUP = SUB + "/resourceGroups/{resourceGroupName}"
LOCATION = SUB + "/providers/Microsoft.Compute/locations/{location}"
VMSS = GROUP + "/providers/Microsoft.Compute/virtualMachineScaleSets/{vmScaleSetName}"
VM = VMSS + "/virtualMachines/{instanceId}"
VERSION = (LOCATION + "/publishers/{publisherName}/artifacttypes/vmimage/offers/{offer}/skus/{skus}/versions/{version}")
PRINCIPALS = "/providers/Scaleset.Identity/principals"
REPLICAS = "/providers/Scaleset.Control/replicas"

API_VERSION = {"$ref": "#/parameters/ApiVersionParameter"}
SUBSCRIPTION = {"$ref": "#/parameters/SubscriptionIdParameter"}
ERROR = {"description": "An ARM error.", "schema": {"$ref": "#/definitions/CloudError"}}
NO_AUTH: list[Any] = []  # security: [] = these answer without a bearer token


def _path(name: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "type": "string", **schema}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "type": "string", "description": description, **schema}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, **({"schema": schema} if schema else {})}


def _op(op_id: str, summary: str, params: list[dict[str, Any]], responses: dict[str, Any], *,
        arm: bool = True, **extra: Any) -> dict[str, Any]:
    """An operation; ARM ones take the api-version and answer errors as CloudError."""
    parameters = [*params, API_VERSION] if arm else params
    return {"operationId": op_id, "summary": summary, "parameters": parameters,
            "responses": {**responses, **({"default": ERROR} if arm else {})}, **extra}


GROUP_NAME = _path("resourceGroupName", minLength=1, maxLength=90)
VMSS_NAME = _path("vmScaleSetName")
INSTANCE = _path("instanceId")
ACCEPTED = {"202": _ok("Accepted: poll the Azure-AsyncOperation or Location URL.")}
NETWORK_TYPE = _path("resourceType", description="loadBalancers, virtualNetworks, publicIPAddresses or networkSecurityGroups "
                     "(any case)")


def _body(name: str, schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "body", "required": required, "schema": schema}


def _deployment_paths(collection: str, tag: str) -> dict[str, Any]:
    one = collection + "/{deploymentName}"
    name = _path("deploymentName", minLength=1, maxLength=64)
    base = [SUBSCRIPTION, GROUP_NAME]
    body = _body("parameters", _ref("Deployment"))
    return {
        collection: {"get": _op(f"Deployments_ListByResourceGroup{tag}", "List deployments.", base,
                                {"200": _ok("The deployments.", _ref("DeploymentListResult"))})},
        one: {
            "put": _op(f"Deployments_CreateOrUpdate{tag}", "Deploy a template (the body may be JSONC).", [*base, name, body],
                       {"200": _ok("Updated.", _ref("DeploymentExtended")), "201": _ok("Created.", _ref("DeploymentExtended"))}),
            "get": _op(f"Deployments_Get{tag}", "Get a deployment.", [*base, name], {"200": _ok("It.", _ref("DeploymentExtended"))}),
            "head": _op(f"Deployments_CheckExistence{tag}", "Whether it exists.", [*base, name],
                        {"204": _ok("It exists."), "404": _ok("It does not.")}),
            "delete": _op(f"Deployments_Delete{tag}", "Delete the record.", [*base, name],
                          {"200": _ok("Deleted."), "204": _ok("There was nothing to delete.")}),
        },
        one + "/validate": {"post": _op(f"Deployments_Validate{tag}", "Check a template, deploying nothing.",
                                        [*base, name, body], {"200": _ok("Valid.", _ref("DeploymentExtended"))})},
        one + "/cancel": {"post": _op(f"Deployments_Cancel{tag}", "Cancel a running deployment.", [*base, name],
                                      {"204": _ok("Cancelled.")})},
        one + "/operations": {"get": _op(f"DeploymentOperations_List{tag}", "Its operations.", [*base, name],
                                         {"200": _ok("The operations.", _ref("DeploymentOperationsListResult"))})},
        one + "/operations/{operationId}": {"get": _op(
            f"DeploymentOperations_Get{tag}", "One operation.", [*base, name, _path("operationId")],
            {"200": _ok("It.", _ref("DeploymentOperation"))})},
    }


def _network_paths() -> dict[str, Any]:
    base = [SUBSCRIPTION, GROUP_NAME, NETWORK_TYPE]
    one = [*base, _path("resourceName", minLength=1, maxLength=80)]
    child = [*one, _path("childCollection", description="probes, subnets, securityRules, ..."),
             _path("childName", minLength=1, maxLength=80)]
    resource = GROUP + "/providers/Microsoft.Network/{resourceType}/{resourceName}"
    listed = {"200": _ok("The resources.", _ref("NetworkResourceList"))}
    return {
        SUB + "/providers/Microsoft.Network/{resourceType}": {"get": _op(
            "Network_ListAll", "List network resources of a type.", [SUBSCRIPTION, NETWORK_TYPE], listed)},
        GROUP + "/providers/Microsoft.Network/{resourceType}": {"get": _op(
            "Network_List", "List network resources of a type in a group.", base, listed)},
        resource: {
            "put": _op("Network_CreateOrUpdate", "Create or replace a network resource.",
                       [*one, _body("parameters", _ref("NetworkResource"))],
                       {"200": _ok("Updated.", _ref("NetworkResource")), "201": _ok("Created.", _ref("NetworkResource"))}),
            "get": _op("Network_Get", "Get a network resource.", one, {"200": _ok("It.", _ref("NetworkResource"))}),
            "delete": _op("Network_Delete", "Delete a network resource.", one,
                          {"200": _ok("Deleted."), "204": _ok("There was nothing to delete.")}),
        },
        resource + "/{childCollection}/{childName}": {
            "put": _op("Network_CreateOrUpdateChild", "Create or replace a child (a probe, a subnet...).",
                       [*child, _body("parameters", _ref("NetworkResource"))],
                       {"200": _ok("Updated.", _ref("NetworkResource")), "201": _ok("Created.", _ref("NetworkResource"))}),
            "get": _op("Network_GetChild", "Get a child.", child, {"200": _ok("It.", _ref("NetworkResource"))}),
            "delete": _op("Network_DeleteChild", "Delete a child.", child,
                          {"200": _ok("Deleted."), "204": _ok("There was nothing to delete.")}),
        },
    }


def arm_paths() -> dict[str, Any]:
    """Microsoft.Resources, Microsoft.Network and the operation-status URLs."""
    group = [SUBSCRIPTION, GROUP_NAME]
    op = [SUBSCRIPTION, _path("location"), _path("operationId")]
    return {
        "/subscriptions": {"get": _op("Subscriptions_List", "The subscriptions the caller sees.", [],
                                      {"200": _ok("Them.", _ref("SubscriptionListResult"))})},
        SUB: {"get": _op("Subscriptions_Get", "One subscription.", [SUBSCRIPTION], {"200": _ok("It.", _ref("Subscription"))})},
        SUB + "/locations": {"get": _op("Subscriptions_ListLocations", "The regions.", [SUBSCRIPTION],
                                        {"200": _ok("Them.", _ref("LocationListResult"))})},
        SUB + "/resourcegroups": {"get": _op("ResourceGroups_List", "The resource groups.", [SUBSCRIPTION],
                                             {"200": _ok("Them.", _ref("ResourceGroupListResult"))})},
        GROUP: {
            "put": _op("ResourceGroups_CreateOrUpdate", "Create or update a group.",
                       [*group, _body("parameters", _ref("ResourceGroup"))],
                       {"200": _ok("Updated.", _ref("ResourceGroup")), "201": _ok("Created.", _ref("ResourceGroup"))}),
            "get": _op("ResourceGroups_Get", "A group.", group, {"200": _ok("It.", _ref("ResourceGroup"))}),
            "head": _op("ResourceGroups_CheckExistence", "Whether it exists.", group,
                        {"204": _ok("It exists."), "404": _ok("It does not.")}),
            "delete": _op("ResourceGroups_Delete", "Delete a group and all in it.", group,
                          {**ACCEPTED, "204": _ok("There was nothing to delete.")}),
        },
        **_deployment_paths(GROUP + "/providers/Microsoft.Resources/deployments", ""),
        # The older path without the provider segment, which az's `deployment operation` uses.
        **_deployment_paths(GROUP + "/deployments", "_Legacy"),
        **_network_paths(),
        LOCATION + "/operations/{operationId}": {"get": _op(
            "Operations_GetStatus", "The status of a long-running operation (Azure-AsyncOperation).", op,
            {"200": _ok("Its status.", _ref("OperationStatus"))})},
        LOCATION + "/operationResults/{operationId}": {"get": _op(
            "Operations_GetResult", "The result of a long-running operation (Location).",
            [*op, _query("monitor", "Ignored: ARM adds it to Location URLs.")],
            {"200": _ok("Done."), "202": _ok("Still running.")})},
        VM + "/networkInterfaces": {"get": _op(
            "NetworkInterfaces_ListVirtualMachineScaleSetVMNetworkInterfaces", "An instance's network interfaces.",
            [SUBSCRIPTION, GROUP_NAME, VMSS_NAME, INSTANCE], {"200": _ok("Them.", _ref("NetworkResourceList"))})},
    }


def own_paths() -> dict[str, Any]:
    """Paths that are ours, not Azure's."""
    scale_set = [SUBSCRIPTION, GROUP_NAME, VMSS_NAME]
    publish_query = _query("osType", "Linux (the default) or Windows.", enum=["Linux", "Windows"])
    return {
        VMSS + "/rollingUpgrades/pause": {"post": _op(
            "Scaleset_PauseRollingUpgrade", "Hold the running rolling upgrade after its current batch.", scale_set, ACCEPTED)},
        VMSS + "/rollingUpgrades/resume": {"post": _op(
            "Scaleset_ResumeRollingUpgrade", "Resume a paused rolling upgrade.", scale_set, ACCEPTED)},
        VM + "/platformMaintenance": {"post": _op(
            "Scaleset_PlatformMaintenance", "Administrators: take an instance down (begin) and back (end), as "
            "platform maintenance would.",
            [*scale_set, INSTANCE, {**_query("action", "begin or end.", enum=["begin", "end"]), "required": True}], ACCEPTED)},
        VERSION: {"put": _op(
            "Scaleset_PublishImageVersion", "Administrators: publish an image version; the body is the artifact "
            "(a .tar.gz for the process driver, a qcow2 disk for qemu, a JSON document for sim), at most 4 GiB.",
            [SUBSCRIPTION, _path("location"), _path("publisherName"), _path("offer"), _path("skus"), _path("version"),
             publish_query, _body("artifact", {"type": "string", "format": "binary"})],
            {"200": _ok("Published already, with the same bytes.", _ref("VirtualMachineImage")),
             "201": _ok("Published.", _ref("VirtualMachineImage"))},
            consumes=["application/json", "application/gzip", "application/octet-stream"])},
        PRINCIPALS: {
            "post": _op("Principals_Create", "Administrators: register a service principal or managed identity. The "
                        "secret is in this response only.", [_body("parameters", _ref("NewPrincipal"), required=False)],
                        {"201": _ok("Registered.", _ref("CreatedPrincipal"))}),
            "get": _op("Principals_List", "Administrators: the principals.", [],
                       {"200": _ok("Them.", _ref("PrincipalListResult"))}),
        },
        PRINCIPALS + "/{appId}": {
            "get": _op("Principals_Get", "Administrators: one principal.", [_path("appId")],
                       {"200": _ok("It.", _ref("Principal"))}),
            "delete": _op("Principals_Delete", "Administrators: delete it; its tokens stop working at once.",
                          [_path("appId")], {"200": _ok("Deleted."), "204": _ok("There was nothing to delete.")}),
        },
        REPLICAS: {"get": _op("Replicas_List", "Administrators: the replicas sharing this server's store, their "
                              "heartbeats and leases.", [], {"200": _ok("Them.", _ref("ReplicaListResult"))})},
        **login_paths(),
    }


def login_paths() -> dict[str, Any]:
    """Unauthenticated: what az and MSAL read to log in, and the health check."""
    tenant = _path("tenant", description="The directory's tenant id, or 'organizations' or 'common'.")
    oauth_error = {"description": "An OAuth error (AADSTS code in error_description).", "schema": _ref("OAuthError")}
    msi_error = {"description": "A managed-identity error.", "schema": _ref("ManagedIdentityError")}
    form = [{"name": name, "in": "formData", "required": False, "type": "string"}
            for name in ("grant_type", "client_id", "client_secret", "scope")]
    free = {"type": "object"}
    return {
        "/healthz": {"get": _op("Scaleset_Health", "200 once the server is ready.", [],
                                {"200": _ok("Ready.", _ref("Health"))}, arm=False, security=NO_AUTH)},
        "/openapi.json": {"get": _op("Scaleset_OpenApi", "This document.", [], {"200": _ok("It.", free)},
                                     arm=False, security=NO_AUTH)},
        "/metadata/endpoints": {"get": _op("Login_CloudMetadata", "The cloud's endpoints, as az reads them.",
                                           [_query("api-version", "Ignored.")], {"200": _ok("Them.", _ref("CloudMetadata"))},
                                           arm=False, security=NO_AUTH)},
        "/{tenant}/v2.0/.well-known/openid-configuration": {"get": _op(
            "Login_OpenIdConfiguration", "The directory's OpenID configuration.", [tenant],
            {"200": _ok("It.", free), "400": oauth_error}, arm=False, security=NO_AUTH)},
        "/{tenant}/discovery/v2.0/keys": {"get": _op(
            "Login_Keys", "The directory's signing keys (JWKS).", [tenant], {"200": _ok("Them.", _ref("Jwks"))},
            arm=False, security=NO_AUTH)},
        "/{tenant}/oauth2/v2.0/token": {"post": _op(
            "Login_Token", "OAuth 2.0 client credentials: an access token for a service principal.", [tenant, *form],
            {"200": _ok("A token.", _ref("AccessToken")), "400": oauth_error, "401": oauth_error},
            arm=False, security=NO_AUTH, consumes=["application/x-www-form-urlencoded"])},
        "/msi/token": {"get": _op(
            "Login_ManagedIdentityToken", "A managed identity's token (App Service style, for az login --identity).",
            [{"name": "X-IDENTITY-HEADER", "in": "header", "required": False, "type": "string"},
             _query("resource", "The audience."), _query("api-version", "Ignored."), _query("client_id", "Which identity."),
             _query("principal_id", "Which identity.")],
            {"200": _ok("A token.", _ref("ManagedIdentityToken")), "400": msi_error, "401": msi_error},
            arm=False, security=NO_AUTH)},
    }
