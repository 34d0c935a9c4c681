from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest
from connection_settings import settings_for
from fake_clock import FakeClock

from airflow_provider_m365mail.core.delivery.mailer import Mailer, split_per_recipient, split_recipients
from airflow_provider_m365mail.core.delivery.pacing import SendingRate, sending_rate
from airflow_provider_m365mail.core.errors import (
    DailyRecipientLimitError,
    MessageValidationError,
    PermanentSendError,
    ServerUnreachableError,
    ThrottledError,
    TransientSendError,
)
from airflow_provider_m365mail.core.identity import SenderIdentity, resolve_identity
from airflow_provider_m365mail.core.message.addresses import Address
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.settings import MailSettings, TransportKind
from airflow_provider_m365mail.core.settings.mailbox_limits import EXCHANGE_DAILY_RECIPIENTS
from airflow_provider_m365mail.core.transports import make_transport
from airflow_provider_m365mail.core.transports.failover import FailoverTransport
from airflow_provider_m365mail.sandbox.server import Sandbox

DROPPED_421 = {
    "target": "smtp",
    "kind": "reply",
    "code": 421,
    "message": "4.4.2 Connection dropped due to SocketError",
    "stage": "mail",
}
IDENTITY = SenderIdentity(auth_account="airflow@contoso.com", from_address=Address("airflow@contoso.com"))


def note(subject: str = "Nightly report", to: Any = "bob@contoso.com", **kwargs: Any) -> OutgoingMessage:
    return OutgoingMessage.create(to=to, subject=subject, text="All good.", **kwargs)


# -- recipient batches -------------------------------------------------------------------------------------


def test_a_message_within_the_limit_stays_whole_and_gets_a_message_id() -> None:
    (part,) = split_recipients(note(to=["a@contoso.com", "b@contoso.com"]), IDENTITY, 500)
    assert [a.email for a in part.to] == ["a@contoso.com", "b@contoso.com"]
    assert part.message_id is not None and part.message_id.endswith("@contoso.com>")


def test_recipients_are_split_in_order_across_to_cc_and_bcc() -> None:
    message = note(
        to=[f"t{i}@example.org" for i in range(3)],
        cc=[f"c{i}@example.org" for i in range(2)],
        bcc=[f"b{i}@example.org" for i in range(2)],
        message_id="<report-1@contoso.com>",
    )
    parts = split_recipients(message, IDENTITY, 3)
    assert [[a.email for a in p.recipients()] for p in parts] == [
        ["t0@example.org", "t1@example.org", "t2@example.org"],
        ["c0@example.org", "c1@example.org", "b0@example.org"],
        ["b1@example.org"],
    ]
    assert [len(p.cc) for p in parts] == [0, 2, 0]
    assert [len(p.bcc) for p in parts] == [0, 1, 1]


def test_batch_message_ids_are_stable_and_the_first_keeps_the_original() -> None:
    message = note(to=[f"u{i}@example.org" for i in range(5)], message_id="<report-1@contoso.com>")
    first = [p.message_id for p in split_recipients(message, IDENTITY, 2)]
    again = [p.message_id for p in split_recipients(message, IDENTITY, 2)]
    assert first == again
    assert first[0] == "<report-1@contoso.com>"
    assert len(set(first)) == 3


def test_separate_messages_have_one_to_each_and_ids_that_follow_the_address_not_the_order() -> None:
    message = note(to=["a@example.org", "B@example.org"], message_id="<run-7@contoso.com>")
    parts = split_per_recipient(message, IDENTITY)
    assert [[a.email for a in p.to] for p in parts] == [["a@example.org"], ["B@example.org"]]
    reversed_parts = split_per_recipient(replace_to(message, ["B@example.org", "a@example.org"]), IDENTITY)
    assert {p.message_id for p in parts} == {p.message_id for p in reversed_parts}
    assert len({p.message_id for p in parts}) == 2 and message.message_id not in {p.message_id for p in parts}


def test_separate_messages_refuse_bcc_naming_the_field() -> None:
    with pytest.raises(MessageValidationError) as caught:
        split_per_recipient(note(bcc="audit@contoso.com"), IDENTITY)
    assert caught.value.field == "bcc"


def replace_to(message: OutgoingMessage, to: list[str]) -> OutgoingMessage:
    return OutgoingMessage.create(to=to, subject=message.subject, text="All good.", message_id=message.message_id)


