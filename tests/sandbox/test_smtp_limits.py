"""Exchange's per-mailbox limits over SMTP: submission rate, concurrent connections, message size."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable

import pytest

from airflow_provider_m365mail.sandbox import replies
from airflow_provider_m365mail.sandbox.config import Limits
from airflow_provider_m365mail.sandbox.server import Sandbox

SmtpConnect = Callable[..., smtplib.SMTP]  # the ``smtp_connect`` fixture (tests/conftest.py)

SERVICE = "airflow@contoso.com"
PASSWORD = "Sandbox-Passw0rd!"
MESSAGE = f"From: {SERVICE}\r\nSubject: tick\r\n\r\nbody\r\n"


def set_limits(sandbox: Sandbox, limits: Limits) -> None:
    sandbox.call(lambda: sandbox.state.update_tenant(limits=limits))


def test_submissions_over_the_rate_are_refused_with_5_2_2(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    set_limits(m365_sandbox, Limits(messages_per_window=3, window_s=60))
    conn = smtp_connect()
    conn.login(SERVICE, PASSWORD)
    for _ in range(3):
        conn.sendmail(SERVICE, ["someone@example.com"], MESSAGE)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        conn.sendmail(SERVICE, ["someone@example.com"], MESSAGE)
    assert (refused.value.smtp_code, refused.value.smtp_error[:5]) == (554, b"5.2.2")
    assert len(m365_sandbox.messages()) == 3
    assert m365_sandbox.call(lambda: m365_sandbox.state.stats["throttled"]) >= 1


def test_fourth_concurrent_connection_of_a_mailbox_gets_4_3_2(smtp_connect: SmtpConnect) -> None:
    first, *others = [smtp_connect() for _ in range(4)]
    for conn in (first, *others):
        conn.login(SERVICE, PASSWORD)
    fourth = others[-1]
    for conn in (first, *others[:-1]):
        assert conn.mail(SERVICE)[0] == 250
    code, text = fourth.mail(SERVICE)
    assert f"{code} {text.decode()}" == replies.THREAD_LIMIT

    first.quit()
    deadline = time.monotonic() + 5
    while fourth.mail(SERVICE)[0] != 250:
        assert time.monotonic() < deadline, "the closed connection's slot was never released"
        time.sleep(0.02)


def test_ehlo_advertises_the_size_limit_and_mail_from_size_over_it_is_refused(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect
) -> None:
    set_limits(m365_sandbox, Limits(max_message_size=2000))
    conn = smtp_connect()
    conn.login(SERVICE, PASSWORD)
    assert conn.esmtp_features["size"] == "2000"
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        conn.sendmail(SERVICE, ["someone@example.com"], MESSAGE + "x" * 3000 + "\r\n")
    assert f"{refused.value.smtp_code} {refused.value.smtp_error.decode()}" == replies.SIZE_EXCEEDED


def test_data_over_the_size_limit_is_refused_with_5_3_4(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    set_limits(m365_sandbox, Limits(max_message_size=2000))
    conn = smtp_connect()
    conn.login(SERVICE, PASSWORD)
    conn.docmd("MAIL", f"FROM:<{SERVICE}>")  # no SIZE parameter: the server finds out while reading DATA
    conn.rcpt("someone@example.com")
    code, text = conn.data(MESSAGE + "x" * 3000 + "\r\n")
    assert f"{code} {text.decode()}" == replies.SIZE_EXCEEDED
    assert m365_sandbox.messages() == []
