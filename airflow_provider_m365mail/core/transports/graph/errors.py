"""Map what can go wrong talking to Microsoft Graph onto the provider's errors, in one place.

Three kinds of failure arrive: the Graph SDK's ``ODataError`` (a Graph error body) and ``APIError`` (a body it
could not parse), raw ``httpx`` responses from upload URLs, and ``httpx`` transport errors (DNS, TLS, proxy,
timeouts). Graph's ``error.code`` and the HTTP status go through ``classify_graph_error`` for the catalogue's
hint; ``Retry-After`` (seconds or an HTTP date) rides along on transient errors. Messages never include request
URLs: an upload URL carries its own credential.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_m365mail.core.errors import (
    M365MailError,
    PermanentSendError,
    TransientSendError,
    classify_graph_error,
    classify_proxy_failure,
    proxy_failure_code,
)
from airflow_provider_m365mail.core.settings.hosts import redact_url

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


def error_from_transport(exc: Exception, doing: str, proxy: str | None = None) -> M365MailError | None:
    """Classify an ``httpx`` failure while ``doing`` something; None for exceptions that are not httpx's.

    ``proxy`` is the proxy the request went through, if any: its refusals (407, SOCKS replies) and its absence
    are told apart from Graph's own failures.
    """
    import httpx

    if not isinstance(exc, httpx.HTTPError):
        return None
    refusal = _proxy_refusal(exc, proxy, doing)
    if refusal is not None:
        return refusal
    if isinstance(exc, httpx.TimeoutException):
        return TransientSendError(f"Microsoft Graph did not answer in time while {doing} ({type(exc).__name__})")
    if isinstance(exc, httpx.ProxyError):
        return TransientSendError(
            f"the proxy failed while {doing} ({type(exc).__name__})",
            hint="check extra.proxy (scheme, host, port and credentials)",
        )
    verify = _certificate_error(exc)
    if verify is not None:
        return PermanentSendError(
            f"the Graph endpoint's TLS certificate was not accepted while {doing}: {verify}",
            hint="use the endpoint's DNS name; for a private CA set the ca_bundle extra",
        )
    if isinstance(exc, httpx.TransportError):
        return TransientSendError(f"network error while {doing} ({type(exc).__name__}: {_reason(exc)})")
    return PermanentSendError(f"HTTP failure while {doing} ({type(exc).__name__})")


def _proxy_refusal(exc: Exception, proxy: str | None, doing: str) -> M365MailError | None:
    import httpx

    if proxy is None:
        return None
    code = proxy_failure_code(str(exc)) if isinstance(exc, httpx.ProxyError) else None
    root = _chain(exc)[-1]
    # A connection error before any TLS is one to the proxy: every connection goes there first.
    if code is None and isinstance(exc, httpx.ConnectError) and isinstance(root, OSError):
        code = None if isinstance(root, ssl.SSLError) else "unreachable"
    if code is None:
        return None
    return classify_proxy_failure(redact_url(proxy), code, f"{_reason(exc)} while {doing}", target="Microsoft Graph")


def _chain(exc: BaseException) -> list[BaseException]:
    """Return the exception and its causes, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _certificate_error(exc: BaseException) -> str | None:
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message or cause.reason or "verification failed")
    return None


def _reason(exc: BaseException) -> str:
    """Return the root cause's text (an OS error such as "Connection refused"), never a URL."""
    root = _chain(exc)[-1]
    if isinstance(root, OSError) and root.strerror:
        return root.strerror
    return type(root).__name__
