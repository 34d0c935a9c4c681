"""Map what can go wrong talking to Microsoft Graph onto the provider's errors, in one place.

Three kinds of failure arrive: the Graph SDK's ``ODataError`` (a Graph error body) and ``APIError`` (a body it
could not parse), raw ``httpx`` responses from upload URLs, and ``httpx`` transport errors (DNS, TLS, proxy,
timeouts; classified in ``transports.http_errors``). Graph's ``error.code`` and the HTTP status go through
``classify_graph_error`` for the catalogue's hint; ``Retry-After`` (seconds or an HTTP date) rides along on
transient errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_m365mail.core.errors import M365MailError, classify_graph_error
from airflow_provider_m365mail.core.transports.http_errors import retry_after_seconds

if TYPE_CHECKING:
    import httpx


def error_from_body(status: int, body: Any, headers: Mapping[str, str] | None) -> M365MailError:
    """Classify a Graph error answer from its status, parsed JSON body (``{"error": {...}}``) and headers."""
    error = body.get("error") if isinstance(body, Mapping) else None
    code = error.get("code") if isinstance(error, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    return classify_graph_error(
        status,
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else f"HTTP {status}",
        retry_after=retry_after_seconds(headers),
    )


def error_from_response(response: httpx.Response) -> M365MailError:
    """Classify a raw Graph (or upload URL) error response; the body must have been read."""
    try:
        body = response.json()
    except ValueError:
        body = None
    return error_from_body(response.status_code, body, response.headers)


def error_from_sdk(exc: Exception) -> M365MailError | None:
    """Classify an ``ODataError`` / ``APIError`` raised by the Graph SDK; None for other exceptions."""
    from kiota_abstractions.api_error import APIError

    if not isinstance(exc, APIError):
        return None
    status = exc.response_status_code or 0
    headers = exc.response_headers
    error = getattr(exc, "error", None)  # ODataError.error: MainError(code, message)
    if error is not None:
        body = {"error": {"code": getattr(error, "code", None), "message": getattr(error, "message", None)}}
        return error_from_body(status, body, headers)
    return classify_graph_error(
        status, None, "the answer carried no Graph error body", retry_after=retry_after_seconds(headers)
    )

