"""Turn what Graph clients submit (a JSON message, or base64 MIME) into the MIME the sandbox stores.

The message store keeps one format whatever the transport, so Graph's JSON message is converted here with the
standard ``email`` package, the way Exchange would render it: Bcc only on the envelope, inline attachments in a
``multipart/related`` beside the HTML body, custom ``X-`` headers kept, the subject as the literal text it is in
the JSON (the ``email`` package would decode text that looks like an RFC 2047 encoded word). Property names are matched
case-insensitively because Graph accepts ``Message`` as well as ``message`` (msgraph-sdk sends PascalCase).
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email import headerregistry, policy
from email.errors import HeaderParseError, NonASCIILocalPartDefect
from email.header import Header
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import formataddr, formatdate, getaddresses, make_msgid
from typing import Any

MAX_CUSTOM_HEADERS_SIZE = 5 * 1024


class InvalidGraphMessage(ValueError):
    """The submitted message cannot be accepted; carries Graph's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Address:
    """A Graph ``emailAddress``: an address and an optional display name."""

    address: str
    name: str = ""

    def header(self) -> str:
        """Return the address as a header value (``"Name" <a@b>``, the name RFC 2047-encoded if need be)."""
        return formataddr((_one_line(self.name), self.address))


@dataclass(frozen=True)
class Attachment:
    """A file attachment with its bytes."""

    name: str
    content_type: str
    data: bytes
    is_inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True)
class GraphMessage:
    """The parts of a Graph message resource the sandbox renders."""

    from_: Address | None
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    body: str
    body_is_html: bool
    importance: str | None
    headers: tuple[tuple[str, str], ...]
    internet_message_id: str | None
    attachments: tuple[Attachment, ...]

    def recipients(self) -> list[str]:
        """Return every recipient address (To, Cc, Bcc) once, in order."""
        return _unique(a.address for a in (*self.to, *self.cc, *self.bcc))


def field(data: Mapping[str, Any], name: str) -> Any:
    """Return a property by name, ignoring case (``Message`` or ``message``); None if absent."""
    wanted = name.casefold()
    return next((v for k, v in data.items() if k.casefold() == wanted), None)


def parse_graph_message(data: Mapping[str, Any]) -> GraphMessage:
    """Read a Graph message resource, raising ``InvalidGraphMessage`` where Graph would answer 400."""
    body = field(data, "body") or {}
    if not isinstance(body, Mapping):
        raise InvalidGraphMessage("RequestBodyRead", "The 'body' property must be an itemBody object.")
    content_type = str(field(body, "contentType") or "text").casefold()
    if content_type not in ("text", "html"):
        raise InvalidGraphMessage("RequestBodyRead", f"The value '{content_type}' is not a valid bodyType.")
    importance = field(data, "importance")
    return GraphMessage(
        from_=_recipient(field(data, "from"), "from"),
        sender=_recipient(field(data, "sender"), "sender"),
        to=_recipients(field(data, "toRecipients"), "toRecipients"),
        cc=_recipients(field(data, "ccRecipients"), "ccRecipients"),
        bcc=_recipients(field(data, "bccRecipients"), "bccRecipients"),
        reply_to=_recipients(field(data, "replyTo"), "replyTo"),
        subject=str(field(data, "subject") or ""),
        body=str(field(body, "content") or ""),
        body_is_html=content_type == "html",
        importance=str(importance).casefold() if importance else None,
        headers=_custom_headers(field(data, "internetMessageHeaders")),
        internet_message_id=str(field(data, "internetMessageId") or "") or None,
        attachments=tuple(parse_attachment(a) for a in field(data, "attachments") or ()),
    )


def parse_attachment(data: Any) -> Attachment:
    """Read a ``fileAttachment`` resource (``contentBytes`` in base64)."""
    if not isinstance(data, Mapping):
        raise InvalidGraphMessage("RequestBodyRead", "Each attachment must be an attachment object.")
    kind = str(field(data, "@odata.type") or "#microsoft.graph.fileAttachment")
    if kind.casefold() != "#microsoft.graph.fileattachment":
        raise InvalidGraphMessage("ErrorInvalidRequest", f"The sandbox emulates fileAttachment only, not {kind}.")
    name = str(field(data, "name") or "attachment")
    try:
        content = base64.b64decode(str(field(data, "contentBytes") or ""), validate=True)
    except binascii.Error as exc:
        raise InvalidGraphMessage("RequestBodyRead", "Cannot convert the literal in 'contentBytes' to the "
                                  "expected type 'Edm.Binary'.") from exc
    return Attachment(
        name=name,
        content_type=str(field(data, "contentType") or guess_type(name)),
        data=content,
        is_inline=bool(field(data, "isInline")),
        content_id=field(data, "contentId"),
    )


