"""SMTP AUTH on the sandbox, driven by the standard library's smtplib: TLS first, then Exchange's answers."""

from __future__ import annotations

import base64
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import replace

import pytest

from airflow_provider_m365mail.sandbox import replies
from airflow_provider_m365mail.sandbox.config import EXCHANGE_AUDIENCE, GRAPH_AUDIENCE, Mailbox
from airflow_provider_m365mail.sandbox.server import Sandbox

SmtpConnect = Callable[..., smtplib.SMTP]  # the ``smtp_connect`` fixture (tests/conftest.py)

SERVICE = "airflow@contoso.com"
PASSWORD = "Sandbox-Passw0rd!"
MESSAGE = f"From: {SERVICE}\r\nTo: someone@example.com\r\nSubject: hello\r\n\r\nbody\r\n"


def xoauth2(conn: smtplib.SMTP, user: str, token: str) -> tuple[int, bytes]:
    """Send ``AUTH XOAUTH2`` with the initial response, as Exchange clients do; return the reply."""
    blob = base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()
    return conn.docmd("AUTH", f"XOAUTH2 {blob}")


def app_token(sandbox: Sandbox, audience: str = EXCHANGE_AUDIENCE, roles: tuple[str, ...] = ("SMTP.SendAsApp",)) -> str:
    client_id = sandbox.settings["client_id"]
    return sandbox.call(lambda: sandbox.state.tokens.issue_app_token(client_id, audience, roles))


def reply_text(reply: tuple[int, bytes]) -> str:
    return f"{reply[0]} {reply[1].decode()}"


def test_starttls_verifies_against_the_sandbox_ca_and_only_then_offers_auth(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect
) -> None:
    conn = smtp_connect(starttls=False)
    assert conn.has_extn("starttls")
    assert not conn.has_extn("auth")
    assert reply_text(conn.docmd("AUTH", "PLAIN AGFAYg==")) == replies.STARTTLS_REQUIRED

    conn.starttls(context=m365_sandbox.client_context())
    conn.ehlo()
    assert set(conn.esmtp_features["auth"].upper().split()) == {"LOGIN", "PLAIN", "XOAUTH2"}
    conn.login(SERVICE, PASSWORD)
    conn.sendmail(SERVICE, ["someone@example.com"], MESSAGE)

    [stored] = m365_sandbox.messages()
    assert (stored.transport, stored.principal, stored.envelope_from) == ("smtp_submission", SERVICE, SERVICE)
    assert m365_sandbox.parsed(stored.id)["Subject"] == "hello"


def test_a_client_not_trusting_the_sandbox_ca_refuses_its_certificate(smtp_connect: SmtpConnect) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        smtp_connect(context=ssl.create_default_context())


def test_implicit_tls_port_offers_auth_at_once(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    conn = smtp_connect("ssl")
    assert "XOAUTH2" in conn.esmtp_features["auth"]
    conn.login(SERVICE, PASSWORD)
    conn.sendmail(SERVICE, ["someone@example.com"], MESSAGE)
    assert [m.transport for m in m365_sandbox.messages()] == ["smtp_ssl"]


def test_auth_login_mechanism_is_accepted(smtp_connect: SmtpConnect) -> None:
    conn = smtp_connect()
    conn.user, conn.password = SERVICE, PASSWORD
    assert conn.auth("LOGIN", conn.auth_login, initial_response_ok=False)[0] == 235


def test_wrong_password_is_refused_with_5_7_3(smtp_connect: SmtpConnect) -> None:
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        smtp_connect().login(SERVICE, "not-the-password")
    assert f"{refused.value.smtp_code} {refused.value.smtp_error.decode()}" == replies.AUTH_FAILED


@pytest.mark.parametrize(
    ("tenant_changes", "expected"),
    [
        ({"basic_auth_enabled": False}, replies.BASIC_AUTH_DISABLED),
        ({"smtp_auth_enabled": False}, replies.SMTP_AUTH_DISABLED_TENANT),
        (
            {"mailboxes": (Mailbox(SERVICE, "Airflow", password=PASSWORD, smtp_auth_enabled=False),)},
            replies.SMTP_AUTH_DISABLED_MAILBOX,
        ),
    ],
    ids=["basic-auth-off", "smtp-auth-off-for-tenant", "smtp-auth-off-for-mailbox"],
)
def test_switched_off_authentication_answers_5_7_139(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect, tenant_changes: dict[str, object], expected: str
) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(**tenant_changes))
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        smtp_connect().login(SERVICE, PASSWORD)
    assert f"{refused.value.smtp_code} {refused.value.smtp_error.decode()}" == expected


