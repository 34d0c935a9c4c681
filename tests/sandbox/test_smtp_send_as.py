"""Send As and Send on Behalf over SMTP: Exchange checks the envelope at MAIL FROM and the header after DATA."""

from __future__ import annotations

import smtplib
from collections.abc import Callable

import pytest

from airflow_provider_m365mail.sandbox import replies
from airflow_provider_m365mail.sandbox.plugin import SandboxClock
from airflow_provider_m365mail.sandbox.server import Sandbox

SmtpConnect = Callable[..., smtplib.SMTP]  # the ``smtp_connect`` fixture (tests/conftest.py)

SERVICE = "airflow@contoso.com"
PASSWORD = "Sandbox-Passw0rd!"
RECIPIENTS = ["someone@example.com"]


def message(author: str, sender: str | None = None) -> str:
    sender_line = f"Sender: {sender}\r\n" if sender else ""
    return f"From: Team <{author}>\r\n{sender_line}To: someone@example.com\r\nSubject: report\r\n\r\nbody\r\n"


@pytest.fixture
def signed_in(smtp_connect: SmtpConnect) -> smtplib.SMTP:
    conn = smtp_connect()
    conn.login(SERVICE, PASSWORD)
    return conn


def test_envelope_sender_without_send_as_is_refused_at_mail_from(signed_in: smtplib.SMTP) -> None:
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        signed_in.sendmail("bob@contoso.com", RECIPIENTS, message("bob@contoso.com"))
    assert f"{refused.value.smtp_code} {refused.value.smtp_error.decode()}" == replies.SEND_AS_DENIED_ENVELOPE


def test_send_as_grant_from_the_tenant_config_allows_both_checks(
    m365_sandbox: Sandbox, signed_in: smtplib.SMTP
) -> None:
    signed_in.sendmail("reports@contoso.com", RECIPIENTS, message("reports@contoso.com"))
    [stored] = m365_sandbox.messages()
    assert (stored.envelope_from, stored.principal) == ("reports@contoso.com", SERVICE)
    assert m365_sandbox.parsed(stored.id)["From"].addresses[0].addr_spec == "reports@contoso.com"


def test_header_from_without_send_as_is_refused_after_data(m365_sandbox: Sandbox, signed_in: smtplib.SMTP) -> None:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        signed_in.sendmail(SERVICE, RECIPIENTS, message("bob@contoso.com"))
    expected = replies.SEND_AS_DENIED_HEADER.format(principal=SERVICE, sender="bob@contoso.com")
    assert f"{refused.value.smtp_code} {refused.value.smtp_error.decode()}" == expected
    assert m365_sandbox.messages() == []


def test_send_as_grant_takes_effect_only_after_its_propagation_delay(
    m365_sandbox: Sandbox, m365_sandbox_clock: SandboxClock, smtp_connect: SmtpConnect
) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.grant(SERVICE, "bob@contoso.com", "send_as", delay_s=1800))
    conn = smtp_connect()
    conn.login(SERVICE, PASSWORD)
    m365_sandbox_clock.advance(1799)
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        conn.sendmail("bob@contoso.com", RECIPIENTS, message("bob@contoso.com"))
    assert refused.value.smtp_code == 550

    m365_sandbox_clock.advance(1)
    conn.sendmail("bob@contoso.com", RECIPIENTS, message("bob@contoso.com"))
    assert [m.envelope_from for m in m365_sandbox.messages()] == ["bob@contoso.com"]


def test_send_on_behalf_needs_the_sender_header(m365_sandbox: Sandbox, signed_in: smtplib.SMTP) -> None:
    signed_in.sendmail(SERVICE, RECIPIENTS, message("data-team@contoso.com", sender=SERVICE))
    with pytest.raises(smtplib.SMTPDataError) as refused:
        signed_in.sendmail(SERVICE, RECIPIENTS, message("data-team@contoso.com"))
    assert refused.value.smtp_code == 554
    assert b"5.2.252 SendAsDenied" in refused.value.smtp_error

    [stored] = m365_sandbox.messages()
    parsed = m365_sandbox.parsed(stored.id)
    assert (parsed["From"].addresses[0].addr_spec, parsed["Sender"]) == ("data-team@contoso.com", SERVICE)


def test_send_on_behalf_does_not_allow_a_foreign_envelope_sender(signed_in: smtplib.SMTP) -> None:
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        signed_in.sendmail("data-team@contoso.com", RECIPIENTS, message("data-team@contoso.com", sender=SERVICE))
    assert refused.value.smtp_code == 550


def test_revoked_send_as_is_refused_again(m365_sandbox: Sandbox, signed_in: smtplib.SMTP) -> None:
    assert m365_sandbox.call(lambda: m365_sandbox.state.revoke(SERVICE, "reports@contoso.com", "send_as"))
    with pytest.raises(smtplib.SMTPSenderRefused):
        signed_in.sendmail("reports@contoso.com", RECIPIENTS, message("reports@contoso.com"))


def test_each_refused_send_as_is_recorded_for_its_mailbox(m365_sandbox: Sandbox, signed_in: smtplib.SMTP) -> None:
    with pytest.raises(smtplib.SMTPSenderRefused):  # 5.7.60 at MAIL FROM
        signed_in.sendmail("bob@contoso.com", RECIPIENTS, message("bob@contoso.com"))
    with pytest.raises(smtplib.SMTPDataError):  # 5.2.252 after DATA
        signed_in.sendmail(SERVICE, RECIPIENTS, message("Bob@contoso.com"))
    signed_in.sendmail("reports@contoso.com", RECIPIENTS, message("reports@contoso.com"))

    def refusals() -> tuple[int, ...]:
        count = m365_sandbox.state.send_as_refusals
        return count("smtp", "bob@contoso.com"), count("smtp", "reports@contoso.com"), count("graph", "bob@contoso.com")

    assert m365_sandbox.call(refusals) == (2, 0, 0)
    m365_sandbox.reset()
    assert m365_sandbox.call(refusals) == (0, 0, 0)
