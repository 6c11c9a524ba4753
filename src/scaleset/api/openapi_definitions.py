"""Schemas of the served OpenAPI document for what the Compute bundle does not define: resource
groups, subscriptions, deployments, network resources, operation status, principals and logging in.
They follow what render.py, service/ and login.py produce."""

from __future__ import annotations

from typing import Any

STRING: dict[str, Any] = {"type": "string"}
OBJECT: dict[str, Any] = {"type": "object"}
TAGS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}


def _object(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _list_of(name: str) -> dict[str, Any]:
    return _object({"value": {"type": "array", "items": {"$ref": f"#/definitions/{name}"}}, "nextLink": STRING}, "value")


def _readonly(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "readOnly": True}


DEFINITIONS: dict[str, dict[str, Any]] = {
    "Subscription": _object({"id": STRING, "subscriptionId": STRING, "tenantId": STRING, "displayName": STRING,
                             "state": STRING, "subscriptionPolicies": OBJECT, "authorizationSource": STRING},
                            "id", "subscriptionId"),
    "SubscriptionListResult": _list_of("Subscription"),
    "Location": _object({"id": STRING, "name": STRING, "type": STRING, "displayName": STRING,
                         "regionalDisplayName": STRING, "metadata": OBJECT}, "name"),
    "LocationListResult": _list_of("Location"),
    "ResourceGroup": _object({
        "id": _readonly(STRING), "name": _readonly(STRING), "type": _readonly(STRING),
        "location": {"type": "string", "minLength": 1}, "tags": TAGS,
        "properties": _readonly(_object({"provisioningState": STRING})),
    }, "location"),
    "ResourceGroupListResult": _list_of("ResourceGroup"),
    "Deployment": _object({
        "properties": _object({
            "template": {**OBJECT, "description": "The ARM template itself (templateLink is not supported)."},
            "parameters": OBJECT,
            "mode": {"type": "string", "enum": ["Incremental", "Complete"],
                     "description": "Only Incremental is carried out; Complete is refused."},
            "templateLink": OBJECT, "parametersLink": OBJECT,
        }, "template", "mode"),
        "tags": TAGS, "location": STRING,
    }, "properties"),
    "DeploymentExtended": _object({"id": STRING, "name": STRING, "type": STRING, "tags": TAGS,
                                   "properties": _object({"provisioningState": STRING}, "provisioningState")},
                                  "id", "name", "properties"),
    "DeploymentListResult": _list_of("DeploymentExtended"),
    "DeploymentOperation": _object({"id": STRING, "operationId": STRING, "properties": OBJECT}, "operationId"),
    "DeploymentOperationsListResult": _list_of("DeploymentOperation"),
    "NetworkResource": _object({
        "id": _readonly(STRING), "name": _readonly(STRING), "type": _readonly(STRING), "location": STRING,
        "tags": TAGS, "properties": {**OBJECT, "description": "As Microsoft.Network's own; load balancer probes are "
                                     "checked (protocol Http/Https/Tcp, port, requestPath)."},
    }),
    "NetworkResourceList": _list_of("NetworkResource"),
    "OperationStatus": _object({
        "name": STRING, "status": {"type": "string", "enum": ["InProgress", "Succeeded", "Failed", "Canceled"]},
        "startTime": STRING, "endTime": STRING, "error": {"$ref": "#/definitions/ApiError"},
    }, "name", "status"),
    "NewPrincipal": _object({
        "displayName": {"type": "string", "minLength": 1, "maxLength": 256},
        "kind": {"type": "string", "enum": ["ServicePrincipal", "ManagedIdentity"]},
        "subscriptions": {"type": "array", "items": STRING},
    }),
    "Principal": _object({"appId": STRING, "objectId": STRING, "displayName": STRING, "kind": STRING,
                          "subscriptions": {"type": "array", "items": STRING}},
                         "appId", "objectId", "kind", "subscriptions"),
    "CreatedPrincipal": {"allOf": [{"$ref": "#/definitions/Principal"}, _object({
        "tenant": STRING, "password": {**STRING, "description": "A service principal's secret, shown once."},
        "identityEndpoint": STRING, "identityHeader": {**STRING, "description": "A managed identity's secret, shown once."},
    }, "tenant")]},
    "PrincipalListResult": _list_of("Principal"),
    "Lease": _object({"name": STRING, "token": {"type": "integer"}, "expiresAt": STRING, "expired": {"type": "boolean"}},
                     "name", "token", "expiresAt", "expired"),
    "Replica": _object({"id": STRING, "host": STRING, "pid": {"type": "integer"}, "url": {"type": "string", "x-nullable": True},
                        "startedAt": STRING, "heartbeatAt": STRING, "heartbeatAgeSeconds": {"type": "number"},
                        "alive": {"type": "boolean"}, "leases": {"type": "array", "items": {"$ref": "#/definitions/Lease"}}},
                       "id", "host", "pid", "startedAt", "heartbeatAt", "alive", "leases"),
    "ReplicaListResult": _object({"value": {"type": "array", "items": {"$ref": "#/definitions/Replica"}}}, "value"),
    "Health": _object({"status": {"type": "string", "enum": ["ok"]}}, "status"),
    "CloudMetadata": _object({"name": STRING, "resourceManager": STRING, "authentication": OBJECT, "suffixes": OBJECT},
                             "resourceManager", "authentication"),
    "Jwks": _object({"keys": {"type": "array", "items": OBJECT}}, "keys"),
    "AccessToken": _object({"token_type": STRING, "expires_in": {"type": "integer"}, "ext_expires_in": {"type": "integer"},
                            "access_token": STRING}, "token_type", "expires_in", "access_token"),
    "ManagedIdentityToken": _object({"access_token": STRING, "expires_on": STRING, "resource": STRING,
                                     "token_type": STRING, "client_id": STRING}, "access_token", "expires_on"),
    "OAuthError": _object({"error": STRING, "error_description": STRING,
                           "error_codes": {"type": "array", "items": {"type": "integer"}}, "timestamp": STRING},
                          "error", "error_description"),
    "ManagedIdentityError": _object({"statusCode": {"type": "integer"}, "message": STRING}, "statusCode", "message"),
}
