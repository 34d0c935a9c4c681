"""Turn a validated ``OutgoingMessage`` into the JSON body of ACS Email's ``POST /emails:send``, within its limits.

ACS takes one request of at most 10 MB (attachments travel inside it, in base64) and 50 recipients per message;
the ``Mailer`` splits recipients into batches of the connection's ``max_recipients_per_message`` (50 for ACS).
Sending on behalf of a mailbox is an Exchange notion ACS does not have: the message goes from the From address.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from airflow_provider_m365mail.core.errors import MessageValidationError
from airflow_provider_m365mail.core.identity import SenderIdentity
from airflow_provider_m365mail.core.message.addresses import Address
from airflow_provider_m365mail.core.message.outgoing import IMPORTANCE_HEADERS, OutgoingMessage

MB = 1024 * 1024
MAX_REQUEST_BYTES = 10 * MB
MAX_RECIPIENTS = 50


def _address(address: Address) -> dict[str, str]:
    return {"address": address.email, **({"displayName": address.name} if address.name else {})}


def acs_email_json(message: OutgoingMessage, identity: SenderIdentity) -> dict[str, Any]:
    """Return the request body, without attachments' content checks (``check_request_size`` does those)."""
    if message.envelope:
        raise MessageValidationError("envelope", "ACS sends a message to all its recipients, not to a subset")
    count = len(message.recipients())
    if count > MAX_RECIPIENTS:
        raise MessageValidationError(
            "to", f"{count} recipients; Azure Communication Services takes at most {MAX_RECIPIENTS} per message",
            hint="send it with the operator or Mailer, which split it into batches of max_recipients_per_message",
        )
    content: dict[str, str] = {"subject": message.subject}
    if message.text is not None:
        content["plainText"] = message.text
    if message.html is not None:
        content["html"] = message.html
    if not message.text and not message.html:
        content["plainText"] = ""
    recipients = {
        kind: [_address(a) for a in addresses]
        for kind, addresses in (("to", message.to), ("cc", message.cc), ("bcc", message.bcc)) if addresses
    }
    headers = dict(message.headers)
    if message.importance in IMPORTANCE_HEADERS:
        headers["Importance"], headers["X-Priority"] = IMPORTANCE_HEADERS[message.importance]
    body: dict[str, Any] = {
        "senderAddress": identity.from_address.email,
        "recipients": recipients,
        "content": content,
        "userEngagementTrackingDisabled": True,
    }
    if identity.reply_to:
        body["replyTo"] = [_address(a) for a in identity.reply_to]
    if headers:
        body["headers"] = headers
    if message.attachments:
        body["attachments"] = [
            {"name": a.filename, "contentType": a.content_type,
             "contentInBase64": base64.b64encode(a.read_bytes()).decode("ascii"),
             **({"contentId": a.content_id} if a.content_id and message.html is not None else {})}
            for a in message.attachments
        ]
    return body


def check_request_size(message: OutgoingMessage) -> None:
    """Refuse, before reading any file, a message whose attachments alone break ACS's 10 MB request limit."""
    encoded = sum(4 * -(-a.size // 3) for a in message.attachments)
    if encoded > MAX_REQUEST_BYTES:
        listing = ", ".join(f"{a.filename!r} ({a.size} bytes)" for a in message.attachments)
        raise MessageValidationError(
            "attachments",
            f"the attachments take {encoded} bytes once base64-encoded; Azure Communication Services takes at most "
            f"10 MB per request: {listing}",
            hint="share a link to large files, or split the attachments over several messages",
        )


def encode(body: dict[str, Any]) -> bytes:
    """Return the request body as sent, refusing one over 10 MB (the body text counts as well)."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    if len(data) > MAX_REQUEST_BYTES:
        raise MessageValidationError(
            "attachments", f"the request takes {len(data)} bytes; Azure Communication Services takes at most 10 MB",
            hint="share a link to large files, or split the attachments over several messages",
        )
    return data
