"""Pacing shared by several workers through a real Redis: each ``SendingRate`` here stands for one worker process.

Time is a ``FakeClock`` that the store's scripts read too, so a 60 s window costs no wall time.
"""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from connection_settings import settings_for
from fake_clock import FakeClock

from airflow_provider_m365mail.core.delivery.mailer import Mailer, RateFor
from airflow_provider_m365mail.core.delivery.pacing import SendingRate, shared_key
from airflow_provider_m365mail.core.delivery.shared_pacing import LEASE_S, SharedStore, shared_store
from airflow_provider_m365mail.core.errors import DailyRecipientLimitError, ThrottledError, TransientSendError
from airflow_provider_m365mail.core.identity import SenderIdentity, resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.settings.mailbox_limits import EXCHANGE_DAILY_RECIPIENTS
from airflow_provider_m365mail.sandbox.config import Limits
from airflow_provider_m365mail.sandbox.server import Sandbox

KEY = shared_key("smtp.office365.com", "reports@contoso.com")


def worker(clock: FakeClock, limit: int, storage: str | None) -> SendingRate:
    """Return one worker process's rate for the mailbox, counting in ``storage`` when given."""
    rate = SendingRate(limit, window_s=60, clock=clock, sleep=clock.sleep)
    if storage is not None:
        rate.configure(limit, 60, (SharedStore(storage, clock=clock, monotonic=clock), KEY))
    return rate


def most_in_one_window(finished: list[float], window_s: float = 60) -> int:
    """Return the most sends any ``window_s`` span holds, as the server counts them (when they finished)."""
    finished = sorted(finished)
    return max(sum(1 for t in finished if start <= t < start + window_s) for start in finished)


@pytest.mark.parametrize("shared", [True, False], ids=["shared-store", "each-process-alone"])
async def test_three_workers_together_never_exceed_the_mailboxes_limit(redis_url: str, shared: bool) -> None:
    clock, latency = FakeClock(), random.Random(19)
    workers = [worker(clock, 3, redis_url if shared else None) for _ in range(3)]
    finished: list[float] = []
    for rate in workers * 4:  # the workers take turns
        async with rate.slot():
            clock.advance(latency.uniform(0.1, 8.0))  # the server accepts the message at the end of this
        finished.append(clock.now)
    assert len(finished) == 12
    if shared:
        assert most_in_one_window(finished) == 3
        assert finished[-1] < 4 * 60  # and no longer than the limit makes it
    else:  # the contrast: three processes each keeping to 3 a minute send 9 in one minute
        assert most_in_one_window(finished) == 9


async def test_a_send_counts_from_when_it_finished_not_when_it_was_claimed(redis_url: str) -> None:
    # limits' moving window dates a hit at its claim: a slow send claimed at 0 s, accepted at 5 s, would free its slot
    # at 60 s while the server counts it until 65 s
    clock = FakeClock()
    first, second = worker(clock, 1, redis_url), worker(clock, 1, redis_url)
    async with first.slot():
        await clock.sleep(5)
    async with second.slot():
        started = clock.now
    assert started >= 65


async def test_a_hold_the_server_asked_for_holds_every_worker(redis_url: str) -> None:
    clock = FakeClock()
    one, other = worker(clock, 30, redis_url), worker(clock, 30, redis_url)
    one.slow_down(20, "421 4.7.0")
    async with other.slot():
        started = clock.now
    assert started == pytest.approx(20, abs=0.01)
    one.slow_down(3600, "429 ApplicationThrottled")
    with pytest.raises(ThrottledError, match="held for every worker") as caught:
        async with other.slot(give_up_at=clock.now + 300):
            pass
    assert caught.value.retry_after == pytest.approx(3600, abs=0.01)


async def test_a_worker_killed_mid_send_gives_its_slot_back_after_the_lease(redis_url: str) -> None:
    clock = FakeClock()
    store = SharedStore(redis_url, clock=clock, monotonic=clock)
    assert store.claim(KEY, 1, 60, "killed-before-it-finished") == (0.0, False)
    wait, held = store.claim(KEY, 1, 60, "next") or (None, None)
    assert wait is not None and wait < 1 and held is False  # in flight elsewhere: ask again soon
    clock.advance(LEASE_S)
    assert store.claim(KEY, 1, 60, "next") == (0.0, False)


