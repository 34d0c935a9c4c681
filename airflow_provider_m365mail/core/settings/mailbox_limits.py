"""Exchange Online's per-mailbox limits that a connection's defaults follow, and where they do not apply.

Exchange Online accepts 3 concurrent SMTP AUTH connections per mailbox (the 4th gets 432 4.3.2) and 10,000
recipients a rolling day per mailbox (past that, 550 5.1.90 and a mailbox blocked for up to a day). Both hold for a
mailbox's SMTP client submission and its Graph sends; relays, direct send, HVE, ACS and other servers have limits of
their own that we cannot know, so there a limit applies only when the connection sets one.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings.choices import SmtpMode, TransportKind
from airflow_provider_m365mail.core.settings.extra_reader import ExtraReader
from airflow_provider_m365mail.core.settings.hosts import submission_cloud

EXCHANGE_SMTP_CONNECTIONS = 3
EXCHANGE_DAILY_RECIPIENTS = 10_000


def mailbox_limits(values: dict[str, Any], extra: ExtraReader) -> dict[str, Any]:
    """Return ``max_connections`` and ``max_recipients_per_day`` for the connection ``values`` describe."""
    submission = (
        values["transport"] is TransportKind.SMTP
        and values["smtp_mode"] is SmtpMode.SUBMISSION
        and submission_cloud(values["host"]) is not None
    )
    connections = extra.positive_integer("max_connections", EXCHANGE_SMTP_CONNECTIONS if submission else 1)
    if submission and connections > EXCHANGE_SMTP_CONNECTIONS:
        raise ConfigurationError(
            "extra.max_connections",
            f"Exchange Online accepts {EXCHANGE_SMTP_CONNECTIONS} concurrent SMTP connections per mailbox, not "
            f"{connections}: the next one is refused with 432 4.3.2",
            hint=f"set max_connections to {EXCHANGE_SMTP_CONNECTIONS} or less",
        )
    mailbox = submission or values["transport"] is TransportKind.GRAPH
    daily = None
    if mailbox or "max_recipients_per_day" in extra:
        daily = extra.positive_integer("max_recipients_per_day", EXCHANGE_DAILY_RECIPIENTS)
    return {"max_connections": connections, "max_recipients_per_day": daily}