def test_xoauth2_app_token_authenticates_the_named_mailbox(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    conn = smtp_connect()
    assert reply_text(xoauth2(conn, SERVICE, app_token(m365_sandbox))) == replies.AUTH_OK
    conn.sendmail(SERVICE, ["someone@example.com"], MESSAGE)
    assert [m.principal for m in m365_sandbox.messages()] == [SERVICE]


def test_xoauth2_is_refused_when_smtp_auth_is_off_for_the_tenant(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect
) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(smtp_auth_enabled=False))
    assert reply_text(xoauth2(smtp_connect(), SERVICE, app_token(m365_sandbox))) == replies.SMTP_AUTH_DISABLED_TENANT


def test_xoauth2_refuses_an_expired_token(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    m365_sandbox.call(lambda: m365_sandbox.state.update_tenant(token_lifetime_s=-5))
    expired = app_token(m365_sandbox)
    m365_sandbox.reset()
    assert reply_text(xoauth2(smtp_connect(), SERVICE, expired)) == replies.AUTH_FAILED


@pytest.mark.parametrize(
    ("audience", "roles"),
    [(GRAPH_AUDIENCE, ("SMTP.SendAsApp",)), (EXCHANGE_AUDIENCE, ("Mail.Send",))],
    ids=["graph-audience", "no-SMTP.SendAsApp-role"],
)
def test_xoauth2_refuses_a_token_not_meant_for_smtp(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect, audience: str, roles: tuple[str, ...]
) -> None:
    token = app_token(m365_sandbox, audience, roles)
    assert reply_text(xoauth2(smtp_connect(), SERVICE, token)) == replies.AUTH_FAILED


def test_xoauth2_app_needs_full_access_on_the_mailbox(m365_sandbox: Sandbox, smtp_connect: SmtpConnect) -> None:
    def limit_app() -> None:
        app = replace(m365_sandbox.state.tenant.apps[0], full_access=("reports@contoso.com",))
        m365_sandbox.state.update_tenant(apps=(app,))

    m365_sandbox.call(limit_app)
    token = app_token(m365_sandbox)
    assert reply_text(xoauth2(smtp_connect(), SERVICE, token)) == replies.AUTH_FAILED
    assert reply_text(xoauth2(smtp_connect(), "reports@contoso.com", token)) == replies.AUTH_OK


def test_xoauth2_delegated_token_must_belong_to_the_named_user(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect
) -> None:
    client_id = m365_sandbox.settings["client_id"]
    token = m365_sandbox.call(
        lambda: m365_sandbox.state.tokens.issue_user_token(client_id, "alice@contoso.com", EXCHANGE_AUDIENCE,
                                                           ["SMTP.Send"])
    )
    assert reply_text(xoauth2(smtp_connect(), SERVICE, token)) == replies.AUTH_FAILED
    assert reply_text(xoauth2(smtp_connect(), "alice@contoso.com", token)) == replies.AUTH_OK


@pytest.mark.parametrize(
    "command", ["PLAIN !!!not-base64", "LOGIN !!!", "XOAUTH2 !!!not-base64"], ids=["plain", "login", "xoauth2"]
)
def test_malformed_auth_answers_501_and_the_session_goes_on(smtp_connect: SmtpConnect, command: str) -> None:
    conn = smtp_connect()
    assert reply_text(conn.docmd("AUTH", command)) == replies.MALFORMED_AUTH
    assert conn.noop()[0] == 250
    conn.login(SERVICE, PASSWORD)


def test_garbled_xoauth2_string_is_refused(smtp_connect: SmtpConnect) -> None:
    conn = smtp_connect()
    blob = base64.b64encode(b"\xff\xfe not an xoauth2 string").decode()
    assert reply_text(conn.docmd("AUTH", f"XOAUTH2 {blob}")) == replies.AUTH_FAILED


def test_mail_from_without_auth_answers_5_7_57(smtp_connect: SmtpConnect) -> None:
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        smtp_connect().sendmail(SERVICE, ["someone@example.com"], MESSAGE)
    assert f"{refused.value.smtp_code} {refused.value.smtp_error.decode()}" == replies.NOT_AUTHENTICATED


def test_auth_without_ehlo_after_starttls_fails_at_mail_from(
    m365_sandbox: Sandbox, smtp_connect: SmtpConnect
) -> None:
    conn = smtp_connect(starttls=False)
    conn.starttls(context=m365_sandbox.client_context())
    plain = base64.b64encode(f"\0{SERVICE}\0{PASSWORD}".encode()).decode()
    assert reply_text(conn.docmd("AUTH", f"PLAIN {plain}")) == replies.AUTH_OK
    assert reply_text(conn.docmd("MAIL", f"FROM:<{SERVICE}>")) == replies.NOT_AUTHENTICATED
