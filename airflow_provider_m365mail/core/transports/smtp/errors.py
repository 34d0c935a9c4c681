"""Translate every aiosmtplib, socket and TLS failure into the provider's errors: the one place that does it."""

from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import Callable
from typing import Any, Literal

from airflow_provider_m365mail.core.errors import (
    HostNotFoundError,
    M365MailError,
    PermanentSendError,
    ServerUnreachableError,
    TransientSendError,
    classify_refused_recipients,
    classify_smtp_reply,
)
from airflow_provider_m365mail.core.errors.foreign import by_class, tls_failure

Stage = Literal["connect", "starttls", "auth", "mail", "rcpt", "data"]


def is_translatable(exc: BaseException) -> bool:
    import aiosmtplib

    return isinstance(exc, (aiosmtplib.SMTPException, OSError))


def translate(exc: BaseException, stage: Stage) -> M365MailError:
    """Map an aiosmtplib (or socket / TLS) failure to the provider's error; the one place that does it."""
    return by_class(_translators(), exc)(exc, stage)


Translator = Callable[[Any, Stage], M365MailError]


@functools.cache
def _translators() -> dict[type[BaseException], Translator]:
    import aiosmtplib

    def reply_at(fixed: Stage | None) -> Translator:
        return lambda exc, stage: classify_smtp_reply(exc.code, exc.message, stage=fixed or stage)

    def transient(what: str) -> Translator:
        return lambda exc, stage: TransientSendError(f"{what} during {stage}: {exc.message}")

    return {
        aiosmtplib.SMTPException: lambda exc, stage: PermanentSendError(f"SMTP {stage} failed: {exc.message}"),
        aiosmtplib.SMTPNotSupported: lambda exc, stage: PermanentSendError(
            f"the server lacks a needed SMTP extension: {exc.message}",
            hint="non-ASCII addresses need a server that offers SMTPUTF8",
        ),
        aiosmtplib.SMTPServerDisconnected: transient("the server closed the connection"),
        aiosmtplib.SMTPConnectError: _connect_error,
        aiosmtplib.SMTPTimeoutError: transient("the server did not answer in time"),
        aiosmtplib.SMTPConnectTimeoutError: lambda exc, stage: ServerUnreachableError(
            f"connecting timed out: {exc.message}", hint="check host, port and firewalls; raise extra.timeout if slow"
        ),
        aiosmtplib.SMTPReadTimeoutError: transient("the server did not answer in time"),
        aiosmtplib.SMTPResponseException: reply_at(None),
        aiosmtplib.SMTPConnectResponseError: reply_at("connect"),
        aiosmtplib.SMTPHeloError: reply_at("connect"),
        aiosmtplib.SMTPAuthenticationError: reply_at("auth"),
        aiosmtplib.SMTPSenderRefused: reply_at("mail"),
        aiosmtplib.SMTPRecipientRefused: reply_at("rcpt"),
        aiosmtplib.SMTPDataError: reply_at("data"),
        aiosmtplib.SMTPRecipientsRefused: _all_refused,
        ssl.SSLError: _tls_error,
        OSError: _network_error,
    }


def _connect_error(exc: Any, stage: Stage) -> M365MailError:
    if isinstance(exc.__cause__, ssl.SSLError):
        return _tls_error(exc.__cause__, stage)
    if isinstance(exc.__cause__, socket.gaierror) and exc.__cause__.errno == socket.EAI_NONAME:
        return HostNotFoundError(
            f"cannot connect: {exc.message}", hint="the host name does not exist in DNS: check the host field"
        )
    return ServerUnreachableError(
        f"cannot connect: {exc.message}",
        hint="check host and port, that the server is up and that no firewall blocks the port (m365mail doctor "
        "tests each step)",
    )


def _network_error(exc: OSError, stage: Stage) -> M365MailError:
    error = ServerUnreachableError if stage == "connect" else TransientSendError
    return error(f"network error during {stage}: {exc}")


def _tls_error(exc: ssl.SSLError, stage: Stage) -> M365MailError:
    return tls_failure(
        exc,
        peer=f"the SMTP server (during {stage})",
        host_field="host",
        negotiation_hint="check security (starttls for port 587/25, ssl for 465); Exchange Online requires TLS 1.2+",
    )


def is_temporary(code: int) -> bool:
    """Tell whether an SMTP reply code refuses for now only (4xx): the same request may succeed later."""
    return 400 <= code < 500


def _all_refused(exc: Any, stage: Stage) -> M365MailError:
    """Every recipient refused, so nothing was sent: retry when one refusal is temporary (452 4.5.3 ...)."""
    for refusal in exc.recipients:
        if is_temporary(refusal.code):
            error = classify_smtp_reply(refusal.code, refusal.message, stage="rcpt")
            if isinstance(error, TransientSendError):
                return error
    return classify_refused_recipients({r.recipient: (r.code, r.message) for r in exc.recipients})
