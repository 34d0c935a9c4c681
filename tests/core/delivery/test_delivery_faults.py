"""Delivery under faults, against the sandbox over real sockets: every intended message arrives exactly once.

Each case injects one kind of failure (dropped DATA, 421, 451, the 4.3.2 connection limit, Graph 429 with
Retry-After, a failing or hanging token endpoint, an unreachable primary server) and checks the sandbox's store
(as many messages as intended, no Message-ID twice, none missing) and that the log tells what happened. The
Mailer's waits run on a ``FakeClock``; only the token endpoint's cases wait for real, since MSAL's error cache
keeps real time.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from connection_settings import settings_for
from fake_clock import FakeClock
from tcp_pipe import pipe

from airflow_provider_m365mail.core.delivery.account import DeliveryAccount
from airflow_provider_m365mail.core.delivery.mailer import Mailer
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.transports.base import SendResult
from airflow_provider_m365mail.sandbox.config import App
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sandbox.state import Fault

SmtpConnect = Callable[..., smtplib.SMTP]
LOGGER = "airflow_provider_m365mail"


def reports(count: int, prefix: str) -> list[OutgoingMessage]:
    return [
        OutgoingMessage.create(
            to="bob@contoso.com", subject=f"Report {i}", text=f"Figures {i}", message_id=f"<{prefix}-{i}@contoso.com>"
        )
        for i in range(count)
    ]


async def send_all(
    settings: MailSettings, messages: list[OutgoingMessage], *, clock: FakeClock | None = None, **mailer: Any
) -> list[SendResult]:
    """Send through a Mailer whose waits run on ``clock`` (a new ``FakeClock`` by default)."""
    identity = resolve_identity(settings)
    return await (clock or FakeClock()).mailer(settings, **mailer).send_many([(m, identity) for m in messages])


def assert_delivered_once(sandbox: Sandbox, messages: list[OutgoingMessage]) -> None:
    stored = [m.message_id for m in sandbox.messages()]
    assert len(stored) == len(messages), stored
    assert sorted(stored) == sorted(str(m.message_id) for m in messages)


def retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)


# -- SMTP --------------------------------------------------------------------------------------------------


@pytest.mark.sandbox(faults=[{"target": "smtp", "kind": "drop_mid_data"}])
async def test_a_connection_dropped_mid_data_reconnects_and_sends_each_message_once(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    messages = reports(3, "drop")
    results = await send_all(settings_for(m365_sandbox, "smtp_basic"), messages)
    assert_delivered_once(m365_sandbox, messages)
    assert [r.message_id for r in results] == [m.message_id for m in messages]
    assert m365_sandbox.state.stats["smtp_sessions"] == 2  # the dropped one, then one new connection for all
    (retry,) = retries_logged(caplog)
    assert "attempt 1 to send <drop-0@contoso.com> failed (TransientSendError" in retry
    assert "closed the connection" in retry


@pytest.mark.parametrize(
    ("fault", "logged"),
    [
        (Fault("smtp", "reply", code=421, message="4.4.2 Connection dropped due to SocketError", stage="mail"),
         "code=421 status=4.4.2"),
        (Fault("smtp", "reply", code=451, message="4.3.0 Temporary server error. Please try again later",
               stage="data"),
         "code=451 status=4.3.0"),
    ],
    ids=["421-at-mail", "451-after-data"],
)
async def test_a_transient_reply_is_retried_and_the_message_arrives_once(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture, fault: Fault, logged: str
) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(replace(fault)))
    messages = reports(2, f"r{fault.code}")
    await send_all(settings_for(m365_sandbox, "smtp_basic"), messages)
    assert_delivered_once(m365_sandbox, messages)
    (retry,) = retries_logged(caplog)
    assert logged in retry


async def test_the_fourth_connection_of_a_mailbox_waits_for_4_3_2_and_then_sends(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect, caplog: pytest.LogCaptureFixture
) -> None:
    password = m365_sandbox.settings["basic_user"]["password"]
    held = [smtp_connect() for _ in range(3)]
    for conn in held:
        conn.login("airflow@contoso.com", password)  # each signed-in session holds one of the mailbox's three
    def release(_seconds: float) -> None:  # the other connections end while the Mailer waits for its retry
        for conn in held:
            conn.close()

    messages = reports(1, "busy")
    await send_all(settings_for(m365_sandbox, "smtp_basic"), messages, clock=FakeClock(on_sleep=release))
    assert_delivered_once(m365_sandbox, messages)
    (retry,) = retries_logged(caplog)
    assert "ThrottledError code=432 status=4.3.2" in retry and "retrying in 5.0 s" in retry


async def test_refused_recipients_are_named_with_their_codes_and_the_others_get_the_message(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(
        Fault("smtp", "reply", code=550, message="5.1.10 RESOLVER.ADR.RecipientNotFound; not found", stage="rcpt")))
    settings = settings_for(m365_sandbox, "smtp_basic")
    message = OutgoingMessage.create(to=["gone@contoso.com", "bob@contoso.com", "alice@contoso.com"],
                                     subject="Figures", text="...", message_id="<partial-1@contoso.com>")
    (result,) = await Mailer(settings).send(message, resolve_identity(settings))
    assert dict(result.refused) == {"gone@contoso.com": (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; not found")}
    assert result.accepted == ("bob@contoso.com", "alice@contoso.com")
    (stored,) = m365_sandbox.messages()
    assert stored.envelope_to == ("bob@contoso.com", "alice@contoso.com")
    assert "refused 1: gone@contoso.com: 550 5.1.10" in caplog.text
    error = DeliveryAccount(results=[result], refused=dict(result.refused)).refusal()
    assert error is not None and error.refused == dict(result.refused) and error.enhanced_status == "5.1.10"
    assert "gone@contoso.com: 550" in str(error) and "2 other(s) got the message" in str(error)


async def test_direct_send_refuses_external_recipients_one_by_one_and_delivers_to_the_rest(
    m365_sandbox: Sandbox,
) -> None:
    # Exchange's client submission accepts every recipient and bounces later; direct send refuses at RCPT TO.
    settings = settings_for(m365_sandbox, "direct_send")
    message = OutgoingMessage.create(to=["bob@contoso.com", "eve@fabrikam.com"], subject="Figures", text="...")
    (result,) = await Mailer(settings).send(message, resolve_identity(settings))
    assert result.accepted == ("bob@contoso.com",)
    assert list(result.refused) == ["eve@fabrikam.com"] and result.refused["eve@fabrikam.com"][0] == 550
    error = DeliveryAccount(results=[result], refused=dict(result.refused)).refusal()
    assert error is not None and error.enhanced_status == "5.4.1" and error.hint is not None
    assert "for external recipients use smtp_mode submission" in error.hint
    (stored,) = m365_sandbox.messages()
    assert stored.envelope_to == ("bob@contoso.com",)


# -- tokens and Graph --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "timeout"),
    [
        # MSAL answers from its error cache for 5 s after a 5xx: the retry waits that long, once
        ({"target": "token", "kind": "reply", "code": 500}, 30.0),
        ({"target": "token", "kind": "timeout", "retry_after_s": 3}, 1.0),
    ],
    ids=["token-500", "token-timeout"],
)
async def test_a_failing_token_endpoint_is_retried(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture, fault: dict[str, Any], timeout: float
) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.add_fault(Fault(**fault)))
    messages = reports(2, f"token-{fault['kind']}")
    identity = resolve_identity(settings := settings_for(m365_sandbox, "smtp_oauth2", timeout=timeout))
    await Mailer(settings).send_many([(m, identity) for m in messages])  # MSAL's error cache keeps real time
    assert_delivered_once(m365_sandbox, messages)
    retries = retries_logged(caplog)
    assert retries and all("<token-" in r and "identity provider" in r for r in retries)
    assert m365_sandbox.settings["client_secret"] not in caplog.text


@pytest.mark.sandbox(faults=[{"target": "graph", "kind": "reply", "code": 429, "retry_after_s": 1}])
async def test_graph_429_waits_for_retry_after_and_sends_once(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    messages = reports(2, "graph429")
    await send_all(settings_for(m365_sandbox, "graph"), messages)
    assert_delivered_once(m365_sandbox, messages)
    (retry,) = retries_logged(caplog)
    assert "ThrottledError" in retry and "retrying in 1.0 s" in retry


async def test_a_retried_graph_send_finds_the_earlier_copy_in_sent_items_and_does_not_resend(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(m365_sandbox, "graph")
    messages = reports(2, "again")
    await send_all(settings, messages[:1])  # the first try got one message out, then the task failed
    results = await send_all(settings, messages, check_sent_items=True)
    assert_delivered_once(m365_sandbox, messages)
    assert [r.already_sent for r in results] == [True, False]
    assert "<again-0@contoso.com> is already in Sent Items" in caplog.text


@pytest.mark.sandbox(faults=[{"target": "graph", "kind": "lose_answer"}])
async def test_a_graph_send_whose_answer_was_lost_is_found_in_sent_items_and_not_sent_twice(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    messages = reports(2, "lost")
    results = await send_all(settings_for(m365_sandbox, "graph"), messages)
    assert_delivered_once(m365_sandbox, messages)
    assert [r.already_sent for r in results] == [True, False]
    (retry,) = retries_logged(caplog)
    assert "<lost-0@contoso.com> failed (TransientSendError code=GatewayTimeout" in retry
    assert "<lost-0@contoso.com> is already in Sent Items from an earlier try" in caplog.text


async def test_without_mail_read_the_lookup_is_refused_and_the_message_is_sent(
    m365_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(client_id=m365_sandbox.settings["client_id"], client_secret=m365_sandbox.settings["client_secret"],
              roles=("Mail.Send",))
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(apps=(app,)))
    messages = reports(1, "noread")
    (result,) = await send_all(settings_for(m365_sandbox, "graph"), messages, check_sent_items=True)
    assert_delivered_once(m365_sandbox, messages)
    assert not result.already_sent
    assert "cannot look <noread-0@contoso.com> up in Sent Items, so it is sent" in caplog.text


# -- alternate server --------------------------------------------------------------------------------------


@asynccontextmanager
async def forwarding(port: int, to_host: str, to_port: int) -> AsyncIterator[list[int]]:
    """Listen on ``port`` and pipe each connection to ``to_host:to_port``; yield the list of connections made."""
    connections: list[int] = []

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        server_reader, server_writer = await asyncio.open_connection(to_host, to_port)
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield connections
    finally:
        server.close()
        await server.wait_closed()


async def test_an_unreachable_primary_fails_over_to_the_alternate_and_back_after_the_cool_down(
    m365_sandbox: Sandbox, free_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    smtp = m365_sandbox.settings["smtp"]
    settings = settings_for(m365_sandbox, "smtp_basic", port=free_port, alternate_host=smtp["host"],
                            alternate_port=smtp["submission_port"])
    clock = FakeClock()
    mailer = Mailer(settings, failover_cool_down_s=60.0, clock=clock)
    identity = resolve_identity(settings)
    first, second, third = reports(3, "failover")

    await mailer.send(first, identity)  # nothing listens on the primary port: the alternate takes it
    async with forwarding(free_port, smtp["host"], smtp["submission_port"]) as primary:
        # within the cool-down the process remembers the primary is down: another task's send goes to the alternate
        clock.advance(59.0)
        await Mailer(settings, failover_cool_down_s=60.0, clock=clock).send(second, identity)
        assert primary == []
        clock.advance(1.0)
        await mailer.send(third, identity)  # cool-down over: back to the primary, which is up again
        assert len(primary) == 1

    assert_delivered_once(m365_sandbox, [first, second, third])
    assert f"primary server 127.0.0.1:{free_port} cannot be reached" in caplog.text or (
        f"primary server {smtp['host']}:{free_port} cannot be reached" in caplog.text
    )
    assert f"sending through the alternate {smtp['host']}:{smtp['submission_port']}" in caplog.text
    assert f"trying the primary {smtp['host']}:{free_port} again" in caplog.text
    assert retries_logged(caplog) == []  # the switch itself is no retry: nothing was sent twice


