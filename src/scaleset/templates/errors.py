"""The one error the template engine raises, shaped like the error ARM puts in a deployment response."""

from __future__ import annotations

INVALID_TEMPLATE = "InvalidTemplate"
"""The template itself is wrong: syntax, unknown function, bad definition, dependsOn cycle."""
INVALID_DEPLOYMENT = "InvalidTemplateDeployment"
"""The template is fine but this deployment of it is not: its parameter values, a missing resource."""

VALIDATION_FAILED = "Deployment template validation failed"


class TemplateError(Exception):
    """code: INVALID_TEMPLATE or INVALID_DEPLOYMENT; target: the JSON path of the offending place.

    ARM words its messages as a context followed by the quoted detail, so both are kept: the
    detail stays the same when the error is re-raised in another context (deploy time vs validation).
    """

    def __init__(self, code: str, detail: str, target: str = "", context: str = VALIDATION_FAILED) -> None:
        self.code = code
        self.detail = detail
        self.target = target
        self.context = context
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.context}: '{self.detail}'"

    def located(self, target: str) -> TemplateError:
        """This error placed at target, unless it already names a more precise place."""
        if self.target:
            return self
        return TemplateError(self.code, self.detail, target, self.context)

    def in_context(self, context: str) -> TemplateError:
        return TemplateError(self.code, self.detail, self.target, context)


def invalid_template(detail: str, target: str = "") -> TemplateError:
    return TemplateError(INVALID_TEMPLATE, detail, target)


def invalid_deployment(detail: str, target: str = "") -> TemplateError:
    return TemplateError(INVALID_DEPLOYMENT, detail, target)
