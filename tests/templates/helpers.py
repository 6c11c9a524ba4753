"""Shared by the template engine tests: a scope, template builders, and the caller's side of reference()."""

from __future__ import annotations

from typing import Any

import pytest

from scaleset.templates import Plan, Scope, TemplateError, prepare

SCOPE = Scope(subscription_id="00000000-0000-0000-0000-0000000000aa", group_name="rg1",
              group_location="westeurope", deployment_name="deploy1", tenant_id="tenant-1")
GROUP_ID = f"/subscriptions/{SCOPE.subscription_id}/resourceGroups/rg1"
SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def template(resources: list[dict[str, Any]] | None = None, **sections: Any) -> dict[str, Any]:
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": resources or [], **sections}


def resource(name: str, type_: str = "Microsoft.Network/virtualNetworks", **extra: Any) -> dict[str, Any]:
    return {"type": type_, "apiVersion": "2020-06-01", "name": name, **extra}


def rid(type_: str, *names: str) -> str:
    namespace, *types = type_.split("/")
    return f"{GROUP_ID}/providers/{'/'.join([namespace] + [p for pair in zip(types, names) for p in pair])}"


def quote(text: str) -> str:
    """text as a string literal of the expression language: quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def values(**named: Any) -> dict[str, dict[str, Any]]:
    """Deployment parameters as a client sends them."""
    return {name: {"value": value} for name, value in named.items()}


class FakeReference:
    """The caller's reference(): deployed resources' GET bodies by id (case-insensitive, like ARM)."""

    def __init__(self, bodies: dict[str, dict[str, Any]] | None = None) -> None:
        self.bodies = {key.lower(): body for key, body in (bodies or {}).items()}
        self.calls: list[tuple[str, str | None, bool]] = []

    def __call__(self, resource_id: str, api_version: str | None, full: bool) -> dict[str, Any]:
        self.calls.append((resource_id, api_version, full))
        body = self.bodies.get(resource_id.lower())
        if body is None:
            raise TemplateError("InvalidTemplateDeployment", f"The resource '{resource_id}' is not found.")
        return body if full else body.get("properties", {})


def no_reference(resource_id: str, api_version: str | None, full: bool) -> dict[str, Any]:
    raise AssertionError(f"reference({resource_id}) was not expected")


def evaluate(expression: Any, *, parameters: dict[str, Any] | None = None,
             variables: dict[str, Any] | None = None, reference: Any = no_reference) -> Any:
    """expression (any JSON) evaluated as a resource property, through prepare() and body()."""
    plan = prepare(template([resource("probe", properties={"value": expression})],
                            parameters=parameters or {}, variables=variables or {}), {}, SCOPE)
    return plan.body(plan.resources[0], reference)["properties"]["value"]


def refused(template_: dict[str, Any], parameters: dict[str, Any] | None = None) -> TemplateError:
    """The error prepare() raises for template_."""
    with pytest.raises(TemplateError) as caught:
        prepare(template_, parameters or {}, SCOPE)
    return caught.value


def evaluation_error(expression: Any, **kwargs: Any) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        evaluate(expression, **kwargs)
    return caught.value


def planned(template_: dict[str, Any], parameters: dict[str, Any] | None = None) -> Plan:
    return prepare(template_, parameters or {}, SCOPE)


def names(plan: Plan) -> list[str]:
    return [r.name for r in plan.resources]
