"""Exchange Online's SMTP reply texts, in one place for the sandbox server and the tests that check it.

The texts follow ``M365-FACTS.md``. aiosmtpd answers some situations itself (syntax errors, size, STARTTLS
required); ``translate`` turns those answers into what Exchange says in the same situation.
"""

from __future__ import annotations

GREETING_IDENT = "Microsoft ESMTP MAIL Service ready (m365mail sandbox)"
STARTTLS_READY = "220 2.0.0 SMTP server ready"
AUTH_OK = "235 2.7.0 Authentication successful"
SENDER_OK = "250 2.1.0 Sender OK"
RECIPIENT_OK = "250 2.1.5 Recipient OK"
DATA_GO_AHEAD = "354 Start mail input; end with <CRLF>.<CRLF>"
QUEUED = "250 2.0.0 OK {message_id} [Hostname={host}]"
CLOSING = "221 2.0.0 Service closing transmission channel"
AUTH_LOGIN_USERNAME = "Username:"
AUTH_LOGIN_PASSWORD = "Password:"

AUTH_FAILED = "535 5.7.3 Authentication unsuccessful"
SMTP_AUTH_DISABLED_TENANT = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
    "Visit https://aka.ms/smtp_auth_disabled"
)
SMTP_AUTH_DISABLED_MAILBOX = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. "
    "Visit https://aka.ms/smtp_auth_disabled"
)
BASIC_AUTH_DISABLED = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
MALFORMED_AUTH = "501 5.5.2 Cannot Base64-decode Client responses"
STARTTLS_REQUIRED = "530 5.7.0 Must issue a STARTTLS command first"
NOT_AUTHENTICATED = "530 5.7.57 Client not authenticated to send mail"
SEND_AS_DENIED_ENVELOPE = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
SEND_AS_DENIED_HEADER = (
    "554 5.2.252 SendAsDenied; {principal} not allowed to send as {sender}; "
    "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied"
)
THREAD_LIMIT = "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"
SIZE_EXCEEDED = "552 5.3.4 Message size exceeds fixed maximum message size"
DIRECT_SEND_EXTERNAL = "550 5.4.1 Recipient address rejected: Access denied"
RELAY_DENIED = "550 5.7.64 TenantAttribution; Relay Access Denied"
# High Volume Email: Microsoft documents the rules (internal recipients only, an account without a billing policy
# is "Not active"); the exact reply texts below are Exchange Online's wording for the same refusals.
HVE_EXTERNAL_RECIPIENT = "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"
HVE_NOT_ACTIVE = "550 5.7.1 Sending denied: the HVE account is not active (no billing policy is assigned)"
# Azure Communication Services' SMTP endpoint: the MailFrom must belong to a verified domain of the resource.
ACS_SENDER_NOT_VERIFIED = "550 5.7.1 Sender address is not a MailFrom address of a domain linked to this resource"
SERVER_ERROR = "451 4.3.0 Temporary server error. Please try again later"
TIMED_OUT = "421 4.4.1 Connection timed out"

# Default texts for injected "reply" faults that name only a code.
FAULT_TEXTS: dict[int, str] = {
    421: "421 4.3.2 Service not available, closing transmission channel",
    432: THREAD_LIMIT,
    451: "451 4.7.500 Access denied, please try again later",
    452: "452 4.3.1 Insufficient system resources",
    554: "554 5.6.0 Corrupt message content",
}

# aiosmtpd's own answers and what Exchange says instead.
_AIOSMTPD_TO_EXCHANGE: dict[str, str] = {
    "530 Must issue a STARTTLS command first": STARTTLS_REQUIRED,
    "220 Ready to start TLS": STARTTLS_READY,
    "250 OK": "250 2.0.0 OK",
    "221 Bye": CLOSING,
    "354 End data with <CR><LF>.<CR><LF>": DATA_GO_AHEAD,
    "552 Error: Too much mail data": SIZE_EXCEEDED,
    "552 Error: message size exceeds fixed maximum message size": SIZE_EXCEEDED,
    "501 5.5.2 Can't decode base64": MALFORMED_AUTH,
    "501 5.5.2 Can't split auth value": "501 5.5.4 Invalid arguments",
    "501 5.7.0 Auth aborted": "501 5.0.0 Authentication Aborted",
    "503 Already authenticated": "503 5.5.2 Already authenticated",
    "504 5.5.4 Unrecognized authentication type": "504 5.7.4 Unrecognized authentication type",
    "503 Error: need MAIL command": "503 5.5.2 Need mail command",
    "503 Error: need RCPT command": "503 5.5.2 Need rcpt command",
    "503 Error: nested MAIL command": "503 5.5.2 Sender already specified",
    "503 Error: send HELO first": "503 5.5.2 Send hello first",
    "503 Error: send EHLO first": "503 5.5.2 Send hello first",
    "553 5.1.3 Error: malformed address": "501 5.1.7 Invalid address",
    "500 Command line too long": "500 5.5.2 Line too long",
    "500 Line too long (see RFC5321 4.5.3.1.6)": "500 5.5.2 Line too long",
}
_AIOSMTPD_PREFIXES: tuple[tuple[str, str], ...] = (
    ("500 Error: command", "500 5.3.3 Unrecognized command"),
    ("500 Error: bad syntax", "500 5.3.3 Unrecognized command"),
    ("501 Syntax:", "501 5.5.4 Invalid arguments"),
)


def translate(reply: str) -> str:
    """Return Exchange's text for one of aiosmtpd's built-in replies; other replies pass unchanged."""
    exact = _AIOSMTPD_TO_EXCHANGE.get(reply)
    if exact is not None:
        return exact
    return next((ours for theirs, ours in _AIOSMTPD_PREFIXES if reply.startswith(theirs)), reply)


def fault_reply(code: int | None, message: str | None) -> str:
    """Return the reply line for an injected fault: ``message`` with its code, or the catalogue's text."""
    code = code or 421
    if not message:
        return FAULT_TEXTS.get(code, f"{code} Injected failure")
    return message if message.startswith(str(code)) else f"{code} {message}"
