"""Describe an outgoing message once, validated, and build its MIME form.

``OutgoingMessage.create`` refuses anything that could corrupt or inject headers (line breaks, reserved or
malformed header names, bad addresses) and missing attachment files, naming the field. ``build_mime`` turns it
into ``mixed[related[alternative[text, html], inline images], attachments]`` (levels collapse when absent) with
the stdlib ``email`` package and an SMTP policy (CRLF, RFC 2047 for non-ASCII headers, 7-bit-safe bodies).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy, utils
from email.message import EmailMessage, MIMEPart
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from airflow_provider_m365mail.core.errors import MessageValidationError
from airflow_provider_m365mail.core.message.address_syntax import domain_key
from airflow_provider_m365mail.core.message.addresses import (
    Address,
    parse_address_list,
    refuse_control_characters,
    refuse_line_breaks,
    refuse_unencodable,
)
from airflow_provider_m365mail.core.message.encoded_headers import address_header, text_header
from airflow_provider_m365mail.core.message.header_factory import HEADER_FACTORY

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.identity import SenderIdentity

# policy.SMTP with 7-bit bodies: any server (no 8BITMIME needed) and Graph's MIME upload take it unchanged.
MIME_POLICY = policy.SMTP.clone(cte_type="7bit", header_factory=HEADER_FACTORY)
IMPORTANCE_HEADERS = {"high": ("High", "1"), "low": ("Low", "5")}
RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "sender", "reply-to", "message-id", "date", "subject", "mime-version",
     "importance", "x-priority"}
)
# Trace fields (RFC 5321 4.4, RFC 5322 3.6.6-3.6.7): servers add them on the way; set by a sender they would forge
# a message's path or a resend. Disposition-Notification-To (a read-receipt request) is the sender's to set.
TRACE_HEADERS = frozenset({"return-path", "received"})
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII except ":"
_CONTENT_ID = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]+$")
_MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")


@dataclass(frozen=True)
class Attachment:
    """A file to attach, from bytes or a path. With ``content_id`` it is an inline image (``cid:<id>``)."""

    filename: str
    content: bytes | None = None
    path: Path | None = None
    mimetype: str | None = None
    content_id: str | None = None

    def __post_init__(self) -> None:
        if (self.content is None) == (self.path is None):
            raise MessageValidationError("attachments", f"{self.filename!r}: give exactly one of content or path")
        if not isinstance(self.filename, str):
            raise MessageValidationError("attachments", f"a file name must be text, not {type(self.filename).__name__}")
        if self.content is not None and not isinstance(self.content, bytes):
            raise MessageValidationError(
                "attachments", f"{self.filename!r}: content must be bytes, not {type(self.content).__name__}"
            )
        if self.path is not None and not isinstance(self.path, Path):
            raise MessageValidationError("attachments", f"{self.filename!r}: use Attachment.from_path for a path")
        refuse_control_characters(self.filename, field="attachments")
        if not self.filename.strip():
            raise MessageValidationError("attachments", "an attachment needs a file name")
        if self.mimetype is not None and not re.fullmatch(r"[\w.+-]+/[\w.+-]+", self.mimetype):
            raise MessageValidationError("attachments", f"{self.mimetype!r} is not a MIME type like image/png")
        if self.content_id is not None and not _CONTENT_ID.match(self.content_id):
            raise MessageValidationError(
                "attachments", f"content_id {self.content_id!r} may hold only letters, digits and @.-_ (no <>)"
            )

    @classmethod
    def from_path(cls, path: str | Path, *, content_id: str | None = None) -> Attachment:
        """Attach a file from disk; it must exist now (it is read when the message is built)."""
        try:
            file = Path(path).expanduser()
            found = file.is_file()
        except (OSError, RuntimeError, ValueError) as exc:  # a name too long, an unknown ~user
            raise MessageValidationError("attachments", f"{str(path)!r} is not a usable path: {exc}") from None
        if not found:
            raise MessageValidationError("attachments", f"file not found: {file}")
        return cls(filename=file.name, path=file, content_id=content_id)

    def read_bytes(self) -> bytes:
        """Return the attachment's bytes."""
        if self.content is not None:
            return self.content
        with self._file_errors() as path:
            return path.read_bytes()

    def open(self) -> BinaryIO:
        """Open the attachment's file for reading (a file attachment only)."""
        with self._file_errors() as path:
            return path.open("rb")

    @property
    def size(self) -> int:
        """The attachment's size in bytes (before encoding)."""
        if self.content is not None:
            return len(self.content)
        with self._file_errors() as path:
            return path.stat().st_size

    @contextmanager
    def _file_errors(self) -> Iterator[Path]:
        """Turn a file that vanished or became unreadable after validation into ``MessageValidationError``.

        The one place the file system's errors become the provider's, for every transport.
        """
        assert self.path is not None
        try:
            yield self.path
        except OSError as exc:
            raise MessageValidationError(
                "attachments",
                f"cannot read {self.path}: {exc.strerror or type(exc).__name__}",
                hint="the file must stay in place and readable until the message is sent",
            ) from None

    @property
    def content_type(self) -> str:
        """The MIME type: given, guessed from the file name, or application/octet-stream."""
        guessed, _ = mimetypes.guess_type(self.filename)
        return self.mimetype or guessed or "application/octet-stream"


