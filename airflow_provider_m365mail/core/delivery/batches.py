"""Split a message into the messages that go out: recipient batches, or one per To recipient (mail merge).

Every part gets its Message-ID here, derived from the message's, so the split is the same on every attempt and
every try of a task.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from airflow_provider_m365mail.core.errors import MessageValidationError
from airflow_provider_m365mail.core.identity import SenderIdentity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage, make_message_id


def split_per_recipient(message: OutgoingMessage, identity: SenderIdentity) -> list[OutgoingMessage]:
    """Split a message into one message per To recipient (mail merge), each with a Message-ID of its own.

    Each Message-ID derives from the message's and the recipient's address, so it is the same on every try
    whatever the order of the list. Cc and Bcc have no meaning here and are refused.
    """
    for name in ("cc", "bcc"):
        if getattr(message, name):
            raise MessageValidationError(
                name,
                "sending separately gives each To recipient a message of their own; there is nobody to copy",
                hint=f"put these addresses in to, or send without send_separately to keep {name}",
            )
    domain = identity.from_address.domain
    base = message.message_id or make_message_id(uuid.uuid4().hex, domain)
    return [
        replace(message, to=(address,), message_id=make_message_id(f"{base}|{address.email.casefold()}", domain))
        for address in message.to
    ]


def split_recipients(message: OutgoingMessage, identity: SenderIdentity, limit: int) -> list[OutgoingMessage]:
    """Split a message into messages of at most ``limit`` recipients (To, then Cc, then Bcc, in order).

    Each part lists only its own recipients. The first part keeps the message's Message-ID; part ``i`` gets
    one derived from it and ``i``, so the split is the same on every attempt. A message without a Message-ID
    gets a new one here.
    """
    domain = identity.from_address.domain
    message_id = message.message_id or make_message_id(uuid.uuid4().hex, domain)
    tagged = [("to", a) for a in message.to] + [("cc", a) for a in message.cc] + [("bcc", a) for a in message.bcc]
    if len(tagged) <= limit:
        return [replace(message, message_id=message_id)]
    parts = []
    for index, start in enumerate(range(0, len(tagged), limit)):
        chunk = tagged[start : start + limit]
        parts.append(
            replace(
                message,
                to=tuple(a for kind, a in chunk if kind == "to"),
                cc=tuple(a for kind, a in chunk if kind == "cc"),
                bcc=tuple(a for kind, a in chunk if kind == "bcc"),
                message_id=message_id if index == 0 else make_message_id(f"{message_id}#{index}", domain),
            )
        )
    return parts

