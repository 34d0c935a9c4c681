"""The port-25 style listeners: direct send (tenant recipients only, no AUTH) and relay (connector by IP or cert)."""

from __future__ import annotations

import smtplib
from collections.abc import Callable

import pytest

from airflow_provider_m365mail.sandbox import replies
from airflow_provider_m365mail.sandbox.server import Sandbox

SmtpConnect = Callable[..., smtplib.SMTP]  # the ``smtp_connect`` fixture (tests/conftest.py)

MESSAGE = "From: alerts@contoso.com\r\nSubject: disk full\r\n\r\nbody\r\n"


def test_direct_send_delivers_to_tenant_mailboxes_without_auth(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect
) -> None:
    conn = smtp_connect("direct_send")
    assert not conn.has_extn("auth")
    conn.sendmail("alerts@contoso.com", ["bob@contoso.com"], MESSAGE)
    [stored] = m365_sandbox.messages()
    assert (stored.transport, stored.principal, stored.envelope_to) == ("direct_send", None, ("bob@contoso.com",))


def test_a_message_without_message_id_gets_one_stamped(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    conn = smtp_connect("direct_send")
    conn.mail("alerts@contoso.com")
    conn.rcpt("bob@contoso.com")
    code, reply = conn.data(MESSAGE)
    [stored] = m365_sandbox.messages()
    assert stored.message_id.endswith("@m365mail-sandbox>")
    assert f"{code} {reply.decode()}" == replies.QUEUED.format(message_id=stored.message_id, host="m365mail-sandbox")
    assert m365_sandbox.parsed(stored.id)["Message-ID"] == stored.message_id
    assert m365_sandbox.call(lambda: m365_sandbox.state.stats["smtp_messages"]) == 1


def test_direct_send_works_without_tls_too(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    smtp_connect("direct_send", starttls=False).sendmail("alerts@contoso.com", ["bob@contoso.com"], MESSAGE)
    assert len(m365_sandbox.messages()) == 1


def test_direct_send_refuses_external_recipients(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp_connect("direct_send").sendmail("alerts@contoso.com", ["someone@example.com"], MESSAGE)
    code, text = refused.value.recipients["someone@example.com"]
    assert f"{code} {text.decode()}" == replies.DIRECT_SEND_EXTERNAL
    assert m365_sandbox.messages() == []


def test_relay_accepts_a_client_ip_listed_on_the_connector(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    smtp_connect("relay").sendmail("alerts@contoso.com", ["someone@example.com"], MESSAGE)
    [stored] = m365_sandbox.messages()
    assert (stored.transport, stored.envelope_to) == ("relay", ("someone@example.com",))


def test_relay_refuses_an_unknown_ip_without_certificate(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(relay_allowed_ips=()))
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        smtp_connect("relay").sendmail("alerts@contoso.com", ["someone@example.com"], MESSAGE)
    assert f"{refused.value.smtp_code} {refused.value.smtp_error.decode()}" == replies.RELAY_DENIED


@pytest.mark.parametrize(("cert_name", "accepted"), [("contoso.com", True), ("fabrikam.com", False)])
def test_relay_matches_a_certificate_naming_an_accepted_domain(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect, cert_name: str, accepted: bool
) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(relay_allowed_ips=()))
    assert m365_sandbox.ca is not None
    context = m365_sandbox.client_context()
    m365_sandbox.ca.issue_cert(cert_name).configure_cert(context)
    conn = smtp_connect("relay", context=context)
    code, _ = conn.mail("alerts@contoso.com")
    assert code == (250 if accepted else 550)
