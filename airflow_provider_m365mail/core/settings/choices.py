"""The closed sets of choices a mail connection offers (transport, SMTP mode, security, authentication)."""

from __future__ import annotations

from enum import Enum


class TransportKind(str, Enum):
    """How mail leaves: SMTP, Microsoft Graph ``sendMail``, EWS on Exchange Server, or Azure Communication Services."""

    SMTP = "smtp"
    GRAPH = "graph"
    EWS = "ews"
    ACS = "acs"  # Azure Communication Services Email's REST API


class SmtpMode(str, Enum):
    """Microsoft's SMTP options: SMTP AUTH submission, direct send, relay, High Volume Email and ACS's SMTP endpoint."""

    SUBMISSION = "submission"
    DIRECT_SEND = "direct_send"
    RELAY = "relay"
    HVE = "hve"  # High Volume Email for Microsoft 365: internal recipients only
    ACS = "acs"  # Azure Communication Services Email's SMTP endpoint


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
    ACCESS_KEY = "access_key"  # HMAC-SHA256 with an Azure Communication Services resource's access key
    NONE = "none"
