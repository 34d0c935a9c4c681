"""Render messages to the bytes an SMTP transaction carries, rendering once what consecutive messages share.

The messages of a mail merge (or of a recipient list split into batches) differ only in To, Cc, Date and
Message-ID: the other headers, the encoded bodies and the attachments are rendered for the first of them and
reused for the next ones, so each further message costs a few header lines instead of a MIME build.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timezone
from email import utils
from email.policy import EmailPolicy
from typing import TYPE_CHECKING, Any

from airflow_provider_m365mail.core.message.encoded_headers import address_header
from airflow_provider_m365mail.core.message.outgoing import MIME_POLICY, build_mime, make_message_id

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.identity import SenderIdentity
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage

# A message with UTF-8 addresses (sent with SMTPUTF8) carries them in raw UTF-8 in its headers too.
UTF8_POLICY = MIME_POLICY.clone(utf8=True)
_OWN_HEADERS = ("Date", "Message-ID")  # besides To and Cc, which the shared part is built without


class WireRenderer:
    """Render one message after another; reuse the shared part while messages differ only in their own headers."""

    def __init__(self) -> None:
        self._shared_key: tuple[object, ...] | None = None
        self._shared = b""

    def render(
        self, message: OutgoingMessage, identity: SenderIdentity, *, utf8: bool, date: datetime | None = None
    ) -> tuple[str, bytes]:
        """Return the message's Message-ID and its bytes; ``utf8``: headers in raw UTF-8 (SMTPUTF8)."""
        policy = UTF8_POLICY if utf8 else MIME_POLICY
        shared = replace(message, to=(), cc=(), message_id=None, envelope=())
        key = (shared, identity, utf8)
        if key != self._shared_key:
            mime = build_mime(shared, identity)
            for name in _OWN_HEADERS:
                del mime[name]
            self._shared_key, self._shared = key, mime.as_bytes(policy=policy)
        message_id = message.message_id or make_message_id(uuid.uuid4().hex, identity.from_address.domain)
        when = date or datetime.now(timezone.utc)
        stamp = utils.format_datetime(when if when.tzinfo else when.replace(tzinfo=timezone.utc))
        own = [_folded(policy, name, address_header(name, addresses))
               for name, addresses in (("To", message.to), ("Cc", message.cc)) if addresses]
        own += [_plain(policy, "Date", stamp), _plain(policy, "Message-ID", message_id)]
        return message_id, b"".join(own) + self._shared


def _plain(policy: EmailPolicy[Any], name: str, value: str) -> bytes:
    """Return a header whose value needs neither encoding nor folding as it is, else as the policy writes it."""
    line = f"{name}: {value}"
    if value.isascii() and len(line) <= (policy.max_line_length or 78) and "\r" not in value and "\n" not in value:
        return f"{line}{policy.linesep}".encode("ascii")
    return _folded(policy, name, value)


def _folded(policy: EmailPolicy[Any], name: str, value: object) -> bytes:
    """Return one header as folded bytes, parsed as ``EmailMessage`` would store it."""
    stored_name, stored = policy.header_store_parse(name, value)
    return policy.fold_binary(stored_name, stored)