async def test_an_unreachable_store_falls_back_to_this_process_with_one_warning(
    caplog: pytest.LogCaptureFixture, free_port: int
) -> None:
    clock = FakeClock()
    rate = worker(clock, 2, f"redis://:rs-secret@127.0.0.1:{free_port}/0")
    finished = []
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            async with rate.slot():
                await clock.sleep(0.5)
            finished.append(clock.now)
    assert len(finished) == 5 and most_in_one_window(finished) == 2  # sent, and paced by the process's own count
    warnings = [r.getMessage() for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert len(warnings) == 1 and "redis://127.0.0.1:" in warnings[0]
    assert "rs-secret" not in caplog.text


async def send_to(rate: SendingRate, count: int, mailbox: str = "Reports@contoso.com") -> None:
    """Reserve ``count`` of the mailbox's recipients of the day for one send that succeeds."""
    async with rate.recipients(count, mailbox, EXCHANGE_DAILY_RECIPIENTS):
        pass


async def test_workers_share_one_daily_recipient_budget_for_the_mailbox(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    one, other = worker(clock, 30, redis_url), worker(clock, 30, redis_url)
    await send_to(one, 6000)
    clock.advance(100)
    await send_to(other, 1999, "reports@contoso.com")  # the same mailbox, spelled otherwise
    assert caplog.records == []  # 7,999: neither process alone comes near 80 %
    await send_to(other, 1)
    await send_to(one, 1)
    await send_to(other, 1)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2  # once per process
    assert "8000 recipients in the last 24 hours across every worker" in warnings[0]
    clock.advance(100)
    with pytest.raises(DailyRecipientLimitError, match=r"8002 recipients .* 1999 more would pass") as caught:
        await send_to(one, 1999)
    assert caught.value.frees_in == pytest.approx(86_400 - 200)  # when the first worker's 6,000 leave the day
    assert "across every worker" in str(caught.value)
    await send_to(other, 1998)  # the refused send reserved nothing
    clock.advance(86_400 - 200)
    await send_to(one, 6000)


async def test_a_failed_send_gives_its_recipients_back_to_every_worker(redis_url: str) -> None:
    clock = FakeClock()
    one, other = worker(clock, 30, redis_url), worker(clock, 30, redis_url)
    with pytest.raises(TransientSendError):
        async with one.recipients(EXCHANGE_DAILY_RECIPIENTS, "reports@contoso.com", EXCHANGE_DAILY_RECIPIENTS):
            raise TransientSendError("421 4.4.2 dropped")
    await send_to(other, EXCHANGE_DAILY_RECIPIENTS)


async def test_an_unreachable_store_keeps_the_daily_budget_on_the_process_count(free_port: int) -> None:
    clock = FakeClock()
    rate = worker(clock, 30, f"redis://127.0.0.1:{free_port}/0")
    await send_to(rate, EXCHANGE_DAILY_RECIPIENTS - 10)
    with pytest.raises(DailyRecipientLimitError, match="from this process"):
        await send_to(rate, 11)
    await send_to(rate, 10)


def own_process_rates() -> RateFor:
    """Stand in for one worker process's ``sending_rate``: its own ``SendingRate`` per mailbox, on the real clock."""
    rates: dict[tuple[str, str], SendingRate] = {}

    def rate_for(server: str, mailbox: str, limit: int, window_s: float, storage: str | None) -> SendingRate:
        key = (server.casefold(), mailbox.casefold())
        rate = rates.setdefault(key, SendingRate(limit, window_s))
        rate.configure(limit, window_s, None if storage is None else (shared_store(storage), shared_key(*key)))
        return rate

    return rate_for


PER_WINDOW, WINDOW_S = 4, 0.25


@pytest.mark.sandbox(tenant={"limits": Limits(messages_per_window=PER_WINDOW, window_s=WINDOW_S)})
async def test_two_workers_sending_over_several_connections_each_keep_to_one_shared_limit(
    m365_sandbox: Sandbox, redis_url: str
) -> None:
    # Worker A sends over 2 connections, worker B over 1 (the sandbox allows the mailbox 3 at once): every
    # connection of both claims its slot from the one window in Redis, so the sandbox never has to throttle.
    settings = settings_for(m365_sandbox, "smtp_basic", max_messages_per_minute=PER_WINDOW, max_connections=2,
                            rate_limit_storage=redis_url)
    identity = resolve_identity(settings)

    def merge(worker: str) -> list[tuple[OutgoingMessage, SenderIdentity]]:
        return [(OutgoingMessage.create(to=f"{worker}{i}@example.org", subject="Statement", text="Yours",
                                        message_id=f"<{worker}-{i}@contoso.com>"), identity) for i in range(8)]

    workers = [
        Mailer(settings, rates=own_process_rates(), rate_window_s=WINDOW_S),
        Mailer(settings_for(m365_sandbox, "smtp_basic", max_messages_per_minute=PER_WINDOW, max_connections=1,
                            rate_limit_storage=redis_url), rates=own_process_rates(), rate_window_s=WINDOW_S),
    ]
    await asyncio.gather(*(mailer.send_many(merge(name)) for mailer, name in zip(workers, "ab", strict=True)))

    stored = m365_sandbox.messages()
    assert sorted(m.message_id for m in stored) == sorted([f"<{w}-{i}@contoso.com>" for w in "ab" for i in range(8)])
    assert m365_sandbox.state.stats["throttled"] == 0
    accepted_at = sorted(m.received_at for m in stored)
    assert all(later - earlier >= WINDOW_S
               for earlier, later in zip(accepted_at, accepted_at[PER_WINDOW:], strict=False))
