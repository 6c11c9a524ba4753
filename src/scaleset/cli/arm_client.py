"""A small synchronous ARM client over httpx: auth, api-version, error mapping and paging.

It knows nothing about scale sets; commands hand it paths. Long-running operations are followed
by `lro.py` on top of it.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx

from scaleset.cli.connection import Connection
from scaleset.cli.errors import CliError, error_from_response

COMPUTE_API_VERSION = "2024-03-01"
RESOURCES_API_VERSION = "2022-09-01"
SUBSCRIPTIONS_API_VERSION = "2022-12-01"

_NO_BODY = object()


class ArmClient:
    def __init__(self, connection: Connection, *, timeout: float = 60.0) -> None:
        self.endpoint = connection.endpoint
        headers = {"User-Agent": f"scaleset-cli/{_package_version()}", "Accept": "application/json"}
        if connection.token:
            headers["Authorization"] = f"Bearer {connection.token}"
        self._http = httpx.Client(
            base_url=connection.endpoint,
            headers=headers,
            verify=_tls_verification(connection),
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ArmClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        api_version: str | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = _NO_BODY,
        content: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Sends one request; an HTTP error becomes a CliError carrying the ARM message.

        `url` is a path on the endpoint or an absolute URL (nextLink, operation status); an
        api-version already in the URL is kept, because ARM links carry the one to use.
        """
        target = httpx.URL(url)
        query = dict(params or {})
        if api_version and "api-version" not in target.params:
            query["api-version"] = api_version
        if query:
            # Merged, not replaced: httpx would drop a URL's own query ($expand, $skiptoken) for `params`.
            target = target.copy_merge_params(query)
        request_headers = {"x-ms-client-request-id": str(uuid.uuid4()), **(headers or {})}
        body: dict[str, Any] = {"content": content} if json is _NO_BODY else {"json": json}
        try:
            response = self._http.request(method, target, headers=request_headers, **body)
        except httpx.ConnectError as error:
            raise CliError(
                f"cannot connect to the scaleset server at {self.endpoint}: {_reason(error)}. "
                "Is `scaleset serve` running, and is --endpoint right?"
            ) from error
        except httpx.TimeoutException as error:
            raise CliError(f"the scaleset server at {self.endpoint} did not answer in time") from error
        except httpx.TransportError as error:
            raise CliError(f"request to {self.endpoint} failed: {_reason(error)}") from error
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def get(self, url: str, *, api_version: str | None = None) -> Any:
        return decode(self.request("GET", url, api_version=api_version))

    def list_pages(self, url: str, *, api_version: str) -> list[Any]:
        """Every item of a paged ARM list, following `nextLink` until it is absent."""
        items: list[Any] = []
        seen: set[str] = set()
        next_url: str | None = url
        while next_url:
            if next_url in seen:
                raise CliError(f"the server's nextLink loops back to {next_url}")
            seen.add(next_url)
            page = self.get(next_url, api_version=api_version)
            if not isinstance(page, Mapping) or not isinstance(page.get("value"), list):
                raise CliError(f"expected a paged list from {next_url}, got {type(page).__name__}")
            items.extend(page["value"])
            next_url = page.get("nextLink") or None
        return items


def decode(response: httpx.Response) -> Any:
    """The JSON body, or None for an empty one (204, or a 202 without a body)."""
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError as error:
        raise CliError(
            f"the server answered {response.request.method} {response.request.url.path} "
            f"with a body that is not JSON: {response.text[:200]!r}"
        ) from error


def _tls_verification(connection: Connection) -> ssl.SSLContext | bool:
    if connection.ca is None or not connection.endpoint.startswith("https:"):
        return True
    try:
        return ssl.create_default_context(cafile=str(connection.ca))
    except (OSError, ssl.SSLError) as error:
        raise CliError(f"cannot load the CA certificate {connection.ca}: {error}") from error


def _reason(error: Exception) -> str:
    # httpx wraps the socket error; its innermost message ("Connection refused", a certificate
    # verification failure) is the part the user can act on.
    cause: BaseException = error
    for _ in range(10):
        inner = cause.__cause__ or cause.__context__
        if inner is None:
            break
        cause = inner
    return str(cause) or str(error) or type(error).__name__


def _package_version() -> str:
    try:
        return version("scaleset")
    except PackageNotFoundError:
        return "0"
