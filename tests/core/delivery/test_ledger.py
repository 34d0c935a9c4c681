"""The delivery ledger: a retried send delivers only what is left, the record is written in batches, and a wait
for one throttled message does not hold the others up. Time is a ``FakeClock``: nothing here sleeps."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from connection_settings import settings_for
from fake_clock import FakeClock

from airflow_provider_m365mail.core.delivery.ledger import DeliveryLedger, MemoryLedgerStore, message_key
from airflow_provider_m365mail.core.errors import ThrottledError
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.sandbox.config import Limits
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sandbox.state import Fault

FAST = {"limits": Limits(messages_per_window=10_000)}


def merge(count: int) -> OutgoingMessage:
    return OutgoingMessage.create(to=[f"customer{i:03d}@example.org" for i in range(count)], subject="Statement",
                                  text="one each", message_id="<statements@contoso.com>")


def per_recipient(sandbox: Sandbox) -> Counter[str]:
    return Counter(a for m in sandbox.messages() for a in m.envelope_to)


class SlowStore(MemoryLedgerStore):
    """A store whose writes wait until the test lets them finish, as a remote store's would."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.may_finish = asyncio.Event()

    async def save(self, value: dict[str, Any]) -> None:
        self.writing.set()
        await self.may_finish.wait()
        await super().save(value)


async def test_a_record_made_while_a_write_is_under_way_is_written_by_the_next_flush() -> None:
    # Several connections record deliveries while another connection's worker is writing the ledger.
    store = SlowStore()
    ledger = DeliveryLedger(store, clock=FakeClock(), flush_every=100)
    await ledger.record("<first@contoso.com>", {})
    writing = asyncio.create_task(ledger.flush())
    await store.writing.wait()
    await ledger.record("<second@contoso.com>", {})
    store.may_finish.set()
    await writing
    await ledger.flush()
    assert store.value is not None
    assert sorted(store.value["delivered"]) == sorted(message_key(m) for m in ("<first@contoso.com>",
                                                                               "<second@contoso.com>"))


async def test_records_are_written_when_a_batch_is_full_or_its_oldest_record_is_a_few_seconds_old() -> None:
    clock, store = FakeClock(), MemoryLedgerStore()
    ledger = DeliveryLedger(store, clock=clock, flush_every=100, flush_after_s=2.0)
    await ledger.load()
    for i in range(99):
        await ledger.record(f"<m{i}@contoso.com>", {})
    assert store.saves == 0
    await ledger.record("<m99@contoso.com>", {})
    assert store.saves == 1 and len(store.value["delivered"]) == 100  # type: ignore[index]
    await ledger.record("<late-1@contoso.com>", {})
    clock.advance(2.0)
    await ledger.record("<late-2@contoso.com>", {"eve@fabrikam.com": (550, "5.1.1 not found")})
    assert store.saves == 2  # a crash now would lose nothing recorded more than two seconds ago
    again = DeliveryLedger(store)
    await again.load()
    assert again.delivered("<late-2@contoso.com>") and not again.delivered("<never@contoso.com>")
    assert dict(again.refused) == {"eve@fabrikam.com": (550, "5.1.1 not found")}
    assert message_key("<late-2@contoso.com>") in store.value["delivered"]  # type: ignore[index]


async def test_an_unknown_or_foreign_value_reads_as_an_empty_ledger() -> None:
    store = MemoryLedgerStore()
    store.value = {"format": 99, "delivered": ["x"]}
    ledger = DeliveryLedger(store)
    await ledger.load()
    assert not ledger.finished and ledger.generation == 0 and not ledger.delivered("x")


@pytest.mark.sandbox(tenant=FAST)
async def test_a_retried_send_delivers_only_what_an_earlier_try_left_over(m365_sandbox: Sandbox) -> None:
    # The first two DATA commands are refused with 451 4.7.500 (a 60 s wait, beyond the 5 s budget): left over.
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(
        Fault("smtp", "reply", code=451, message="4.7.500 Server busy. Please try again later", stage="data",
              count=2)))
    settings = settings_for(m365_sandbox, "smtp_basic", retry_budget_s=5, max_messages_per_minute=10_000)
    identity = resolve_identity(settings)
    store = MemoryLedgerStore()
    clock = FakeClock()
    with pytest.raises(ThrottledError) as caught:
        await clock.mailer(settings, ledger=DeliveryLedger(store, clock=clock)).deliver(
            [(merge(10), identity)], separately=True)
    assert "8 delivered now, 0 delivered by an earlier try, 0 recipient(s) refused, 2 message(s) left over" in str(
        caught.value)
    assert clock.now == 0  # nothing waited: the server's 60 s is past the budget
    account = await clock.mailer(settings, ledger=DeliveryLedger(store, clock=clock)).deliver(
        [(merge(10), identity)], separately=True)
    assert (len(account.delivered_now), len(account.delivered_earlier), account.left_over) == (2, 8, {})
    assert per_recipient(m365_sandbox) == Counter(f"customer{i:03d}@example.org" for i in range(10))
    assert store.value is not None and store.value["finished"] is True


@pytest.mark.sandbox(tenant=FAST)
async def test_a_1000_message_send_writes_its_ledger_in_a_dozen_writes_not_a_thousand(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", max_messages_per_minute=10_000)
    store, clock = MemoryLedgerStore(), FakeClock()
    account = await clock.mailer(settings, ledger=DeliveryLedger(store, clock=clock)).deliver(
        [(merge(1000), resolve_identity(settings))], separately=True)
    assert len(account.delivered_now) == 1000
    assert store.saves == 11  # ten full batches of 100, then "finished"


@pytest.mark.sandbox(tenant=FAST, faults=[{"target": "smtp", "kind": "reply", "code": 432, "stage": "mail",
                                           "message": "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"}])
async def test_a_message_waiting_for_its_retry_does_not_hold_the_others_up(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", max_messages_per_minute=10_000)
    clock = FakeClock()
    account = await clock.mailer(settings).deliver([(merge(5), resolve_identity(settings))], separately=True)
    stored = [m.envelope_to[0] for m in m365_sandbox.messages()]
    # customer000 met 4.3.2 (retry in 5 s): the four others went out meanwhile, it went last, after 5 s
    assert stored == [f"customer{i:03d}@example.org" for i in (1, 2, 3, 4, 0)]
    assert clock.slept == [5.0] and len(account.delivered_now) == 5


async def test_resending_a_finished_send_starts_a_new_generation_with_new_message_ids() -> None:
    store = MemoryLedgerStore()
    ledger = DeliveryLedger(store)
    await ledger.load()
    await ledger.record("<a@contoso.com>", {})
    await ledger.finish()
    again = DeliveryLedger(store)
    await again.load()
    assert again.finished and again.delivered("<a@contoso.com>")
    await again.new_generation()
    assert again.generation == 1 and not again.finished and not again.delivered("<a@contoso.com>")
    assert store.value is not None and store.value["generation"] == 1