def guess_type(filename: str) -> str:
    """Return the MIME type for a file name, ``application/octet-stream`` when unknown."""
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def graph_to_mime(message: GraphMessage, *, from_: Address, sender: Address | None,
                  extra_attachments: Sequence[Attachment] = ()) -> bytes:
    """Render the message as MIME bytes (CRLF line ends), From and Sender as authorised by the caller."""
    mime = EmailMessage()
    mime["From"] = _mailbox(from_)
    if sender is not None and sender.address.casefold() != from_.address.casefold():
        mime["Sender"] = _mailbox(sender)
    for header, addresses in (("To", message.to), ("Cc", message.cc), ("Reply-To", message.reply_to)):
        if addresses:
            mime[header] = [_mailbox(a) for a in addresses]
    mime["Subject"] = _literal("Subject", _one_line(message.subject))
    mime["Date"] = formatdate(usegmt=True)
    domain = from_.address.rpartition("@")[2]
    mime["Message-ID"] = _one_line(message.internet_message_id or "") or make_msgid(domain=domain)
    if message.importance in ("high", "low"):
        mime["Importance"] = message.importance
        mime["X-Priority"] = "1" if message.importance == "high" else "5"
    for name, value in message.headers:
        mime[name] = value
    mime.set_content(message.body, subtype="html" if message.body_is_html else "plain")
    attachments = (*message.attachments, *extra_attachments)
    related = [a for a in attachments if a.is_inline and a.content_id and message.body_is_html]
    others = [a for a in attachments if not (a.is_inline and a.content_id and message.body_is_html)]
    encoded: dict[bytes, bytes] = {}
    if related:
        mime.make_related()
        for item in related:
            mime.attach(_attachment_part(item, inline=True, encoded=encoded))
    if others:
        mime.make_mixed()
        for item in others:
            mime.attach(_attachment_part(item, inline=False, encoded=encoded))
    everyone = [from_, *([sender] if sender else []), *message.to, *message.cc, *message.reply_to]
    internationalized = not all(a.address.isascii() for a in everyone)
    rendered = mime.as_bytes(policy=policy.SMTPUTF8 if internationalized else policy.SMTP)
    for marker, data in encoded.items():
        rendered = rendered.replace(marker, data, 1)
    return rendered


def _mailbox(address: Address) -> headerregistry.Address:
    name = _one_line(address.name)
    try:
        return headerregistry.Address(display_name=name, addr_spec=address.address)
    except NonASCIILocalPartDefect:
        # Exchange Online takes internationalized addresses (EAI); the stdlib parser flags them as a defect.
        local, _, domain = address.address.rpartition("@")
        return headerregistry.Address(display_name=name, username=local, domain=domain)
    except (ValueError, HeaderParseError) as exc:
        raise InvalidGraphMessage(
            "ErrorInvalidRecipients",
            f"At least one recipient is not valid., Recipient '{address.address}' is not resolved.",
        ) from exc


def _attachment_part(item: Attachment, *, inline: bool, encoded: dict[bytes, bytes]) -> EmailMessage:
    """Return a base64 part whose payload is a marker, recording the encoded bytes that replace it.

    The email generator writes payloads line by line in Python; splicing the base64 in afterwards keeps a
    150 MB upload from blocking the sandbox's loop for seconds.
    """
    part = EmailMessage()
    maintype, _, subtype = item.content_type.partition("/")
    part["Content-Type"] = f"{maintype or 'application'}/{subtype or 'octet-stream'}"
    part.set_param("name", item.name)
    part.add_header("Content-Disposition", "inline" if inline else "attachment", filename=item.name)
    part["Content-Transfer-Encoding"] = "base64"
    if item.content_id:
        part["Content-ID"] = f"<{item.content_id.strip('<>')}>"
    marker = f"attachment-{uuid.uuid4().hex}"
    part.set_payload(marker)
    encoded[marker.encode()] = base64.encodebytes(item.data).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    return part


@dataclass(frozen=True)
class MimeSubmission:
    """A MIME message posted to sendMail, with the addresses Exchange reads from its headers."""

    raw: bytes
    from_: Address | None
    sender: Address | None
    recipients: tuple[str, ...]


