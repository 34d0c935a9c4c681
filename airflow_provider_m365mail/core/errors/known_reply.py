"""What a catalogue entry is (``KnownReply``), and the helpers the catalogue's tables are written with.

``catalogue`` holds Exchange Online's, Microsoft Graph's and Entra ID's replies, ``ews_replies`` Exchange Server's,
``proxy_replies`` those of the proxies a connection tunnels through.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ReplySource(str, Enum):
    """Who produced the reply."""

    SMTP = "smtp"
    GRAPH = "graph"
    ENTRA = "entra"
    EWS = "ews"
    PROXY = "proxy"
    ACS = "acs"  # Azure Communication Services Email's REST API


@dataclass(frozen=True)
class KnownReply:
    """One recognised reply.

    SMTP entries match on ``code`` (reply code, when set), ``enhanced_status`` ("5.7.139" or a range such as
    "4.7.500-699") and ``pattern`` (a case-insensitive regex searched in the reply). Graph entries match on
    ``code`` (Graph ``error.code``), or, when ``code`` is None, on ``http_status``. Entra entries match on
    ``code`` ("AADSTS7000215"), EWS entries on ``code`` (``ResponseCode``), proxy entries on ``code`` ("407",
    "socks-0x04"). ``error`` names the class in ``core.errors`` the reply becomes.
    """

    source: ReplySource
    code: str | None
    enhanced_status: str | None
    pattern: str | None
    example: str
    stage: str
    meaning: str
    fix: str
    transient: bool
    error: str
    http_status: int | None = None
    retry_after: float | None = None


_SMTP = ReplySource.SMTP
_GRAPH = ReplySource.GRAPH
_ENTRA = ReplySource.ENTRA
_EWS = ReplySource.EWS
_PROXY = ReplySource.PROXY
AUTH = "AuthenticationError"
SEND_AS = "SendAsDeniedError"
PERMANENT = "PermanentSendError"
TRANSIENT = "TransientSendError"
THROTTLED = "ThrottledError"
UNREACHABLE = "ServerUnreachableError"

OAUTH = (
    "auth_type oauth2_app with tenant_id, client_id and a client secret or certificate (the app needs "
    "SMTP.SendAsApp), or transport graph"
)
USE_OAUTH = "Use OAuth instead: " + OAUTH
SEND_AS_STEPS = (
    "Add-RecipientPermission -Identity <from address> -Trustee <authenticating account> -AccessRights SendAs "
    "(for app-only OAuth the trustee is the app's Exchange service principal), or for Send on Behalf "
    "Set-Mailbox <from address> -GrantSendOnBehalfTo <authenticating account>. A new grant can take up to 60 "
    "minutes to apply: SendAsPermissionSensor waits for it"
)
SEND_AS_GRANT = "Grant it: " + SEND_AS_STEPS


def smtp_reply(  # noqa: PLR0917 - positional arguments keep each table row readable
    code: str | None,
    status: str | None,
    pattern: str | None,
    example: str,
    stage: str,
    meaning: str,
    fix: str,
    error: str,
    *,
    retry_after: float | None = None,
) -> KnownReply:
    transient = error in (TRANSIENT, THROTTLED)
    return KnownReply(_SMTP, code, status, pattern, example, stage, meaning, fix, transient, error,
                      retry_after=retry_after)


def graph_reply(  # noqa: PLR0917 - positional arguments keep each table row readable
    code: str | None, status: int, example: str, meaning: str, fix: str, error: str
) -> KnownReply:
    transient = error in (TRANSIENT, THROTTLED)
    return KnownReply(_GRAPH, code, None, None, example, "Graph request", meaning, fix, transient, error,
                      http_status=status)


def entra_reply(number: int, example: str, meaning: str, fix: str, error: str = AUTH) -> KnownReply:
    code = f"AADSTS{number}"
    return KnownReply(_ENTRA, code, None, None, f"{code}: {example}", "token request", meaning, fix,
                      error in (TRANSIENT, THROTTLED), error)


def ews_reply(code: str, example: str, meaning: str, fix: str, error: str) -> KnownReply:
    return KnownReply(_EWS, code, None, None, example, "EWS request", meaning, fix,
                      error in (TRANSIENT, THROTTLED), error)


def proxy_reply(code: str, example: str, meaning: str, fix: str, error: str) -> KnownReply:
    return KnownReply(_PROXY, code, None, None, example, "proxy tunnel (HTTP CONNECT or SOCKS5)", meaning, fix,
                      error in (TRANSIENT, THROTTLED, UNREACHABLE), error)
