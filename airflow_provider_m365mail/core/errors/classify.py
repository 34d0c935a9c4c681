"""Map server replies (SMTP, Microsoft Graph, Microsoft Entra ID) onto the exception tree, with a hint each.

Each reply is looked up in ``KNOWN_REPLIES`` (see ``catalogue``): an entry says what the reply means, whether a
retry can help and which PowerShell or Entra step fixes it. Unknown replies fall back on their code class.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from airflow_provider_m365mail.core.errors.catalogue import KNOWN_REPLIES, KnownReply, ReplySource
from airflow_provider_m365mail.core.errors.hierarchy import (
    AuthenticationError,
    M365MailError,
    PermanentSendError,
    RecipientsPartlyRefusedError,
    RecipientsRefusedError,
    SendAsDeniedError,
    ServerUnreachableError,
    ThrottledError,
    TransientSendError,
)

SMTP_STAGES = ("connect", "starttls", "auth", "mail", "rcpt", "data")
_STAGE_WORDS = {
    "connect": "the connection",
    "starttls": "STARTTLS",
    "auth": "authentication",
    "mail": "the sender (MAIL FROM)",
    "rcpt": "the recipient (RCPT TO)",
    "data": "the message (DATA)",
}
_MAX_REPLY_CHARS = 500


_CLASSES: dict[str, type[M365MailError]] = {
    cls.__name__: cls
    for cls in (
        TransientSendError,
        ThrottledError,
        PermanentSendError,
        AuthenticationError,
        SendAsDeniedError,
        RecipientsRefusedError,
        ServerUnreachableError,
    )
}

_ENHANCED_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_AADSTS = re.compile(r"AADSTS(\d+)")
# How the HTTP clients' SOCKS and CONNECT libraries (urllib3 + PySocks, httpcore + socksio) word a proxy's answer.
_PROXY_STATUS = re.compile(r"(?:^|Tunnel connection failed: )([1-5]\d\d)\b", re.MULTILINE)
_SOCKS_REPLY = re.compile(r"\b0x0([1-8])\b")
_SOCKS_REPLY_NAMES = {"general socks server failure": 1, "connection not allowed by ruleset": 2,
                      "network unreachable": 3, "host unreachable": 4, "connection refused": 5}
_SOCKS_AUTH = re.compile(r"username/password|authentication (?:failed|failure|method)", re.IGNORECASE)
_PROXY_DOWN = re.compile(r"Unable to connect to proxy|Error connecting to SOCKS5? proxy", re.IGNORECASE)


def parse_enhanced_status(text: str) -> str | None:
    """Return the first RFC 3463 enhanced status code in a reply ("535 5.7.139 ..." -> "5.7.139"), if any."""
    match = _ENHANCED_STATUS.search(text)
    return match.group(1) if match else None


def status_matches(wanted: str, status: str | None) -> bool:
    """Tell whether an enhanced status matches a catalogue one, which may be a range ("4.7.500-699")."""
    if status is None:
        return False
    if "-" not in wanted:
        return wanted == status
    prefix, _, span = wanted.rpartition(".")
    low, _, high = span.partition("-")
    head, _, detail = status.rpartition(".")
    return head == prefix and int(low) <= int(detail) <= int(high)


def _reply_matches(entry: KnownReply, code: str | None, status: str | None, text: str) -> bool:
    if entry.code is not None and entry.code != code:
        return False
    if entry.enhanced_status is not None and not status_matches(entry.enhanced_status, status):
        return False
    return entry.pattern is None or re.search(entry.pattern, text, re.IGNORECASE) is not None


def find_known_reply(source: ReplySource, *, code: str | None, text: str = "") -> KnownReply | None:
    """Return the first catalogue entry of ``source`` matching a reply code and text, or None."""
    status = parse_enhanced_status(text) if source is ReplySource.SMTP else None
    for entry in KNOWN_REPLIES:
        if entry.source is source and _reply_matches(entry, code, status, text):
            return entry
    return None


def _hint(entry: KnownReply) -> str:
    return f"{entry.meaning}. {entry.fix}"


def _build(
    entry: KnownReply | None,
    fallback: type[M365MailError],
    message: str,
    *,
    code: str | None,
    enhanced_status: str | None = None,
    retry_after: float | None = None,
) -> M365MailError:
    cls = _CLASSES[entry.error] if entry else fallback
    hint = _hint(entry) if entry else None
    if issubclass(cls, TransientSendError):
        wait = retry_after if retry_after is not None else (entry.retry_after if entry else None)
        return cls(message, code=code, enhanced_status=enhanced_status, hint=hint, retry_after=wait)
    return cls(message, code=code, enhanced_status=enhanced_status, hint=hint)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REPLY_CHARS else text[: _MAX_REPLY_CHARS - 3] + "..."


def classify_smtp_reply(code: int, message: str, *, stage: str) -> M365MailError:
    """Turn an SMTP reply into the matching exception (not raised), with the catalogue's hint.

    ``stage`` is one of "connect", "starttls", "auth", "mail", "rcpt", "data". Unknown 4xx replies are
    transient, anything else unknown is permanent.
    """
    if stage not in _STAGE_WORDS:
        raise ValueError(f"unknown SMTP stage {stage!r}; expected one of {', '.join(SMTP_STAGES)}")
    reply = _shorten(message)
    status = parse_enhanced_status(reply)
    entry = find_known_reply(ReplySource.SMTP, code=str(code), text=reply)
    fallback = TransientSendError if 400 <= code < 500 else PermanentSendError
    text = f"SMTP server refused {_STAGE_WORDS[stage]}: {code} {reply}".rstrip()
    return _build(entry, fallback, text, code=str(code), enhanced_status=status)


def classify_refused_recipients(refused: Mapping[str, tuple[int, str]]) -> RecipientsRefusedError:
    """Describe a message whose every recipient was refused, with the hint of the first known refusal."""
    listing, details = _refusals(refused)
    return RecipientsRefusedError(f"SMTP server refused every recipient ({listing})", refused=refused, **details)


def classify_partial_refusal(
    refused: Mapping[str, tuple[int, str]], accepted: Sequence[str]
) -> RecipientsPartlyRefusedError:
    """Describe messages that reached ``accepted`` but not ``refused`` (address -> (code, reply))."""
    listing, details = _refusals(refused)
    return RecipientsPartlyRefusedError(
        f"SMTP server refused {len(refused)} recipient(s) ({listing}); {len(accepted)} other(s) got the message",
        refused=refused,
        accepted=accepted,
        **details,
    )


def _refusals(refused: Mapping[str, tuple[int, str]]) -> tuple[str, dict[str, str | None]]:
    """Return the refusals listed one per address, and the code, status and hint the error carries.

    The code and status are the first refusal's; the hint is that of the first refusal the catalogue knows.
    """
    hint = None
    for reply_code, reply in refused.values():
        entry = find_known_reply(ReplySource.SMTP, code=str(reply_code), text=reply)
        if entry:
            hint = _hint(entry)
            break
    first_code, first_reply = next(iter(refused.values()), (0, ""))
    listing = "; ".join(f"{address}: {code} {_shorten(reply)}" for address, (code, reply) in refused.items())
    details = {
        "code": str(first_code) if first_code else None,
        "enhanced_status": parse_enhanced_status(first_reply),
        "hint": hint,
    }
    return listing, details


def classify_graph_error(
    status: int, code: str | None, message: str, *, retry_after: float | None = None
) -> M365MailError:
    """Turn a Microsoft Graph error (HTTP status, ``error.code``, ``error.message``) into an exception.

    Unknown 429 is throttling, unknown 5xx is transient, unknown 401 is an authentication failure, other
    unknown statuses are permanent.
    """
    entry = None
    if code:
        entry = next(
            (
                e
                for e in KNOWN_REPLIES
                if e.source is ReplySource.GRAPH and e.code and e.code.casefold() == code.casefold()
            ),
            None,
        )
    if entry is None:
        entry = next(
            (e for e in KNOWN_REPLIES if e.source is ReplySource.GRAPH and not e.code and e.http_status == status),
            None,
        )
    fallback: type[M365MailError]
    if status == 429:
        fallback = ThrottledError
    elif status >= 500:
        fallback = TransientSendError
    elif status == 401:
        fallback = AuthenticationError
    else:
        fallback = PermanentSendError
    text = f"Microsoft Graph refused the request: HTTP {status} {code or ''}: {_shorten(message)}"
    return _build(entry, fallback, " ".join(text.split()), code=code or str(status), retry_after=retry_after)


def classify_ews_fault(code: str, message: str, *, back_off_s: float | None = None) -> M365MailError:
    """Turn an EWS ``ResponseCode`` (or ``HTTP<status>``) and its ``MessageText`` into an exception.

    ``back_off_s`` is the server's ``BackOffMilliseconds`` in seconds. Unknown codes are permanent, except
    ``HTTP5xx``, which is transient.
    """
    entry = next((e for e in KNOWN_REPLIES if e.source is ReplySource.EWS and e.code == code), None)
    fallback = TransientSendError if code.startswith("HTTP5") else PermanentSendError
    text = f"Exchange Server (EWS) refused the request: {code}: {_shorten(message)}"
    return _build(entry, fallback, text, code=code, retry_after=back_off_s)


def classify_acs_error(
    status: int, code: str | None, message: str, *, retry_after: float | None = None
) -> M365MailError:
    """Turn an Azure Communication Services Email error (HTTP status, ``error.code``, ``error.message``).

    A failed send operation passes its status as 200. Unknown 429 is throttling, unknown 5xx transient.
    """
    entry = next((e for e in KNOWN_REPLIES if e.source is ReplySource.ACS and code and e.code == code), None) or next(
        (e for e in KNOWN_REPLIES if e.source is ReplySource.ACS and not e.code and e.http_status == status), None
    )
    fallback: type[M365MailError] = (
        ThrottledError if status == 429 else TransientSendError if status >= 500
        else AuthenticationError if status == 401 else PermanentSendError
    )
    where = "the send operation failed" if status < 300 else f"refused the request: HTTP {status}"
    text = f"Azure Communication Services Email {where} {code or ''}: {_shorten(message)}"
    return _build(entry, fallback, " ".join(text.split()), code=code or str(status), retry_after=retry_after)


_TRANSIENT_ENTRA_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
# MSAL answers a repeated token request from its cache of 429/5xx replies for their Retry-After (5 s when the
# identity provider names none): a retry any sooner only meets the same cached failure.
MSAL_ERROR_CACHE_S = 5.0


def classify_aadsts(
    error: str | None, description: str | None, codes: Sequence[int] | None = None
) -> M365MailError:
    """Turn a Microsoft Entra ID token error (MSAL's ``error``, ``error_description``, ``error_codes``).

    The AADSTS number comes from ``codes`` or is parsed from the description ("AADSTS7000215: ...").
    """
    number: int | None = codes[0] if codes else None
    if number is None and description:
        match = _AADSTS.search(description)
        number = int(match.group(1)) if match else None
    code = f"AADSTS{number}" if number is not None else error
    entry = find_known_reply(ReplySource.ENTRA, code=code) if number is not None else None
    fallback = TransientSendError if error in _TRANSIENT_ENTRA_ERRORS else AuthenticationError
    first_line = (description or "").strip().splitlines()[0] if (description or "").strip() else ""
    detail = _shorten(first_line) or error or "no description"
    retry_after = MSAL_ERROR_CACHE_S if fallback is TransientSendError else None
    return _build(
        entry, fallback, f"Microsoft Entra ID refused the token request: {detail}", code=code, retry_after=retry_after
    )


def proxy_failure_code(text: str) -> str | None:
    """Return the ``classify_proxy_failure`` code an HTTP client's error text shows, or None if it shows none.

    ``text`` is the error and its causes, one per line: "Tunnel connection failed: 407 ..." (urllib3), "407 Proxy
    Authentication Required" (httpcore), "0x04: Host unreachable" (PySocks), "Proxy Server could not connect:
    Host unreachable." (httpcore), "Invalid username/password", "Unable to connect to proxy".
    """
    if _SOCKS_AUTH.search(text):
        return "socks-auth"
    found = _SOCKS_REPLY.search(text)
    if found:
        return f"socks-0x0{found.group(1)}"
    named = re.search(r"could not connect: ([\w ]+)\.", text)
    if named and named.group(1).lower() in _SOCKS_REPLY_NAMES:
        return f"socks-0x0{_SOCKS_REPLY_NAMES[named.group(1).lower()]}"
    status = _PROXY_STATUS.search(text)
    if status:
        return status.group(1)
    return "unreachable" if _PROXY_DOWN.search(text) else None


def classify_proxy_failure(proxy: str, code: str, detail: str, *, target: str) -> M365MailError:
    """Turn a proxy's failure to open a tunnel to ``target`` ("host:port") into an exception with its fix.

    ``proxy`` is the proxy URL with its password already masked. ``code`` is "unreachable" (the proxy itself),
    an HTTP status of the CONNECT ("407"), "socks-auth", or a SOCKS5 reply ("socks-0x04"). Unknown HTTP 5xx and
    SOCKS replies are transient, other unknown statuses permanent.
    """
    if code == "401":  # tinyproxy answers a CONNECT without valid credentials so, instead of 407
        code = "407"
    entry = find_known_reply(ReplySource.PROXY, code=code)
    fallback: type[M365MailError] = PermanentSendError
    if code.startswith("socks-") or code.startswith("5"):
        fallback = TransientSendError
    if code == "unreachable":
        text = f"the proxy {proxy} could not be reached to open a tunnel to {target}: {_shorten(detail)}"
    else:
        text = f"the proxy {proxy} did not open a tunnel to {target}: {_shorten(detail)}"
    return _build(entry, fallback, text, code=code)
