from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosmtplib
import aiosmtplib.errors
import pytest
import trustme
from connection_settings import settings_for

from airflow_provider_m365mail.core.auth.tokens import AccessToken
from airflow_provider_m365mail.core.errors import (
    AuthenticationError,
    M365MailError,
    PermanentSendError,
    RecipientsRefusedError,
    SendAsDeniedError,
    ServerUnreachableError,
    ThrottledError,
    TransientSendError,
)
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.transports.smtp.errors import _translators, translate
from airflow_provider_m365mail.core.transports.smtp.transcript import redact_command
from airflow_provider_m365mail.core.transports.smtp.transport import SmtpTransport, xoauth2_scope
from airflow_provider_m365mail.sandbox.server import Sandbox


def note(to: str | list[str] = "bob@contoso.com", subject: str = "Nightly report") -> OutgoingMessage:
    return OutgoingMessage.create(to=to, subject=subject, text="All good.")


# -- translation of aiosmtplib errors --------------------------------------------------------------------


def test_every_aiosmtplib_exception_class_has_a_translation() -> None:
    table = _translators()
    unmapped = [
        name
        for name in aiosmtplib.errors.__all__
        if isinstance(getattr(aiosmtplib.errors, name), type) and getattr(aiosmtplib.errors, name) not in table
    ]
    assert unmapped == []


def _refused(*pairs: tuple[str, int, str]) -> aiosmtplib.SMTPRecipientsRefused:
    return aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(c, m, a) for a, c, m in pairs])


@pytest.mark.parametrize(
    ("exc", "stage", "expected", "code"),
    [
        (aiosmtplib.SMTPServerDisconnected("gone"), "data", TransientSendError, None),
        (aiosmtplib.SMTPReadTimeoutError("slow"), "data", TransientSendError, None),
        (aiosmtplib.SMTPConnectTimeoutError("slow"), "connect", ServerUnreachableError, None),
        (aiosmtplib.SMTPConnectError("refused"), "connect", ServerUnreachableError, None),
        (ConnectionRefusedError(111, "refused"), "connect", ServerUnreachableError, None),
        (
            aiosmtplib.SMTPAuthenticationError(535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication "
                                               "is disabled for the Tenant."),
            "auth",
            AuthenticationError,
            "535",
        ),
        (
            aiosmtplib.SMTPSenderRefused(550, "5.7.60 SMTP; Client does not have permissions to send as this sender",
                                         "reports@contoso.com"),
            "mail",
            SendAsDeniedError,
            "550",
        ),
        (aiosmtplib.SMTPDataError(451, "4.4.2 try later"), "data", TransientSendError, "451"),
        (aiosmtplib.SMTPDataError(554, "5.6.0 bad content"), "data", PermanentSendError, "554"),
        (aiosmtplib.SMTPHeloError(501, "5.5.4 bad helo"), "connect", PermanentSendError, "501"),
        (aiosmtplib.SMTPConnectResponseError(421, "4.3.2 busy"), "connect", ThrottledError, "421"),
        (aiosmtplib.SMTPResponseException(454, "4.7.0 TLS not available"), "starttls", TransientSendError, "454"),
        (aiosmtplib.SMTPRecipientRefused(550, "5.1.1 unknown", "x@contoso.com"), "rcpt", PermanentSendError, "550"),
        (_refused(("a@example.org", 550, "5.4.1 Recipient address rejected: Access denied")), "rcpt",
         RecipientsRefusedError, "550"),
        (aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported"), "mail", PermanentSendError, None),
        (aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server."), "starttls",
         PermanentSendError, None),
        (ssl.SSLError(1, "wrong version number"), "starttls", PermanentSendError, None),
        (ConnectionResetError(104, "reset"), "data", TransientSendError, None),
    ],
)
def test_translate_maps_each_failure_to_a_typed_error(
    exc: BaseException, stage: Any, expected: type[M365MailError], code: str | None
) -> None:
    error = translate(exc, stage)
    assert type(error) is expected
    assert error.code == code


def test_refused_recipients_keep_every_address_and_reply() -> None:
    error = translate(
        _refused(("a@example.org", 550, "5.4.1 Access denied"), ("b@example.org", 550, "5.1.1 unknown")), "rcpt"
    )
    assert isinstance(error, RecipientsRefusedError)
    assert error.refused == {"a@example.org": (550, "5.4.1 Access denied"), "b@example.org": (550, "5.1.1 unknown")}
    assert error.enhanced_status == "5.4.1"
    assert "a@example.org" in str(error)


def test_connect_error_caused_by_certificate_verification_is_permanent_with_a_ca_bundle_hint() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc = aiosmtplib.SMTPConnectError("Error connecting: certificate verify failed")
    exc.__cause__ = cause
    error = translate(exc, "connect")
    assert type(error) is PermanentSendError
    assert error.hint is not None and "ca_bundle" in error.hint


# -- scope selection ---------------------------------------------------------------------------------------


def _oauth_settings(**extra: Any) -> MailSettings:
    return MailSettings.from_connection_fields(
        host=None,
        port=None,
        login="airflow@contoso.com",
        password="app-secret",
        extra={
            "auth_type": "oauth2_app",
            "tenant_id": "00000000-0000-4000-8000-00000000c0de",
            "client_id": "11111111-2222-4333-8444-555555555555",
            **extra,
        },
    )


@pytest.mark.parametrize(
    ("cloud", "auth", "scope"),
    [
        ("global", "oauth2_app", "https://outlook.office365.com/.default"),
        ("global", "oauth2_delegated", "https://outlook.office365.com/SMTP.Send"),
        ("usgov", "oauth2_app", "https://outlook.office365.us/.default"),
        ("china", "oauth2_app", "https://partner.outlook.cn/.default"),
    ],
)
def test_xoauth2_scope_follows_cloud_and_grant(cloud: str, auth: str, scope: str) -> None:
    extra: dict[str, Any] = {"cloud": cloud, "auth_type": auth}
    if auth == "oauth2_delegated":
        extra["refresh_token"] = "rt"
        extra["client_secret"] = "app-secret"
    assert xoauth2_scope(_oauth_settings(**extra)) == scope


# -- wire behaviour against a scripted server ------------------------------------------------------------


@dataclass
class ScriptedServer:
    """A plain-text SMTP server answering from a script, recording every line it receives."""

    auth_replies: list[str]
    lines: list[str] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def say(text: str) -> None:
            writer.write(text.encode() + b"\r\n")

        say("220 scripted ESMTP")
        replies = iter(self.auth_replies)
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            self.lines.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                say("250-scripted\r\n250-AUTH XOAUTH2\r\n250 8BITMIME")
            elif verb == "AUTH":
                reply = next(replies)
                say(reply)
                if reply.startswith("334"):
                    await writer.drain()
                    self.lines.append((await reader.readline()).decode().rstrip("\r\n"))
                    say(next(replies))
            elif verb == "QUIT":
                say("221 bye")
                break
            else:
                say("250 OK")
            await writer.drain()
        await writer.drain()
        writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[list[str]], Any]]:
    servers: list[asyncio.Server] = []

    async def start(auth_replies: list[str]) -> ScriptedServer:
        script = ScriptedServer(auth_replies)
        server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
        servers.append(server)
        script.port = server.sockets[0].getsockname()[1]
        return script

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