def _attachments(
    items: Attachment | str | Path | Sequence[Attachment | str | Path] | None,
) -> tuple[Attachment, ...]:
    if items is None:
        return ()
    if isinstance(items, (Attachment, str, Path)):
        items = [items]  # one file, not a sequence of characters
    if not isinstance(items, Sequence):
        raise MessageValidationError(
            "attachments", f"expected a path, an Attachment or a list of them, got {type(items).__name__}"
        )
    for item in items:
        if not isinstance(item, (Attachment, str, Path)):
            raise MessageValidationError(
                "attachments", f"expected a path or an Attachment, got {type(item).__name__}"
            )
    result = tuple(item if isinstance(item, Attachment) else Attachment.from_path(item) for item in items)
    ids = [a.content_id.lower() for a in result if a.content_id]
    if len(ids) != len(set(ids)):
        raise MessageValidationError("attachments", "two inline images share a content_id")
    return result


def _headers(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if headers is not None and not isinstance(headers, Mapping):
        raise MessageValidationError("headers", f"expected a mapping of names to values, got {type(headers).__name__}")
    result = []
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise MessageValidationError("headers", f"{name!r} is not a valid header name")
        lowered = name.lower()
        if lowered in RESERVED_HEADERS or lowered.startswith("content-"):
            raise MessageValidationError(
                f"headers[{name}]", "is set by the provider", hint="use the matching argument (to, subject, ...)"
            )
        if lowered in TRACE_HEADERS or lowered.startswith("resent-"):
            raise MessageValidationError(
                f"headers[{name}]",
                f"{name} is a trace header that mail servers add on the way; a sender must not set it",
                hint="remove it; put your own information in an X- header",
            )
        if not isinstance(value, str):
            raise MessageValidationError(f"headers[{name}]", f"expected text, got {type(value).__name__}")
        refuse_control_characters(value, field=f"headers[{name}]")
        result.append((name, value.strip()))
    return tuple(result)


def _check_body(value: str | None, *, field: str) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise MessageValidationError(field, f"expected text, got {type(value).__name__}")
    refuse_unencodable(value, field=field)


def _message_id(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MessageValidationError("message_id", f"expected text, got {type(value).__name__}")
    refuse_line_breaks(value, field="message_id")
    text = value.strip()
    text = text if text.startswith("<") else f"<{text}>"
    if not _MESSAGE_ID.match(text):
        raise MessageValidationError("message_id", f"{value!r} is not a Message-ID like <id@domain>")
    return text


@dataclass(frozen=True)
class OutgoingMessage:
    """A validated message: recipients, subject, bodies, attachments and extra headers."""

    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    subject: str
    text: str | None
    html: str | None
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    importance: str = "normal"
    message_id: str | None = None
    save_to_sent_items: bool | None = None  # Graph only; None: the connection's setting
    # When not empty, the only envelope recipients (SMTP): those a server deferred, sent the same message again
    envelope: tuple[Address, ...] = ()

    @classmethod
    def create(
        cls,
        *,
        to: str | Address | Sequence[str | Address] | None,
        subject: str,
        cc: str | Address | Sequence[str | Address] | None = None,
        bcc: str | Address | Sequence[str | Address] | None = None,
        text: str | None = None,
        html: str | None = None,
        attachments: Attachment | str | Path | Sequence[Attachment | str | Path] | None = (),
        headers: Mapping[str, str] | None = None,
        importance: str = "normal",
        message_id: str | None = None,
        save_to_sent_items: bool | None = None,
    ) -> OutgoingMessage:
        """Validate every field and return the message; raise ``MessageValidationError`` naming the field."""
        recipients = {name: parse_address_list(value, field=name) for name, value in (("to", to), ("cc", cc),
                                                                                      ("bcc", bcc))}
        if not any(recipients.values()):
            raise MessageValidationError("to", "the message needs at least one recipient (to, cc or bcc)")
        if not isinstance(subject, str):
            raise MessageValidationError("subject", f"expected text, got {type(subject).__name__}")
        refuse_control_characters(subject, field="subject")
        for name, body in (("text", text), ("html", html)):
            _check_body(body, field=name)
        if save_to_sent_items is not None and not isinstance(save_to_sent_items, bool):
            raise MessageValidationError(
                "save_to_sent_items", f"expected true, false or None, got {type(save_to_sent_items).__name__}"
            )
        level = importance.strip().lower() if isinstance(importance, str) else ""
        if level not in ("low", "normal", "high"):
            raise MessageValidationError("importance", f"{importance!r} is not low, normal or high")
        return cls(
            to=recipients["to"],
            cc=recipients["cc"],
            bcc=recipients["bcc"],
            subject=subject.strip(),
            text=text,
            html=html,
            attachments=_attachments(attachments),
            headers=_headers(headers),
            importance=level,
            message_id=_message_id(message_id),
            save_to_sent_items=save_to_sent_items,
        )

    def recipients(self) -> tuple[Address, ...]:
        """Every envelope recipient (to, cc, bcc, or ``envelope`` when set), each address once."""
        if self.envelope:
            return self.envelope
        seen: dict[str, Address] = {}
        for address in (*self.to, *self.cc, *self.bcc):
            seen.setdefault(address.email.lower(), address)
        return tuple(seen.values())


def make_message_id(seed: str, domain: str) -> str:
    """Return a Message-ID derived from ``seed``: the same seed always gives the same id (ASCII, IDNs as A-labels)."""
    digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain_key(domain)}>"


def _split_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = content_type.partition("/")
    # message/* and multipart/* parts may not be base64-encoded: send such files as opaque bytes.
    if maintype in ("message", "multipart"):
        return "application", "octet-stream"
    return maintype, subtype


def _file_part(attachment: Attachment, *, inline: bool) -> MIMEPart:
    part = MIMEPart(policy=MIME_POLICY)
    maintype, subtype = _split_type(attachment.content_type)
    cid = f"<{attachment.content_id}>" if attachment.content_id else None
    content = attachment.read_bytes()
    part.set_content(
        content, maintype, subtype,
        disposition="inline" if inline else "attachment", filename=attachment.filename, cid=cid,
        params=_text_charset(maintype, content),
    )
    return part


def _text_charset(maintype: str, content: bytes) -> dict[str, str]:
    """Label a non-ASCII text file (a CSV export, say) as UTF-8 when it is, so mail clients do not guess."""
    if maintype != "text" or content.isascii():
        return {}
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return {"charset": "utf-8"}


def _attach(container: MIMEPart, part: MIMEPart) -> None:
    container.attach(part)  # typeshed types EmailMessage.attach as taking EmailMessage only


def _fill_text(target: MIMEPart, message: OutgoingMessage) -> None:
    if message.html is None:
        target.set_content(message.text or "")
    elif message.text is None:
        target.set_content(message.html, subtype="html")
    else:
        target.set_content(message.text)
        target.add_alternative(message.html, subtype="html")


def _fill_body(target: MIMEPart, message: OutgoingMessage, inline: Sequence[Attachment]) -> None:
    if not inline:
        _fill_text(target, message)
        return
    target.make_related()
    body = MIMEPart(policy=MIME_POLICY)
    _fill_text(body, message)
    target.attach(body)
    for image in inline:
        target.attach(_file_part(image, inline=True))


def build_mime(
    message: OutgoingMessage, identity: SenderIdentity, *, date: datetime | None = None
) -> EmailMessage:
    """Return the MIME message to send; Bcc recipients never appear in its headers."""
    root = EmailMessage(policy=MIME_POLICY)
    root["From"] = address_header("From", [identity.from_address])
    if identity.sender:
        root["Sender"] = address_header("Sender", [identity.sender])
    if message.to:
        root["To"] = address_header("To", message.to)
    if message.cc:
        root["Cc"] = address_header("Cc", message.cc)
    if identity.reply_to:
        root["Reply-To"] = address_header("Reply-To", identity.reply_to)
    root["Subject"] = text_header("Subject", message.subject)
    when = date or datetime.now(timezone.utc)
    root["Date"] = utils.format_datetime(when if when.tzinfo else when.replace(tzinfo=timezone.utc))
    root["Message-ID"] = message.message_id or make_message_id(uuid.uuid4().hex, identity.from_address.domain)
    if message.importance in IMPORTANCE_HEADERS:
        root["Importance"], root["X-Priority"] = IMPORTANCE_HEADERS[message.importance]
    for name, value in message.headers:
        root[name] = text_header(name, value)
    inline = [a for a in message.attachments if a.content_id] if message.html is not None else []
    files = [a for a in message.attachments if not any(a is i for i in inline)]
    if files:
        root.make_mixed()
        body = MIMEPart(policy=MIME_POLICY)
        _fill_body(body, message, inline)
        _attach(root, body)
        for attachment in files:
            _attach(root, _file_part(attachment, inline=False))
    else:
        _fill_body(root, message, inline)
    if "MIME-Version" not in root:
        root["MIME-Version"] = "1.0"
    return root
