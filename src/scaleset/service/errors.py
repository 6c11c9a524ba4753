"""ARM errors raised anywhere below the API and rendered by it as CloudError bodies."""

from __future__ import annotations


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str, *, target: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target

    def body(self) -> dict[str, dict[str, str]]:
        error = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        return {"error": error}


def invalid(target: str, message: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=target)


def not_allowed(message: str, *, target: str | None = None) -> ArmError:
    return ArmError(409, "OperationNotAllowed", message, target=target)


def conflict(message: str, *, target: str | None = None) -> ArmError:
    return ArmError(409, "Conflict", message, target=target)


def not_found(kind: str, name: str, group: str | None = None) -> ArmError:
    where = f" under resource group '{group}'" if group else ""
    return ArmError(404, "ResourceNotFound", f"The Resource '{kind}/{name}'{where} was not found.")


def group_not_found(group: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
