"""How the client fails: one exception, ARM error bodies turned into az-style messages.

az prints an ARM error as `(Code) message` and exits with 3 when the resource is missing, 1 for
everything else; scripts written against az test those exit codes, so we keep them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import click
import httpx

NOT_FOUND_EXIT_CODE = 3


class CliError(click.ClickException):
    """A failure reported to the user as-is, without click's `Error:` prefix or a traceback."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=file is None, file=file)


def format_arm_error(error: Mapping[str, Any]) -> str:
    """`(Code) message`, then the target and any details, one per line."""
    code = error.get("code") or "Error"
    message = error.get("message") or ""
    lines = [f"({code}) {message}".rstrip()]
    if error.get("target"):
        lines.append(f"Target: {error['target']}")
    for detail in error.get("details") or []:
        if isinstance(detail, Mapping):
            lines.append(f"  ({detail.get('code') or 'Error'}) {detail.get('message') or ''}".rstrip())
    return "\n".join(lines)


def error_from_response(response: httpx.Response) -> CliError:
    """The CliError for an HTTP error answer, preferring the ARM `error` object when there is one."""
    exit_code = NOT_FOUND_EXIT_CODE if response.status_code == 404 else 1
    error = arm_error_of(response)
    if error is not None:
        return CliError(format_arm_error(error), exit_code=exit_code)
    text = response.text.strip()[:500] or "no details in the response"
    return CliError(
        f"({response.status_code} {response.reason_phrase}) {text}", exit_code=exit_code
    )


def arm_error_of(response: httpx.Response) -> Mapping[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return body["error"]
    return None
