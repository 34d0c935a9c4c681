"""The closed sets of choices a mail connection offers (transport, SMTP mode, security, authentication)."""

from __future__ import annotations

from enum import Enum


class TransportKind(str, Enum):
    """How mail leaves: SMTP, Microsoft Graph ``sendMail``, or EWS ``CreateItem`` on Exchange Server."""

    SMTP = "smtp"
    GRAPH = "graph"
    EWS = "ews"


class SmtpMode(str, Enum):
    """Microsoft's three SMTP options: SMTP AUTH submission, direct send to the MX, relay via a connector."""

    SUBMISSION = "submission"
    DIRECT_SEND = "direct_send"
    RELAY = "relay"


class Security(str, Enum):
    """Transport security of the SMTP connection."""

    STARTTLS = "starttls"
    SSL = "ssl"
    NONE = "none"


class AuthType(str, Enum):
    """How the provider signs in."""

    BASIC = "basic"
    OAUTH2_APP = "oauth2_app"
    OAUTH2_DELEGATED = "oauth2_delegated"
    NTLM = "ntlm"  # Windows integrated authentication: EWS on Exchange Server only
    NONE = "none"
