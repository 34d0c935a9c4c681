"""Turn a validated ``OutgoingMessage`` into Microsoft Graph's JSON, within Graph's limits.

The same message that ``build_mime`` renders for SMTP becomes a Graph ``message`` resource here (camelCase, as
Graph documents it). Graph has limits SMTP does not, checked before any request goes out:

- one request carries at most 4 MB, so attachments from 3 MB up (at most 150 MB each) travel through upload
  sessions on a draft, and small attachments that do not fit the first request are added to the draft one by one;
- inline images (``content_id`` with an HTML body) must each stay under 3 MB;
- ``internetMessageHeaders`` only takes custom headers whose names start with ``x-``, 5 KB in total.

Graph's message has one body: with both ``text`` and ``html`` the HTML is sent (Exchange derives the text part).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_m365mail.core.errors import MessageValidationError
from airflow_provider_m365mail.core.identity import SenderIdentity
from airflow_provider_m365mail.core.message.addresses import Address
from airflow_provider_m365mail.core.message.outgoing import Attachment, OutgoingMessage

MB = 1024 * 1024
MAX_REQUEST_BYTES = 4 * MB
UPLOAD_THRESHOLD_BYTES = 3 * MB
MAX_ATTACHMENT_BYTES = 150 * MB
MAX_INLINE_IMAGE_BYTES = 3 * MB  # exclusive: an inline image must be smaller
MAX_CUSTOM_HEADERS_BYTES = 5 * 1024
# Room for what the estimates cannot see exactly: the SDK's own JSON layout and envelope properties.
_REQUEST_MARGIN_BYTES = 16 * 1024
_ATTACHMENT_MARGIN_BYTES = 1024
_FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"


@dataclass(frozen=True)
class GraphPlan:
    """How a message travels to Graph.

    ``embedded`` attachments ride inside the first request (sendMail, or the draft); ``posted`` ones are added to
    the draft one request each; ``uploaded`` ones (3 MB and up) go through upload sessions.
    """

    embedded: tuple[Attachment, ...]
    posted: tuple[Attachment, ...] = ()
    uploaded: tuple[Attachment, ...] = ()

    @property
    def needs_draft(self) -> bool:
        """Tell whether the message cannot go in one sendMail request."""
        return bool(self.posted or self.uploaded)


def is_inline(attachment: Attachment, message: OutgoingMessage) -> bool:
    """Tell whether an attachment is shown inside the HTML body (as ``build_mime`` treats it)."""
    return attachment.content_id is not None and message.html is not None


def validate_for_graph(message: OutgoingMessage) -> None:
    """Refuse what Graph would refuse: non-``x-`` or oversized custom headers, attachments over the limits."""
    if message.envelope:  # only SMTP servers defer single recipients, and only SMTP sends to some of them
        raise MessageValidationError("envelope", "Graph sends a message to all its recipients, not to a subset")
    total = 0
    for name, value in message.headers:
        if not name.lower().startswith("x-"):
            raise MessageValidationError(
                f"headers[{name}]",
                "Microsoft Graph only sends custom headers whose names start with 'x-'",
                hint=f"rename it to X-{name}, or send with transport smtp",
            )
        total += len(name.encode("utf-8")) + len(value.encode("utf-8"))
    if total > MAX_CUSTOM_HEADERS_BYTES:
        raise MessageValidationError(
            "headers",
            f"custom headers take {total} bytes; Microsoft Graph allows {MAX_CUSTOM_HEADERS_BYTES} in total",
            hint="send fewer or shorter x- headers",
        )
    for attachment in message.attachments:
        size = attachment.size
        if size > MAX_ATTACHMENT_BYTES:
            raise MessageValidationError(
                "attachments",
                f"{attachment.filename!r} has {size} bytes; Microsoft Graph takes attachments up to 150 MB",
                hint="share a link to the file instead",
            )
        if is_inline(attachment, message) and size >= MAX_INLINE_IMAGE_BYTES:
            raise MessageValidationError(
                "attachments",
                f"inline image {attachment.filename!r} has {size} bytes; Microsoft Graph needs inline images "
                "under 3 MB",
                hint="shrink the image, or attach it without content_id",
            )


def _recipient(address: Address) -> dict[str, Any]:
    email: dict[str, str] = {"address": address.email}
    if address.name:
        email["name"] = address.name
    return {"emailAddress": email}


def attachment_json(attachment: Attachment, *, inline: bool) -> dict[str, Any]:
    """Return a ``fileAttachment`` resource with the content in base64 (read now: keep it under 3 MB)."""
    data: dict[str, Any] = {
        "@odata.type": _FILE_ATTACHMENT,
        "name": attachment.filename,
        "contentType": attachment.content_type,
        "isInline": inline,
    }
    if attachment.content_id:
        data["contentId"] = attachment.content_id
    data["contentBytes"] = base64.b64encode(attachment.read_bytes()).decode("ascii")
    return data


def upload_item_json(attachment: Attachment, *, inline: bool) -> dict[str, Any]:
    """Return the ``attachmentItem`` that opens an upload session for an attachment."""
    item: dict[str, Any] = {
        "attachmentType": "file",
        "name": attachment.filename,
        "size": attachment.size,
        "contentType": attachment.content_type,
        "isInline": inline,
    }
    if attachment.content_id:
        item["contentId"] = attachment.content_id
    return item


def message_json(
    message: OutgoingMessage, identity: SenderIdentity, *, attachments: Sequence[Attachment] = ()
) -> dict[str, Any]:
    """Return the Graph ``message`` resource, with ``attachments`` embedded.

    Sending *as* a mailbox sets ``from``; sending *on behalf of* one sets ``from`` and ``sender``.
    """
    html = message.html is not None
    data: dict[str, Any] = {
        "subject": message.subject,
        "body": {"contentType": "html" if html else "text", "content": message.html if html else message.text or ""},
        "from": _recipient(identity.from_address),
        "importance": message.importance,
    }
    if identity.sender is not None:
        data["sender"] = _recipient(identity.sender)
    for key, addresses in (("toRecipients", message.to), ("ccRecipients", message.cc),
                           ("bccRecipients", message.bcc), ("replyTo", identity.reply_to)):
        if addresses:
            data[key] = [_recipient(a) for a in addresses]
    if message.message_id:
        data["internetMessageId"] = message.message_id
    if message.headers:
        data["internetMessageHeaders"] = [{"name": name, "value": value} for name, value in message.headers]
    if attachments:
        data["attachments"] = [attachment_json(a, inline=is_inline(a, message)) for a in attachments]
    return data


def _json_size(data: Any) -> int:
    # ASCII-escaped JSON is never shorter than the UTF-8 the SDK sends.
    return len(json.dumps(data, ensure_ascii=True))


def _embedded_size(attachment: Attachment, message: OutgoingMessage) -> int:
    """Return the bytes an attachment adds to a request, without reading it."""
    entry: dict[str, Any] = {
        "@odata.type": _FILE_ATTACHMENT,
        "name": attachment.filename,
        "contentType": attachment.content_type,
        "isInline": is_inline(attachment, message),
        "contentId": attachment.content_id or "",
        "contentBytes": "",
    }
    return _json_size(entry) + 4 * -(-attachment.size // 3) + 2


def plan_graph_send(message: OutgoingMessage, identity: SenderIdentity) -> GraphPlan:
    """Validate the message for Graph and decide which attachments go where; read no attachment."""
    validate_for_graph(message)
    budget = MAX_REQUEST_BYTES - _REQUEST_MARGIN_BYTES
    used = _json_size({"message": message_json(message, identity), "saveToSentItems": True})
    if used > budget:
        raise MessageValidationError(
            "text" if message.html is None else "html",
            f"the message body needs {used} bytes; one Microsoft Graph request takes at most 4 MB",
            hint="send a shorter body and put the rest in an attachment",
        )
    embedded: list[Attachment] = []
    posted: list[Attachment] = []
    uploaded: list[Attachment] = []
    for attachment in message.attachments:
        if attachment.size >= UPLOAD_THRESHOLD_BYTES:
            uploaded.append(attachment)
            continue
        size = _embedded_size(attachment, message)
        if used + size <= budget:
            embedded.append(attachment)
            used += size
        elif size <= MAX_REQUEST_BYTES - _ATTACHMENT_MARGIN_BYTES:
            posted.append(attachment)
        else:
            raise MessageValidationError(
                "attachments",
                f"{attachment.filename!r} is too large for one Graph request yet too small for an upload session",
                hint="attachments just under 3 MB do not fit Graph's 4 MB request limit once encoded; compress it",
            )
    return GraphPlan(tuple(embedded), tuple(posted), tuple(uploaded))


def to_graph_json(message: OutgoingMessage, identity: SenderIdentity, *, save_to_sent_items: bool) -> dict[str, Any]:
    """Return the ``sendMail`` request body: ``{"message": {...}, "saveToSentItems": ...}``.

    Raise ``MessageValidationError`` when the message breaks Graph's limits or does not fit one request (then
    ``GraphTransport`` sends it through a draft with upload sessions instead).
    """
    plan = plan_graph_send(message, identity)
    if plan.needs_draft:
        raise MessageValidationError(
            "attachments",
            "the attachments do not fit one 4 MB sendMail request",
            hint="GraphTransport sends such messages through a draft and upload sessions",
        )
    return {
        "message": message_json(message, identity, attachments=plan.embedded),
        "saveToSentItems": save_to_sent_items,
    }
