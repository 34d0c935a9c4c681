"""Read who a connection sends as (from_email, from_name, reply_to, allowed_senders) and check it like a message.

Private mail systems host domains Exchange Online cannot (``contoso.test``, ``corp.local``), so those are valid
settings; pointed at a Microsoft host, the connection logs a warning for senders Microsoft would refuse.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.message.address_syntax import public_domain_problem
from airflow_provider_m365mail.core.message.addresses import (
    parse_address,
    parse_address_list,
    parse_display_name,
    parse_sender_pattern,
)
from airflow_provider_m365mail.core.settings.extra_reader import ExtraReader
from airflow_provider_m365mail.core.settings.hosts import is_microsoft_host

log = logging.getLogger(__name__)


def sender_defaults(extra: ExtraReader) -> dict[str, Any]:
    """Return the connection's sender fields, each checked like the message field it fills."""
    from_email = from_name = reply_to = None
    if extra.text("from_email"):
        sender = parse_address(extra.text("from_email") or "", field="extra.from_email", error=ConfigurationError)
        from_email, from_name = sender.email, sender.name or None
    if extra.text("from_name"):
        from_name = parse_display_name(extra.text("from_name") or "", field="extra.from_name", error=ConfigurationError)
    if extra.text("reply_to"):
        addresses = parse_address_list(extra.text("reply_to"), field="extra.reply_to", error=ConfigurationError)
        reply_to = ", ".join(a.formatted() for a in addresses)
    return {
        "from_email": from_email,
        "from_name": from_name,
        "reply_to": reply_to,
        "allowed_senders": tuple(
            parse_sender_pattern(p, field="extra.allowed_senders", error=ConfigurationError)
            for p in extra.listing("allowed_senders")
        ),
    }


def warn_where_microsoft_refuses(values: dict[str, Any]) -> None:
    """Log the senders Exchange Online would refuse: domains it cannot have as accepted domains (.local, ...).

    A private server may host such domains, so they are valid settings; only a Microsoft host makes them suspect.
    """
    if not is_microsoft_host(values["host"]):
        return
    senders = [("extra.from_email", values["from_email"])]
    senders += [("extra.allowed_senders", pattern) for pattern in values["allowed_senders"] if pattern != "*"]
    for field, address in senders:
        problem = public_domain_problem(address.rpartition("@")[2]) if address else None
        if problem:
            log.warning("%s %s: %s; Exchange Online will refuse to send from it", field, address, problem)