def decode_mime_submission(body: bytes) -> MimeSubmission:
    """Decode sendMail's MIME form (a base64 text body); raise ``ErrorMimeContentInvalidBase64String``."""
    try:
        raw = base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error as exc:
        raise InvalidGraphMessage("ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.") \
            from exc
    if not raw.strip():
        raise InvalidGraphMessage("ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)

    def addresses(*names: str) -> list[Address]:
        values = [str(v) for name in names for v in headers.get_all(name, [])]
        return [Address(addr, display) for display, addr in getaddresses(values) if addr]

    from_list, sender_list = addresses("From"), addresses("Sender")
    return MimeSubmission(
        raw=raw,
        from_=from_list[0] if from_list else None,
        sender=sender_list[0] if sender_list else None,
        recipients=tuple(_unique(a.address for a in addresses("To", "Cc", "Bcc"))),
    )


def finish_mime(raw: bytes, *, replace: Mapping[str, str], defaults: Mapping[str, str],
                drop: Iterable[str] = ("Bcc",)) -> bytes:
    """Return ``raw`` with headers replaced, dropped or filled in where absent; the body bytes stay untouched."""
    end = _header_end(raw)
    head, rest = raw[:end], raw[end:]
    newline = b"\n" if head and b"\r\n" not in head else b"\r\n"
    fields: list[list[bytes]] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])

    def name_of(lines: list[bytes]) -> str:
        return lines[0].split(b":", 1)[0].decode("latin-1").strip().casefold()

    removed = {name.casefold() for name in (*drop, *replace)}
    present = {name_of(f) for f in fields}
    added = [f"{k}: {v}".encode() + newline for k, v in replace.items()]
    added += [f"{k}: {v}".encode() + newline for k, v in defaults.items() if k.casefold() not in present]
    return b"".join(added + [b"".join(f) for f in fields if name_of(f) not in removed]) + rest


def _header_end(raw: bytes) -> int:
    """Return the offset of the blank line ending the header block (the whole message if there is none)."""
    found = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    if not found:
        return len(raw)
    first = min(found)
    return first + (2 if raw.startswith(b"\r\n", first) else 1)


def _recipient(data: Any, where: str) -> Address | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise InvalidGraphMessage("RequestBodyRead", f"'{where}' must be a recipient object.")
    email = field(data, "emailAddress")
    if not isinstance(email, Mapping):
        raise InvalidGraphMessage("RequestBodyRead", f"'{where}' must hold an emailAddress object.")
    address = str(field(email, "address") or "").strip()
    local, at, domain = address.rpartition("@")
    if not (local and at and domain) or any(c.isspace() for c in address):
        raise InvalidGraphMessage(
            "ErrorInvalidRecipients",
            f"At least one recipient is not valid., Recipient '{address}' is not resolved. All recipients must be "
            "resolved before a message can be submitted.",
        )
    return Address(address, str(field(email, "name") or ""))


def _recipients(data: Any, where: str) -> tuple[Address, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise InvalidGraphMessage("RequestBodyRead", f"'{where}' must be a collection of recipients.")
    return tuple(a for a in (_recipient(item, where) for item in data) if a is not None)


def _custom_headers(data: Any) -> tuple[tuple[str, str], ...]:
    if not data:
        return ()
    if not isinstance(data, list) or not all(isinstance(h, Mapping) for h in data):
        raise InvalidGraphMessage("RequestBodyRead", "'internetMessageHeaders' must be a collection of headers.")
    headers = tuple((str(field(h, "name") or ""), _one_line(str(field(h, "value") or ""))) for h in data)
    for name, _ in headers:
        if not name.casefold().startswith("x-") or any(c.isspace() or c == ":" for c in name):
            raise InvalidGraphMessage("InvalidInternetMessageHeader",
                                      f"The internet message header name '{name}' should start with 'x-' or 'X-'.")
    if sum(len(n) + len(v) for n, v in headers) > MAX_CUSTOM_HEADERS_SIZE:
        raise InvalidGraphMessage("InvalidInternetMessageHeaderCollection",
                                  "Maximum total size of internet message headers is 5 KB.")
    return headers


@dataclass(frozen=True)
class _EncodedWhole:
    """An unstructured header written entirely as encoded words, so that readers decode it to exactly its text.

    The ``email`` policies store an object with ``name`` and ``fold`` as it is instead of parsing the value.
    """

    name: str
    value: str

    def fold(self, *, policy: Any) -> str:
        encoded = Header(self.value, "utf-8", header_name=self.name).encode(
            linesep=policy.linesep, maxlinelen=policy.max_line_length)
        return f"{self.name}: {encoded}{policy.linesep}"

    def __str__(self) -> str:
        return self.value


def _literal(name: str, text: str) -> str | _EncodedWhole:
    """Return a header value that readers see as ``text``: Graph's JSON strings are text, not MIME header syntax."""
    return _EncodedWhole(name, text) if "=?" in text else text


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())


def _unique(addresses: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for address in addresses:
        if address.casefold() not in seen:
            seen.add(address.casefold())
            result.append(address)
    return result
