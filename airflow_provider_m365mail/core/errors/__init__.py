"""Errors: the exception tree, the catalogue of known server replies, and the classifiers between them.

``hierarchy`` holds the exceptions, ``catalogue`` what each known reply from Exchange Online, Microsoft Graph,
Microsoft Entra ID, Exchange Server and proxies means and how to fix it, ``classify`` turns replies into exceptions,
and ``troubleshooting`` names each entry's section of the troubleshooting page; ``foreign`` holds what the
per-library translators of foreign exceptions (aiosmtplib, httpx, requests and MSAL) share. Imports nothing else
from the core.
"""

from __future__ import annotations

from airflow_provider_m365mail.core.errors.catalogue import KNOWN_REPLIES, KnownReply, ReplySource
from airflow_provider_m365mail.core.errors.classify import (
    MSAL_ERROR_CACHE_S,
    SMTP_STAGES,
    classify_aadsts,
    classify_acs_error,
    classify_ews_fault,
    classify_graph_error,
    classify_partial_refusal,
    classify_proxy_failure,
    classify_refused_recipients,
    classify_smtp_reply,
    find_known_reply,
    parse_enhanced_status,
    proxy_failure_code,
)
from airflow_provider_m365mail.core.errors.hierarchy import (
    AuthenticationError,
    ConfigurationError,
    DailyRecipientLimitError,
    HostNotFoundError,
    M365MailError,
    MessageValidationError,
    PermanentSendError,
    RecipientsPartlyRefusedError,
    RecipientsRefusedError,
    SendAsDeniedError,
    ServerUnreachableError,
    ThrottledError,
    TransientSendError,
    ValidationError,
)

__all__ = [
    "KNOWN_REPLIES",
    "MSAL_ERROR_CACHE_S",
    "SMTP_STAGES",
    "AuthenticationError",
    "ConfigurationError",
    "DailyRecipientLimitError",
    "HostNotFoundError",
    "KnownReply",
    "M365MailError",
    "MessageValidationError",
    "PermanentSendError",
    "RecipientsPartlyRefusedError",
    "RecipientsRefusedError",
    "ReplySource",
    "SendAsDeniedError",
    "ServerUnreachableError",
    "ThrottledError",
    "TransientSendError",
    "ValidationError",
    "classify_aadsts",
    "classify_acs_error",
    "classify_ews_fault",
    "classify_graph_error",
    "classify_partial_refusal",
    "classify_proxy_failure",
    "classify_refused_recipients",
    "classify_smtp_reply",
    "find_known_reply",
    "parse_enhanced_status",
    "proxy_failure_code",
]
