"""What the translators of foreign exceptions share: one per library, each built on these.

``transports/smtp/errors.py`` (aiosmtplib), ``transports/graph/errors.py`` (httpx, kiota) and
``auth/token_errors.py`` (requests, MSAL) look a translator up along an exception's class hierarchy and dig a
certificate failure out of the exceptions it wraps.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import TypeVar

from airflow_provider_m365mail.core.errors.hierarchy import PermanentSendError

T = TypeVar("T")


def by_class(table: Mapping[type[BaseException], T], exc: BaseException) -> T:
    """Return the entry of ``exc``'s nearest class in ``table``; raise TypeError when none has one."""
    for cls in type(exc).__mro__:
        found = table.get(cls)
        if found is not None:
            return found
    raise TypeError(f"no translation for {type(exc).__name__}") from exc


def exception_causes(exc: BaseException) -> list[BaseException]:
    """Return ``exc`` and every exception it wraps: causes, contexts, and those in ``args`` or ``reason``
    (requests and urllib3 wrap the ``ssl`` error that way)."""
    found: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        pending.extend(a for a in current.args if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
    return found


def certificate_failure(exc: BaseException) -> str | None:
    """Return why a server's certificate was refused, if ``exc`` wraps a verification failure."""
    for cause in exception_causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(_first_of(cause, "verify_message", "reason") or cause)
    return None


def tls_failure(exc: BaseException, *, peer: str, host_field: str, negotiation_hint: str) -> PermanentSendError:
    """Describe a failed TLS handshake with ``peer``: permanent, since the next attempt fails the same way."""
    verify = certificate_failure(exc)
    if verify is not None:
        return PermanentSendError(
            f"{peer}'s TLS certificate was not accepted: {verify}",
            hint=f"use the server's DNS name as {host_field}; for a private CA set extra.ca_bundle",
        )
    reason = next(
        (str(_first_of(e, "reason", "strerror") or e) for e in exception_causes(exc) if isinstance(e, ssl.SSLError)),
        type(exc).__name__,
    )
    return PermanentSendError(f"TLS negotiation with {peer} failed: {reason}", hint=negotiation_hint)


def _first_of(exc: BaseException, *names: str) -> object:
    """Return the first of these attributes ``exc`` has set (an ``SSLError`` built by hand has none of them)."""
    return next((value for value in (getattr(exc, name, None) for name in names) if value), None)
