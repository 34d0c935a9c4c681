"""Translate every failure of a token request (requests under MSAL, and MSAL itself) into the provider's errors.

The one place that does it, like ``transports/smtp/errors.py`` for aiosmtplib and ``transports/graph/errors.py``
for httpx. TLS failures are permanent with a hint, as over SMTP and Graph: a wrong host name, an untrusted CA or
an unreadable CA bundle fail the same way on every attempt. Network failures, timeouts and answers that could
not be read are transient. Messages name the identity provider's URL but never a request's body or credential.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from airflow_provider_m365mail.core.errors import (
    MSAL_ERROR_CACHE_S,
    M365MailError,
    PermanentSendError,
    TransientSendError,
    classify_proxy_failure,
    proxy_failure_code,
)
from airflow_provider_m365mail.core.errors.foreign import by_class, exception_causes, tls_failure
from airflow_provider_m365mail.core.settings.hosts import shown_proxy

Translator = Callable[[Any, str], M365MailError]


def is_token_request_error(exc: BaseException) -> bool:
    """Tell whether ``exc`` is a failure of requests or MSAL that ``translate_token_error`` knows."""
    return isinstance(exc, tuple(_translators()))


def translate_token_error(exc: BaseException, authority: str) -> M365MailError:
    """Map a requests or MSAL exception raised while asking ``authority`` for a token to the provider's error."""
    return by_class(_translators(), exc)(exc, authority)


def proxy_refusal(exc: BaseException, proxy: str, authority_host: str) -> M365MailError | None:
    """Return the proxy's refusal (407, a SOCKS reply, unreachable) a requests failure wraps, or None if none.

    requests nests the CONNECT answer or the SOCKS reply (urllib3's and PySocks' errors) among the causes.
    """
    import requests

    if not isinstance(exc, requests.RequestException):
        return None
    code = proxy_failure_code("\n".join(str(cause) for cause in exception_causes(exc)))
    if code is None:
        return None
    return classify_proxy_failure(shown_proxy(proxy), code, f"{code} ({type(exc).__name__})", target=authority_host)


@functools.cache
def _translators() -> dict[type[BaseException], Translator]:
    import requests.exceptions as http
    from msal.exceptions import MsalError, MsalServiceError

    def transient(what: str, hint: str | None = None) -> Translator:
        return lambda exc, where: TransientSendError(
            f"the identity provider at {where} {what} ({type(exc).__name__})", hint=hint
        )

    def permanent(what: str, hint: str) -> Translator:
        return lambda exc, where: PermanentSendError(
            f"the token request to {where} {what} ({type(exc).__name__})", hint=hint
        )

    check_url = "check extra.authority_host and extra.tenant_id"
    return {
        http.RequestException: transient("could not be reached"),
        http.ConnectionError: transient("could not be reached"),
        http.Timeout: transient("did not answer in time"),
        http.ProxyError: transient("could not be reached through the proxy", "check extra.proxy"),
        http.SSLError: _tls_error,
        http.HTTPError: transient("answered with an HTTP error"),
        http.ChunkedEncodingError: transient("broke off its answer"),
        http.ContentDecodingError: transient("sent an answer that could not be decoded"),
        http.InvalidJSONError: transient("sent an answer that is not JSON"),
        http.RetryError: transient("failed on every retry"),
        http.TooManyRedirects: permanent("was redirected too many times", check_url),
        http.URLRequired: permanent("has no valid URL", check_url),
        http.MissingSchema: permanent("has no valid URL", check_url),
        http.InvalidSchema: permanent("has no valid URL", check_url),
        http.InvalidURL: permanent("has no valid URL", check_url),
        http.InvalidProxyURL: permanent("names a proxy that is not a valid URL", "check extra.proxy"),
        http.InvalidHeader: permanent("could not be built", check_url),
        http.StreamConsumedError: permanent("could not be sent again", check_url),
        http.UnrewindableBodyError: permanent("could not be sent again", check_url),
        # An HTTP error without a JSON answer, e.g. a bare 500 or 503: MSAL answers from its cache for a while.
        MsalServiceError: lambda exc, where: TransientSendError(
            f"the identity provider at {where} failed ({exc})", retry_after=MSAL_ERROR_CACHE_S
        ),
        MsalError: lambda exc, where: PermanentSendError(
            f"MSAL refused the token request to {where} ({exc})", hint=check_url
        ),
    }


def _tls_error(exc: BaseException, authority: str) -> M365MailError:
    return tls_failure(
        exc,
        peer=f"the identity provider at {authority}",
        host_field="authority_host",
        negotiation_hint="extra.ca_bundle must be a PEM file of CA certificates; the identity provider needs TLS 1.2+",
    )
