"""The one error the template engine raises, shaped like the error ARM puts in a deployment response."""

from __future__ import annotations

INVALID_TEMPLATE = "InvalidTemplate"
"""The template itself is wrong: syntax, unknown function, bad definition, dependsOn cycle."""
INVALID_DEPLOYMENT = "InvalidTemplateDeployment"
"""The template is fine but this deployment of it is not: its parameter values, a missing resource."""

VALIDATION_FAILED = "Deployment template validation failed"


class TemplateError(Exception):
    """code: INVALID_TEMPLATE or INVALID_DEPLOYMENT; target: the JSON path of the offending place.

    The path is in the template, or, when `in_values` is set, in the parameter values the deployment
    was given ({"name": {"value": ...}}): both spell a parameter `parameters.name`, yet a value out of
    its allowedValues is to be fixed where it was given, not in the template that declares it.

    ARM words its messages as a context followed by the quoted detail, so both are kept: the
    detail stays the same when the error is re-raised in another context (deploy time vs validation).
    """

    def __init__(self, code: str, detail: str, target: str = "", context: str = VALIDATION_FAILED, *,
                 in_values: bool = False) -> None:
        self.code = code
        self.detail = detail
        self.target = target
        self.context = context
        self.in_values = in_values
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.context}: '{self.detail}'"

    @property
    def deployment_target(self) -> str:
        """The target as a path in the deployment's body, whose `properties` hold the template and the
        parameter values (paths of the latter already start with `parameters`)."""
        if self.in_values:
            return f"properties.{self.target}"
        return f"properties.template.{self.target}" if self.target else "properties.template"

    def located(self, target: str) -> TemplateError:
        """This error placed at target, unless it already names a more precise place."""
        if self.target:
            return self
        return TemplateError(self.code, self.detail, target, self.context, in_values=self.in_values)

    def in_given_values(self) -> TemplateError:
        """This error, its target a path in the deployment's parameter values."""
        return TemplateError(self.code, self.detail, self.target, self.context, in_values=True)

    def in_context(self, context: str) -> TemplateError:
        return TemplateError(self.code, self.detail, self.target, context, in_values=self.in_values)


def invalid_template(detail: str, target: str = "") -> TemplateError:
    return TemplateError(INVALID_TEMPLATE, detail, target)


def invalid_deployment(detail: str, target: str = "") -> TemplateError:
    return TemplateError(INVALID_DEPLOYMENT, detail, target)
