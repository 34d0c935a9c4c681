"""Map what can go wrong talking to Microsoft Graph onto the provider's errors, in one place.

Three kinds of failure arrive: the Graph SDK's ``ODataError`` (a Graph error body) and ``APIError`` (a body it
could not parse), raw ``httpx`` responses from upload URLs, and ``httpx`` transport errors (DNS, TLS, proxy,
timeouts). Graph's ``error.code`` and the HTTP status go through ``classify_graph_error`` for the catalogue's
hint; ``Retry-After`` (seconds or an HTTP date) rides along on transient errors. Messages never include request
URLs: an upload URL carries its own credential.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_m365mail.core.errors import (
    M365MailError,
    PermanentSendError,
    TransientSendError,
    classify_graph_error,
)
from airflow_provider_m365mail.core.errors.foreign import certificate_failure

if TYPE_CHECKING:
    import httpx


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Return the wait ``Retry-After`` asks for (delay in seconds or an HTTP date), or None."""
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


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


def error_from_transport(exc: Exception, doing: str) -> M365MailError | None:
    """Classify an ``httpx`` failure while ``doing`` something; None for exceptions that are not httpx's."""
    import httpx

    if isinstance(exc, (httpx.InvalidURL, httpx.CookieConflict, httpx.StreamError)):  # not HTTPError subclasses
        return PermanentSendError(
            f"the request could not be made while {doing} ({type(exc).__name__})",
            hint="check extra.graph_endpoint and extra.proxy",
        )
    if not isinstance(exc, httpx.HTTPError):
        return None
    if isinstance(exc, httpx.TimeoutException):
        return TransientSendError(f"Microsoft Graph did not answer in time while {doing} ({type(exc).__name__})")
    if isinstance(exc, httpx.ProxyError):
        return TransientSendError(
            f"the proxy failed while {doing} ({type(exc).__name__})",
            hint="check extra.proxy (scheme, host, port and credentials)",
        )
    verify = certificate_failure(exc)
    if verify is not None:
        return PermanentSendError(
            f"the Graph endpoint's TLS certificate was not accepted while {doing}: {verify}",
            hint="use the endpoint's DNS name; for a private CA set the ca_bundle extra",
        )
    if isinstance(exc, httpx.TransportError):
        return TransientSendError(f"network error while {doing} ({type(exc).__name__}: {_reason(exc)})")
    return PermanentSendError(f"HTTP failure while {doing} ({type(exc).__name__})")


def _chain(exc: BaseException) -> list[BaseException]:
    """Return the exception and its causes, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _reason(exc: BaseException) -> str:
    """Return the root cause's text (an OS error such as "Connection refused"), never a URL."""
    root = _chain(exc)[-1]
    if isinstance(root, OSError) and root.strerror:
        return root.strerror
    return type(root).__name__