class StaticTokens:
    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[str] = []

    async def get_token(self, scope: str) -> AccessToken:
        self.scopes.append(scope)
        return AccessToken(self.token, expires_on=4102444800.0)


def _plain_oauth_settings(port: int) -> MailSettings:
    return MailSettings.from_connection_fields(
        host="127.0.0.1",
        port=port,
        login="airflow@contoso.com",
        password="app-secret",
        extra={
            "auth_type": "oauth2_app",
            "tenant_id": "00000000-0000-4000-8000-00000000c0de",
            "client_id": "11111111-2222-4333-8444-555555555555",
            "security": "none",
            "allow_insecure_auth": True,
        },
    )


async def test_xoauth2_sends_user_and_bearer_token_in_one_auth_line(scripted: Any) -> None:
    server = await scripted(["235 2.7.0 Authentication successful"])
    tokens = StaticTokens("eyJ0eXAi.token.sig")
    transport = SmtpTransport(_plain_oauth_settings(server.port), tokens)  # type: ignore[arg-type]
    result = await transport.check()
    assert result.ok, result.steps
    auth = next(line for line in server.lines if line.upper().startswith("AUTH"))
    _, mechanism, blob = auth.split(" ")
    assert mechanism == "XOAUTH2"
    assert base64.b64decode(blob) == b"user=airflow@contoso.com\x01auth=Bearer eyJ0eXAi.token.sig\x01\x01"
    assert tokens.scopes == ["https://outlook.office365.com/.default"]
    assert [line.split(" ")[0].upper() for line in server.lines] == ["EHLO", "AUTH", "NOOP", "QUIT"]


