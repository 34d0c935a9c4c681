"""Read a stored MIME message into what people look at: headers, text and HTML bodies, attachments.

Shared by the admin API (``GET /_sandbox/messages/{id}``) and the web inbox, so both show the same parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from typing import Any


@dataclass(frozen=True)
class AttachmentView:
    """One attachment (or inline part) of a message."""

    filename: str
    content_type: str
    content_id: str | None
    inline: bool
    data: bytes


@dataclass(frozen=True)
class MessageView:
    """A parsed message."""

    headers: tuple[tuple[str, str], ...]
    text: str | None
    html: str | None
    attachments: tuple[AttachmentView, ...]

    def as_json(self) -> dict[str, Any]:
        """Return the admin API's JSON form (attachment bytes reduced to their size)."""
        return {
            "headers": [[name, value] for name, value in self.headers],
            "text": self.text,
            "html": self.html,
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "content_id": a.content_id,
                 "inline": a.inline, "size": len(a.data)}
                for a in self.attachments
            ],
        }


def view_message(raw: bytes) -> MessageView:
    """Parse raw MIME into a ``MessageView`` (bodies with ``\\n`` line ends); undecodable parts as best it can."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    bodies = {id(p) for p in (text_part, html_part) if p is not None}
    attachments = tuple(
        _attachment(part, index)
        for index, part in enumerate(p for p in message.walk() if not p.is_multipart() and id(p) not in bodies)
    )
    return MessageView(
        headers=tuple((name, str(value)) for name, value in message.items()),
        text=_content(text_part),
        html=_content(html_part),
        attachments=attachments,
    )


def _content(part: Message | None) -> str | None:
    if part is None:
        return None
    assert isinstance(part, EmailMessage)
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace").replace("\r\n", "\n") if isinstance(payload, bytes) else None
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


def _attachment(part: Message, index: int) -> AttachmentView:
    payload = part.get_payload(decode=True)
    content_id = part.get("Content-ID")
    return AttachmentView(
        filename=part.get_filename() or f"part-{index + 1}",
        content_type=part.get_content_type(),
        content_id=str(content_id).strip("<> ") if content_id else None,
        inline=part.get_content_disposition() == "inline",
        data=payload if isinstance(payload, bytes) else b"",
    )
