"""Bulk sends over several connections to the sandbox, which allows a mailbox 3 at once (the 4th gets 432 4.3.2).

Each connection is reused for message after message, the results come back in input order, the ledger records
every delivery, and a connection the server drops is opened again while the others go on.
"""

from __future__ import annotations

import logging

import pytest
from connection_settings import settings_for
from eventually import eventually
from fake_clock import FakeClock

from airflow_provider_m365mail.core.delivery.ledger import DeliveryLedger, MemoryLedgerStore, message_key
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.sandbox.server import Sandbox

LOGGER = "airflow_provider_m365mail"


def bulk_settings(sandbox: Sandbox) -> MailSettings:
    """The sandbox's submission connection with Exchange Online's 3 connections and no pacing in the way."""
    return settings_for(sandbox, "smtp_basic", max_connections=3, max_messages_per_minute=10_000)


def merge(count: int, prefix: str) -> OutgoingMessage:
    """One message to ``count`` recipients, to be sent to each of them separately (a mail merge)."""
    return OutgoingMessage.create(to=[f"customer{i:02d}@example.org" for i in range(count)], subject="Statement",
                                  text="Your statement", message_id=f"<{prefix}@contoso.com>")


def stored_ids(sandbox: Sandbox) -> list[str]:
    return [m.message_id for m in sandbox.messages()]


async def test_a_mail_merge_goes_out_over_three_reused_connections_with_results_in_input_order(
    m365_sandbox: Sandbox,
) -> None:
    settings = bulk_settings(m365_sandbox)
    ledger = DeliveryLedger(MemoryLedgerStore())
    account = await FakeClock().mailer(settings, ledger=ledger).deliver(
        [(merge(30, "merge"), resolve_identity(settings))], separately=True
    )

    assert [r.accepted for r in account.results] == [(f"customer{i:02d}@example.org",) for i in range(30)]
    assert sorted(stored_ids(m365_sandbox)) == sorted(r.message_id for r in account.results)
    assert len(set(stored_ids(m365_sandbox))) == 30
    assert m365_sandbox.state.stats["smtp_sessions"] == 3  # three connections, each used for ten messages
    assert m365_sandbox.state.stats["throttled"] == 0  # never a 4th at once
    # every one closed at the end (the sandbox's thread counts a close a moment after the client's QUIT)
    await eventually(lambda: m365_sandbox.call(m365_sandbox.state.open_smtp_sessions) == 0)
    assert ledger.finished and all(ledger.delivered(r.message_id) for r in account.results)
    saved = ledger._store.value  # type: ignore[attr-defined]
    assert sorted(saved["delivered"]) == sorted(message_key(r.message_id) for r in account.results)


@pytest.mark.sandbox(faults=[{"target": "smtp", "kind": "drop_mid_data"}])
async def test_a_dropped_connection_is_opened_again_while_the_others_go_on(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    settings = bulk_settings(m365_sandbox)
    results = await FakeClock().mailer(settings).send(merge(12, "dropped"), resolve_identity(settings),
                                                      separately=True)

    assert [r.accepted for r in results] == [(f"customer{i:02d}@example.org",) for i in range(12)]
    assert sorted(stored_ids(m365_sandbox)) == sorted(r.message_id for r in results)  # each once, none lost
    assert m365_sandbox.state.stats["smtp_sessions"] == 4  # the three, and one new for the dropped one only
    (retry,) = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert "closed the connection" in retry


async def test_one_message_uses_one_connection(m365_sandbox: Sandbox) -> None:
    settings = bulk_settings(m365_sandbox)
    await FakeClock().mailer(settings).send(merge(1, "single"), resolve_identity(settings), separately=True)
    assert m365_sandbox.state.stats["smtp_sessions"] == 1