async def test_gmail_style_xoauth2_failure_challenge_is_answered_and_reported(scripted: Any) -> None:
    challenge = base64.b64encode(b'{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}')
    server = await scripted([f"334 {challenge.decode()}", "535 5.7.8 Username and Password not accepted"])
    tokens = StaticTokens("secret-access-token-value")
    transport = SmtpTransport(_plain_oauth_settings(server.port), tokens)  # type: ignore[arg-type]
    result = await transport.check()
    assert not result.ok
    assert isinstance(result.error, AuthenticationError)
    assert result.error.code == "535"
    auth_index = next(i for i, line in enumerate(server.lines) if line.upper().startswith("AUTH"))
    assert server.lines[auth_index + 1] == ""  # the empty response that makes the server send its 535
    assert tokens.token not in str(result.error)
    assert all(tokens.token not in step for step in result.steps)


# -- against the sandbox -----------------------------------------------------------------------------------


async def test_basic_auth_send_arrives_with_headers(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic")
    identity = resolve_identity(settings)
    message = OutgoingMessage.create(
        to="bob@contoso.com", cc="alice@contoso.com", bcc="data-team@contoso.com", subject="Report ✓", text="hi"
    )
    result = await SmtpTransport(settings).send(message, identity)
    assert set(result.accepted) == {"bob@contoso.com", "alice@contoso.com", "data-team@contoso.com"}
    assert result.refused == {}
    (stored,) = m365_sandbox.messages()
    assert stored.principal == "airflow@contoso.com"
    assert stored.transport == "smtp_submission"
    assert set(stored.envelope_to) == set(result.accepted)
    parsed = m365_sandbox.parsed(stored.id)
    assert parsed["Subject"] == "Report ✓"
    assert parsed["From"].addresses[0].addr_spec == "airflow@contoso.com"
    assert parsed["Message-ID"] == result.message_id
    assert parsed["Bcc"] is None


async def test_xoauth2_app_only_with_client_secret_arrives_as_the_mailbox(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2")
    await SmtpTransport(settings).send(note(), resolve_identity(settings))
    (stored,) = m365_sandbox.messages()
    assert stored.principal == "airflow@contoso.com"
    assert m365_sandbox.state.stats["token_requests"] == 1


async def test_implicit_tls_listener_accepts_basic_auth(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_ssl")
    await SmtpTransport(settings).send(note(), resolve_identity(settings))
    (stored,) = m365_sandbox.messages()
    assert stored.transport == "smtp_ssl"


async def test_direct_send_accepts_internal_recipients(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "direct_send")
    result = await SmtpTransport(settings).send(note("bob@contoso.com"), resolve_identity(settings))
    assert result.accepted == ("bob@contoso.com",)
    (stored,) = m365_sandbox.messages()
    assert stored.principal is None


async def test_direct_send_to_an_external_address_is_refused_naming_it(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "direct_send")
    with pytest.raises(RecipientsRefusedError) as caught:
        await SmtpTransport(settings).send(note("someone@example.org"), resolve_identity(settings))
    assert "someone@example.org" in caught.value.refused
    assert caught.value.refused["someone@example.org"][0] == 550
    assert caught.value.enhanced_status == "5.4.1"
    assert "someone@example.org" in str(caught.value)
    assert m365_sandbox.messages() == []


async def test_direct_send_with_one_external_recipient_reports_it_as_refused(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "direct_send")
    result = await SmtpTransport(settings).send(
        note(["bob@contoso.com", "someone@example.org"]), resolve_identity(settings)
    )
    assert result.accepted == ("bob@contoso.com",)
    assert list(result.refused) == ["someone@example.org"]
    (stored,) = m365_sandbox.messages()
    assert stored.envelope_to == ("bob@contoso.com",)


async def test_one_connection_serves_every_send_inside_async_with(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2")
    identity = resolve_identity(settings)
    async with SmtpTransport(settings) as transport:
        for i in range(3):
            await transport.send(note(subject=f"n{i}"), identity)
    assert len(m365_sandbox.messages()) == 3
    assert m365_sandbox.state.stats["smtp_sessions"] == 1
    assert m365_sandbox.state.stats["token_requests"] == 1


async def test_check_authenticates_and_sends_nothing(m365_sandbox: Sandbox) -> None:
    result = await SmtpTransport(settings_for(m365_sandbox, "smtp_oauth2")).check()
    assert result.ok, result.steps
    assert result.error is None
    assert any("XOAUTH2" in step for step in result.steps)
    assert any(step.startswith("NOOP") for step in result.steps)
    assert "AUTH" in result.features or "auth" in result.features
    assert result.server_banner
    assert m365_sandbox.messages() == []
    assert m365_sandbox.state.stats["smtp_messages"] == 0


@pytest.mark.sandbox(tenant={"smtp_auth_enabled": False})
async def test_smtp_auth_disabled_for_tenant_is_an_authentication_error_with_the_fix(
    m365_sandbox: Sandbox,
) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic")
    with pytest.raises(AuthenticationError) as caught:
        await SmtpTransport(settings).send(note(), resolve_identity(settings))
    assert caught.value.enhanced_status == "5.7.139"
    assert caught.value.hint is not None and "Set-CASMailbox" in caught.value.hint
    assert "Sandbox-Passw0rd!" not in str(caught.value)


async def test_send_as_without_grant_is_refused_at_mail_from(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", allowed_senders="*@contoso.com")
    identity = resolve_identity(settings, from_email="alerts@contoso.com")
    with pytest.raises(SendAsDeniedError) as caught:
        await SmtpTransport(settings).send(note(), identity)
    assert caught.value.enhanced_status == "5.7.60"
    assert m365_sandbox.messages() == []


async def test_a_failed_send_closes_the_connection_and_the_next_one_reconnects(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", allowed_senders="*@contoso.com")
    async with SmtpTransport(settings) as transport:
        with pytest.raises(SendAsDeniedError):
            await transport.send(note(), resolve_identity(settings, from_email="alerts@contoso.com"))
        await transport.send(note(), resolve_identity(settings))
    assert len(m365_sandbox.messages()) == 1
    assert m365_sandbox.state.stats["smtp_sessions"] == 2


async def test_untrusted_server_certificate_is_a_permanent_error(m365_sandbox: Sandbox, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    settings = settings_for(m365_sandbox, "smtp_basic", ca_bundle=str(other_ca))
    with pytest.raises(PermanentSendError) as caught:
        await SmtpTransport(settings).send(note(), resolve_identity(settings))
    assert caught.value.hint is not None and "ca_bundle" in caught.value.hint


async def test_relay_by_ip_reaches_external_recipients(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "relay")
    result = await SmtpTransport(settings).send(note("partner@example.org"), resolve_identity(settings))
    assert result.accepted == ("partner@example.org",)
    (stored,) = m365_sandbox.messages()
    assert stored.transport == "relay"


@pytest.mark.sandbox(tenant={"relay_allowed_ips": ()})
async def test_relay_connector_by_certificate_needs_the_client_certificate(
    m365_sandbox: Sandbox, tmp_path: Path
) -> None:
    assert m365_sandbox.ca is not None
    issued = m365_sandbox.ca.issue_cert("contoso.com")
    client_pem = tmp_path / "relay-client.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(client_pem))
    without = settings_for(m365_sandbox, "relay")
    with pytest.raises(PermanentSendError) as caught:
        await SmtpTransport(without).send(note("partner@example.org"), resolve_identity(without))
    assert caught.value.enhanced_status == "5.7.64"
    with_cert = settings_for(m365_sandbox, "relay", client_certificate_path=str(client_pem))
    await SmtpTransport(with_cert).send(note("partner@example.org"), resolve_identity(with_cert))
    (stored,) = m365_sandbox.messages()
    assert stored.envelope_to == ("partner@example.org",)


async def test_nothing_listening_is_a_server_unreachable_error(m365_sandbox: Sandbox, free_port: int) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", port=free_port, timeout=5)
    with pytest.raises(ServerUnreachableError) as caught:
        await SmtpTransport(settings).send(note(), resolve_identity(settings))
    assert caught.value.hint is not None and "port" in caught.value.hint
    assert m365_sandbox.messages() == []


# -- transcript and envelope check ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ((b"MAIL", b"FROM:<a@contoso.com>"), "MAIL FROM:<a@contoso.com>"),
        ((b"AUTH", b"XOAUTH2", b"dXNlcj1hQGI="), "AUTH XOAUTH2 ***"),
        ((b"AUTH", b"LOGIN"), "AUTH LOGIN ***"),
        ((b"U2FuZGJveC1QYXNzdzByZCE=",), "***"),
        ((b"",), "***"),
        ((b"rset",), "rset"),
    ],
)
def test_transcript_redacts_credentials_and_keeps_commands(args: tuple[bytes, ...], shown: str) -> None:
    assert redact_command(args) == shown


@pytest.mark.parametrize("name", ["smtp_basic", "smtp_oauth2"])
async def test_transcript_follows_the_session_without_credentials(m365_sandbox: Sandbox, name: str) -> None:
    lines: list[str] = []
    settings = settings_for(m365_sandbox, name)
    result = await SmtpTransport(settings, transcript=lines.append).send(note(), resolve_identity(settings))
    verbs = [line.split()[1] for line in lines if line.startswith("C: ")]
    assert verbs[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"]
    assert verbs[-4:] == ["MAIL", "RCPT", "DATA", "QUIT"]
    assert lines[0].startswith("S: 220 ")
    assert any(line.startswith("S: 235 ") for line in lines)
    assert result.reply in lines[-3]
    text = "\n".join(lines)
    assert "Sandbox-Passw0rd!" not in text
    assert settings.username is not None
    assert base64.b64encode(settings.username.encode()).decode() not in text  # the AUTH LOGIN/XOAUTH2 payloads
    assert "All good." not in text  # the message content stays out


async def test_envelope_check_sends_nothing_and_reports_the_recipient_reply(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2", allowed_senders="reports@contoso.com")
    reply = await SmtpTransport(settings).check_envelope(
        resolve_identity(settings, from_email="reports@contoso.com"), "airflow@contoso.com"
    )
    assert reply.startswith("250")
    assert m365_sandbox.messages() == []


async def test_envelope_check_without_send_as_is_denied_at_mail_from(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2", allowed_senders="*@contoso.com")
    lines: list[str] = []
    transport = SmtpTransport(settings, transcript=lines.append)
    with pytest.raises(SendAsDeniedError) as caught:
        await transport.check_envelope(resolve_identity(settings, from_email="alerts@contoso.com"), "bob@contoso.com")
    assert caught.value.enhanced_status == "5.7.60"
    assert not any(line.startswith("C: RCPT") for line in lines)


async def test_envelope_check_in_a_session_resets_so_the_next_send_works(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_oauth2", allowed_senders="reports@contoso.com")
    async with SmtpTransport(settings) as transport:
        await transport.check_envelope(resolve_identity(settings, from_email="reports@contoso.com"), "bob@contoso.com")
        await transport.send(note(), resolve_identity(settings))
    (stored,) = m365_sandbox.messages()
    assert stored.envelope_from == "airflow@contoso.com"
    assert stored.envelope_to == ("bob@contoso.com",)
    assert m365_sandbox.state.stats["smtp_sessions"] == 1


# -- files that vanish, and recipients deferred for now ------------------------------------------------------


async def test_an_attachment_deleted_after_validation_is_a_validation_error_and_nothing_is_sent(
    m365_sandbox: Sandbox, tmp_path: Path
) -> None:
    from airflow_provider_m365mail.core.errors import MessageValidationError

    report = tmp_path / "report.csv"
    report.write_text("a,b\n", encoding="utf-8")
    message = OutgoingMessage.create(to="bob@contoso.com", subject="Report", text="attached", attachments=[report])
    report.unlink()
    settings = settings_for(m365_sandbox, "smtp_basic")
    with pytest.raises(MessageValidationError, match="cannot read") as info:
        await SmtpTransport(settings).send(message, resolve_identity(settings))
    assert info.value.field == "attachments"
    assert m365_sandbox.messages() == []


def test_every_recipient_refused_for_now_is_transient_not_a_permanent_refusal() -> None:
    error = translate(_refused(("a@contoso.com", 452, "4.5.3 Too many recipients"),
                               ("b@contoso.com", 550, "5.1.10 RESOLVER.ADR.RecipientNotFound")), "rcpt")
    assert isinstance(error, TransientSendError)
    assert error.code == "452" and error.enhanced_status == "4.5.3"
    assert error.hint is not None and "max_recipients_per_message" in error.hint


@pytest.mark.sandbox(faults=[{"target": "smtp", "kind": "reply", "code": 452, "stage": "rcpt",
                              "message": "4.5.3 Too many recipients"}])
async def test_a_recipient_deferred_at_rcpt_is_reported_as_deferred_not_refused(m365_sandbox: Sandbox) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic")
    result = await SmtpTransport(settings).send(note(["alice@contoso.com", "bob@contoso.com"]),
                                                resolve_identity(settings))
    assert result.refused == {}
    assert result.accepted == ("bob@contoso.com",)
    assert result.deferred == {"alice@contoso.com": (452, "4.5.3 Too many recipients")}
