"""Classify what can go wrong on an HTTP connection (DNS, TLS, proxy, timeouts), for every HTTP transport.

Messages never include request URLs: an upload URL carries its own credential.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from airflow_provider_m365mail.core.errors import (
    M365MailError,
    PermanentSendError,
    TransientSendError,
    classify_proxy_failure,
    proxy_failure_code,
)
from airflow_provider_m365mail.core.errors.foreign import certificate_failure
from airflow_provider_m365mail.core.settings.hosts import shown_proxy


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


def error_from_transport(
    exc: Exception, doing: str, *, service: str = "Microsoft Graph", proxy: str | None = None
) -> M365MailError | None:
    """Classify an ``httpx`` failure of ``service`` while ``doing`` something; None for other exceptions.

    ``proxy`` is the proxy the request went through, if any: its refusals (407, SOCKS replies) and its absence
    are told apart from the service's own failures.
    """
    import httpx

    if isinstance(exc, (httpx.InvalidURL, httpx.CookieConflict, httpx.StreamError)):  # not HTTPError subclasses
        return PermanentSendError(
            f"the request could not be made while {doing} ({type(exc).__name__})",
            hint="check the endpoint URL and extra.proxy",
        )
    if not isinstance(exc, httpx.HTTPError):
        return None
    refusal = _proxy_refusal(exc, proxy, doing, service)
    if refusal is not None:
        return refusal
    if isinstance(exc, httpx.TimeoutException):
        return TransientSendError(f"{service} did not answer in time while {doing} ({type(exc).__name__})")
    if isinstance(exc, httpx.ProxyError):
        return TransientSendError(
            f"the proxy failed while {doing} ({type(exc).__name__})",
            hint="check extra.proxy (scheme, host, port and credentials)",
        )
    verify = certificate_failure(exc)
    if verify is not None:
        return PermanentSendError(
            f"the {service} endpoint's TLS certificate was not accepted while {doing}: {verify}",
            hint="use the endpoint's DNS name; for a private CA set the ca_bundle extra",
        )
    if isinstance(exc, httpx.TransportError):
        return TransientSendError(f"network error while {doing} ({type(exc).__name__}: {_reason(exc)})")
    return PermanentSendError(f"HTTP failure while {doing} ({type(exc).__name__})")


def _proxy_refusal(exc: Exception, proxy: str | None, doing: str, service: str) -> M365MailError | None:
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
    return classify_proxy_failure(shown_proxy(proxy), code, f"{_reason(exc)} while {doing}", target=service)


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
