"""Injected SMTP faults: a connection dropped mid-DATA, and 421 / 451 / 4.3.2 replies at a chosen stage."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable

import pytest

from airflow_provider_m365mail.sandbox import replies
from airflow_provider_m365mail.sandbox.server import Sandbox
from airflow_provider_m365mail.sandbox.state import Fault

SmtpConnect = Callable[..., smtplib.SMTP]  # the ``smtp_connect`` fixture (tests/conftest.py)

SERVICE = "airflow@contoso.com"
PASSWORD = "Sandbox-Passw0rd!"
MESSAGE = f"From: {SERVICE}\r\nSubject: nightly\r\n\r\nline one\r\nline two\r\n"


def arm(sandbox: Sandbox, **fault: object) -> None:
    sandbox.call(lambda: sandbox.state.add_fault(Fault(target="smtp", **fault)))  # type: ignore[arg-type]


def signed_in(smtp_connect: SmtpConnect) -> smtplib.SMTP:
    conn = smtp_connect()
    conn.login(SERVICE, PASSWORD)
    return conn


@pytest.mark.sandbox(faults=[{"target": "smtp", "kind": "drop_mid_data"}])
def test_drop_mid_data_closes_without_a_reply_and_stores_nothing(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect
) -> None:
    with pytest.raises(smtplib.SMTPServerDisconnected):
        signed_in(smtp_connect).sendmail(SERVICE, ["someone@example.com"], MESSAGE)
    assert m365_sandbox.messages() == []
    assert m365_sandbox.call(lambda: m365_sandbox.state.stats["faults_fired"]) == 1

    signed_in(smtp_connect).sendmail(SERVICE, ["someone@example.com"], MESSAGE)
    assert len(m365_sandbox.messages()) == 1


def test_421_at_mail_from_is_answered_and_the_connection_closed(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect
) -> None:
    arm(m365_sandbox, kind="reply", code=421, stage="mail")
    conn = signed_in(smtp_connect)
    code, text = conn.docmd("MAIL", f"FROM:<{SERVICE}>")
    assert f"{code} {text.decode()}" == replies.FAULT_TEXTS[421]
    with pytest.raises(smtplib.SMTPServerDisconnected):
        conn.noop()


def test_451_after_data_refuses_that_message_only(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    arm(m365_sandbox, kind="reply", code=451, message="4.7.500 Server busy, try again later", stage="data")
    conn = signed_in(smtp_connect)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        conn.sendmail(SERVICE, ["someone@example.com"], MESSAGE)
    assert (refused.value.smtp_code, refused.value.smtp_error) == (451, b"4.7.500 Server busy, try again later")
    assert m365_sandbox.messages() == []

    conn.sendmail(SERVICE, ["someone@example.com"], MESSAGE)
    assert len(m365_sandbox.messages()) == 1


def test_4_3_2_at_rcpt_uses_the_catalogue_text(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    arm(m365_sandbox, kind="reply", code=432, stage="rcpt")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        signed_in(smtp_connect).sendmail(SERVICE, ["someone@example.com"], MESSAGE)
    code, text = refused.value.recipients["someone@example.com"]
    assert f"{code} {text.decode()}" == replies.THREAD_LIMIT


def test_421_at_connect_replaces_the_greeting(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    arm(m365_sandbox, kind="reply", code=421, stage="connect")
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtp_connect()
    assert refused.value.smtp_code == 421
    smtp_connect()


def test_probability_one_fires_every_time(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    arm(m365_sandbox, kind="reply", code=451, stage="ehlo", probability=1.0)
    conn = smtp_connect(starttls=False)  # its EHLO already met the fault once
    assert [conn.ehlo()[0] for _ in range(2)] == [451, 451]
    assert m365_sandbox.call(lambda: m365_sandbox.state.stats["faults_fired"]) == 3


def test_timeout_fault_holds_the_reply_then_closes(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    arm(m365_sandbox, kind="timeout", stage="mail", retry_after_s=0.3)
    conn = signed_in(smtp_connect)
    started = time.monotonic()
    code, _ = conn.docmd("MAIL", f"FROM:<{SERVICE}>")
    assert (code, time.monotonic() - started >= 0.3) == (421, True)