# -- sending rate ------------------------------------------------------------------------------------------


async def test_no_window_ever_holds_more_sends_than_the_limit() -> None:
    clock = FakeClock()
    rate = SendingRate(3, window_s=60, clock=clock, sleep=clock.sleep)
    finished: list[float] = []
    for _ in range(8):
        async with rate.slot():
            clock.advance(0.5)
        finished.append(clock.now)
    assert all(later - earlier >= 60 for earlier, later in zip(finished, finished[3:], strict=False))
    assert finished[-1] - finished[0] <= 60 * 2 + 0.5 * 3  # and it does not wait longer than it must


async def test_concurrent_senders_share_the_limit() -> None:
    clock = FakeClock()
    rate = SendingRate(2, window_s=60, clock=clock, sleep=clock.sleep)
    finished: list[float] = []

    async def one() -> None:
        async with rate.slot():
            await clock.sleep(0.5)
        finished.append(clock.now)

    await asyncio.gather(*(one() for _ in range(6)))
    finished.sort()
    assert all(later - earlier >= 60 for earlier, later in zip(finished, finished[2:], strict=False))


async def test_slow_down_holds_the_next_send_and_says_until_when(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    rate = SendingRate(30, clock=clock, sleep=clock.sleep)
    rate.slow_down(20, "421 4.7.0")
    async with rate.slot():
        pass
    assert clock.now == 20
    assert "for 20.0 s, until" in caplog.text and "(421 4.7.0)" in caplog.text


async def test_a_hold_beyond_the_senders_budget_fails_at_once_instead_of_waiting() -> None:
    # one 429 with Retry-After: 3600 must not make every later send of the mailbox (an alert) wait an hour
    clock = FakeClock()
    rate = SendingRate(30, clock=clock, sleep=clock.sleep)
    rate.slow_down(3600, "429 ApplicationThrottled")
    with pytest.raises(ThrottledError, match="beyond this send's retry budget") as caught:
        async with rate.slot(give_up_at=300):
            pass
    assert clock.now == 0 and caught.value.retry_after == 3600


async def reserve(rate: SendingRate, count: int) -> None:
    """Reserve ``count`` recipients of the day for one send that succeeds."""
    async with rate.recipients(count, "airflow@contoso.com", EXCHANGE_DAILY_RECIPIENTS):
        pass


async def test_the_daily_recipient_budget_warns_once_near_it_and_refuses_past_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    rate = SendingRate(30, clock=clock, sleep=clock.sleep)
    await reserve(rate, EXCHANGE_DAILY_RECIPIENTS // 2)
    assert caplog.records == []
    clock.advance(3600)
    await reserve(rate, EXCHANGE_DAILY_RECIPIENTS * 3 // 10)
    await reserve(rate, 1)
    assert len(caplog.records) == 1 and "8000 recipients in the last 24 hours from this process" in caplog.text
    with pytest.raises(DailyRecipientLimitError, match=r"8001 recipients .* 2000 more would pass") as caught:
        await reserve(rate, 2000)
    assert caught.value.mailbox == "airflow@contoso.com" and caught.value.used == 8001
    assert caught.value.frees_in == 86_400 - 3600  # the first 5,000 leave the rolling day a day after they were sent
    assert "frees up in 23 h 0 min" in str(caught.value)
    await reserve(rate, 1999)  # the refused 2,000 were not counted: the day still has room for 1,999


async def test_a_failed_send_gives_its_recipients_back_to_the_day() -> None:
    rate = SendingRate(30)
    with pytest.raises(TransientSendError):
        async with rate.recipients(EXCHANGE_DAILY_RECIPIENTS, "airflow@contoso.com", EXCHANGE_DAILY_RECIPIENTS):
            raise TransientSendError("421 4.4.2 dropped")
    await reserve(rate, EXCHANGE_DAILY_RECIPIENTS)


async def test_recipients_counted_more_than_a_day_ago_no_longer_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    rate = SendingRate(30, clock=clock, sleep=clock.sleep)
    await reserve(rate, EXCHANGE_DAILY_RECIPIENTS * 7 // 10)
    clock.advance(86_400)
    await reserve(rate, EXCHANGE_DAILY_RECIPIENTS * 7 // 10)
    assert caplog.records == []  # 7,000 today; yesterday's 7,000 have left the rolling day
    await reserve(rate, EXCHANGE_DAILY_RECIPIENTS // 10)
    assert "8000 recipients in the last 24 hours" in caplog.text


def test_one_rate_per_server_and_mailbox_set_by_the_latest_settings() -> None:
    first = sending_rate("smtp.office365.com", "Airflow@Contoso.com", 30)
    again = sending_rate("SMTP.office365.com", "airflow@contoso.com", 10, 30.0)
    assert first is again and (again.limit, again.window_s) == (10, 30.0)
    assert sending_rate("smtp.office365.com", "reports@contoso.com", 30) is not first


# -- alternate server --------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_only_smtp_connections_with_an_alternate_fail_over(m365_sandbox: Sandbox) -> None:
    assert not isinstance(Mailer(settings_for(m365_sandbox, "smtp_basic")).transport, FailoverTransport)
    with_alternate = settings_for(m365_sandbox, "smtp_basic", alternate_host="127.0.0.1")
    assert isinstance(Mailer(with_alternate).transport, FailoverTransport)


async def test_when_both_servers_are_out_of_reach_the_error_says_so(
    m365_sandbox: Sandbox, free_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", port=free_port, alternate_host="127.0.0.1",
                            alternate_port=closed_port(), timeout=2, retry_budget_s=0.01)
    with pytest.raises(ServerUnreachableError):
        await Mailer(settings).send(note(), resolve_identity(settings))
    assert "sending through the alternate" in caplog.text
    assert m365_sandbox.messages() == []


@pytest.mark.parametrize("kind", list(TransportKind))
def test_each_transport_kind_is_built(kind: TransportKind) -> None:
    settings = MailSettings.from_connection_fields(
        host=None,
        port=None,
        login="airflow@contoso.com",
        password="app-secret",
        extra={
            "transport": kind.value,
            "tenant_id": "00000000-0000-4000-8000-00000000c0de",
            "client_id": "11111111-2222-4333-8444-555555555555",
            "from_email": "airflow@contoso.com",
            **({"ews_url": "https://mail.contoso.local/EWS/Exchange.asmx"} if kind is TransportKind.EWS else {}),
            **({"acs_resource": "contoso-mail"} if kind is TransportKind.ACS else {}),
        },
    )
    assert make_transport(settings).name == kind.value


# -- against the sandbox -----------------------------------------------------------------------------------


async def test_1200_recipients_with_a_limit_of_500_arrive_as_three_messages(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", max_recipients_per_message=500)
    recipients = [f"user{i:04d}@example.org" for i in range(1200)]
    message = note(to=recipients, message_id="<big-1@contoso.com>")
    results = await Mailer(settings).send(message, resolve_identity(settings))
    assert [len(r.accepted) for r in results] == [500, 500, 200]
    stored = m365_sandbox.messages()
    assert len(stored) == 3
    assert sorted(a for m in stored for a in m.envelope_to) == recipients
    assert {m.message_id for m in stored} == {r.message_id for r in results}
    assert results[0].message_id == "<big-1@contoso.com>"
    assert m365_sandbox.state.stats["smtp_sessions"] == 1


async def test_a_send_past_the_daily_recipient_budget_is_refused_before_anything_is_sent(
    m365_sandbox: Sandbox,
) -> None:
    clock = FakeClock()
    settings = settings_for(m365_sandbox, "smtp_basic", max_recipients_per_day=EXCHANGE_DAILY_RECIPIENTS)
    mailer = clock.mailer(settings)
    identity = resolve_identity(settings)
    mailbox = identity.auth_account or identity.envelope_from
    await reserve_for(clock.rates(settings.host, mailbox, 30, 60.0), mailbox, EXCHANGE_DAILY_RECIPIENTS - 1)
    with pytest.raises(DailyRecipientLimitError, match=f"{mailbox} has sent to 9999 recipients"):
        await mailer.send(note(to=["a@example.org", "b@example.org"]), identity)
    assert m365_sandbox.messages() == [] and m365_sandbox.state.stats["smtp_sessions"] <= 1
    await mailer.send(note(to="a@example.org"), identity)  # the one recipient left still fits
    assert len(m365_sandbox.messages()) == 1


async def test_a_server_without_a_daily_budget_is_sent_to_past_exchanges(m365_sandbox: Sandbox) -> None:
    clock = FakeClock()
    settings = settings_for(m365_sandbox, "smtp_basic")  # a loopback server: not an Exchange Online mailbox
    assert settings.max_recipients_per_day is None
    identity = resolve_identity(settings)
    mailbox = identity.auth_account or identity.envelope_from
    await reserve_for(clock.rates(settings.host, mailbox, 30, 60.0), mailbox, EXCHANGE_DAILY_RECIPIENTS)
    await clock.mailer(settings).send(note(to=["a@example.org", "b@example.org"]), identity)
    assert len(m365_sandbox.messages()) == 1


async def reserve_for(rate: SendingRate, mailbox: str, count: int) -> None:
    async with rate.recipients(count, mailbox, EXCHANGE_DAILY_RECIPIENTS):
        pass


async def test_many_sends_in_a_process_need_one_token_request(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2")
    identity = resolve_identity(settings)
    for i in range(4):
        await Mailer(settings).send(note(f"n{i}"), identity)
    assert len(m365_sandbox.messages()) == 4
    assert m365_sandbox.state.stats["smtp_sessions"] == 4
    assert m365_sandbox.state.stats["token_requests"] == 1


async def test_send_many_reuses_one_connection(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2")
    identity = resolve_identity(settings)
    results = await Mailer(settings).send_many([(note(f"n{i}"), identity) for i in range(3)])
    assert [r.transport for r in results] == ["smtp"] * 3
    assert len(m365_sandbox.messages()) == 3
    assert m365_sandbox.state.stats["smtp_sessions"] == 1


async def test_expired_tokens_are_refreshed_and_sends_still_succeed(m365_sandbox: Sandbox) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(token_lifetime_s=2))
    settings = settings_for(m365_sandbox, "smtp_oauth2")
    identity = resolve_identity(settings)
    for i in range(3):
        await Mailer(settings).send(note(f"n{i}"), identity)
    assert len(m365_sandbox.messages()) == 3
    # with under five minutes left MSAL fetches a new token for every connection
    assert m365_sandbox.state.stats["token_requests"] == 3


async def test_delegated_xoauth2_with_a_refresh_token_sends_as_the_user(m365_sandbox: Sandbox) -> None:
    client_id = m365_sandbox.settings["client_id"]
    refresh = m365_sandbox.call(
        lambda: m365_sandbox.state.refresh_tokens.issue(
            client_id, "alice@contoso.com", ["SMTP.Send"], now=m365_sandbox.state.clock()
        )
    )
    settings = settings_for(
        m365_sandbox, "smtp_oauth2", login="alice@contoso.com", password=None, auth_type="oauth2_delegated",
        refresh_token=refresh, client_secret=m365_sandbox.settings["client_secret"], from_email="alice@contoso.com",
    )
    await Mailer(settings).send(note(), resolve_identity(settings))
    (stored,) = m365_sandbox.messages()
    assert stored.principal == "alice@contoso.com"


@pytest.mark.sandbox(faults=[DROPPED_421])
async def test_a_transient_421_is_retried_and_delivered_once(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic")
    caplog.set_level(logging.WARNING, logger="airflow_provider_m365mail")
    (result,) = await Mailer(settings).send(note(), resolve_identity(settings))
    (stored,) = m365_sandbox.messages()
    assert stored.message_id == result.message_id
    assert m365_sandbox.state.stats["faults_fired"] == 1
    assert m365_sandbox.state.stats["smtp_sessions"] == 2
    (record,) = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert "attempt 1" in record.getMessage() and "code=421" in record.getMessage()
    assert settings.password is not None and settings.password.reveal() not in caplog.text


@pytest.mark.sandbox(faults=[{"target": "smtp", "kind": "drop_mid_data"}])
async def test_a_connection_dropped_mid_data_is_retried_with_the_same_message_id(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic")
    message = note(message_id="<dropped-1@contoso.com>")
    await Mailer(settings).send(message, resolve_identity(settings))
    (stored,) = m365_sandbox.messages()
    assert stored.message_id == "<dropped-1@contoso.com>"
    assert m365_sandbox.state.stats["smtp_sessions"] == 2


@pytest.mark.sandbox(
    faults=[{"target": "smtp", "kind": "reply", "code": 550, "message": "5.7.1 Rejected by policy", "stage": "mail"}]
)
async def test_a_permanent_550_is_not_retried(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic")
    with pytest.raises(PermanentSendError) as caught:
        await Mailer(settings).send(note(), resolve_identity(settings))
    assert caught.value.code == "550"
    assert m365_sandbox.state.stats["smtp_sessions"] == 1
    assert m365_sandbox.messages() == []


@pytest.mark.sandbox(faults=[{**DROPPED_421, "count": 10}])
async def test_retries_stop_when_the_retry_budget_is_spent_not_after_a_number_of_attempts(
    m365_sandbox: Sandbox,
) -> None:
    clock = FakeClock()
    settings = settings_for(m365_sandbox, "smtp_basic", retry_budget_s=5)
    with pytest.raises(TransientSendError) as caught:
        await clock.mailer(settings).send(note(), resolve_identity(settings))
    # backoff 0.5-1, 1-1.5, 2-2.5 s, then 4-4.5 s would end past the 5 s budget
    assert m365_sandbox.state.stats["smtp_sessions"] == 4
    assert 3.5 <= clock.now <= 5.0
    assert caught.value.delivery_summary is not None
    assert "0 delivered now" in caught.value.delivery_summary and "1 message(s) left over" in str(caught.value)
    assert m365_sandbox.messages() == []


@pytest.mark.sandbox(faults=[{"target": "smtp", "kind": "reply", "code": 432, "stage": "mail"}])
async def test_a_retry_after_beyond_the_budget_is_not_waited_for(m365_sandbox: Sandbox) -> None:
    # 432 4.3.2 asks for 5 s; with a 1 s budget the message is left over at once
    clock = FakeClock()
    settings = settings_for(m365_sandbox, "smtp_basic", retry_budget_s=1)
    with pytest.raises(ThrottledError) as caught:
        await clock.mailer(settings).send(note(), resolve_identity(settings))
    assert caught.value.retry_after == 5.0
    assert clock.now == 0
    assert m365_sandbox.state.stats["smtp_sessions"] == 1


async def test_check_sends_nothing_and_reports_ok(m365_sandbox: Sandbox) -> None:
    result = await Mailer(settings_for(m365_sandbox, "smtp_basic")).check()
    assert result.ok, result.steps
    assert m365_sandbox.messages() == []
    assert m365_sandbox.state.stats["smtp_messages"] == 0


@pytest.mark.sandbox(tenant={"smtp_auth_enabled": False})
async def test_check_reports_the_failure_instead_of_raising(m365_sandbox: Sandbox) -> None:
    result = await Mailer(settings_for(m365_sandbox, "smtp_basic")).check()
    assert not result.ok
    assert result.error is not None and result.error.enhanced_status == "5.7.139"
    assert result.steps[-1].startswith("failed:")


TOO_MANY = {"target": "smtp", "kind": "reply", "code": 452, "stage": "rcpt", "message": "4.5.3 Too many recipients"}


@pytest.mark.sandbox(faults=[TOO_MANY])
async def test_recipients_deferred_with_452_get_the_same_message_in_another_round(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic")
    message = note(to=["alice@contoso.com", "bob@contoso.com"], cc="carol@contoso.com",
                   message_id="<deferred-1@contoso.com>")
    (result,) = await Mailer(settings).send(message, resolve_identity(settings))
    assert sorted(result.accepted) == ["alice@contoso.com", "bob@contoso.com", "carol@contoso.com"]
    assert result.refused == {} and result.deferred == {}
    stored = m365_sandbox.messages()
    assert sorted(to for m in stored for to in m.envelope_to) == sorted(result.accepted)
    assert [m.envelope_to for m in stored if "alice@contoso.com" in m.envelope_to] == [("alice@contoso.com",)]
    # the second round is the same message: same Message-ID, the same To and Cc headers
    assert {m.message_id for m in stored} == {"<deferred-1@contoso.com>"}
    headers = [m365_sandbox.parsed(m.id) for m in stored]
    assert {(h["To"], h["Cc"]) for h in headers} == {("alice@contoso.com, bob@contoso.com", "carol@contoso.com")}


@pytest.mark.sandbox(faults=[{**TOO_MANY, "count": 2}])
async def test_a_message_whose_every_recipient_is_deferred_is_retried_not_failed(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic")
    (result,) = await Mailer(settings).send(note(to=["alice@contoso.com", "bob@contoso.com"]),
                                            resolve_identity(settings))
    assert sorted(result.accepted) == ["alice@contoso.com", "bob@contoso.com"]
    (stored,) = m365_sandbox.messages()
    assert sorted(stored.envelope_to) == ["alice@contoso.com", "bob@contoso.com"]
