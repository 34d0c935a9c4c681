"""Submit mail over SMTP with aiosmtplib: client submission (basic or XOAUTH2), direct send and relay.

The session follows what Exchange Online expects: connect, STARTTLS when ``security`` is ``starttls`` (or TLS from
the first byte when ``ssl``), EHLO again over TLS (aiosmtplib forgets the pre-TLS EHLO and repeats it before the
next command; skipping it makes Exchange answer 530 5.7.57 at MAIL FROM), AUTH, then one MAIL/RCPT/DATA
transaction per message. Direct send and relay do not authenticate; a relay connector may identify us by a
client certificate (``client_certificate_path``).

Every aiosmtplib failure is translated in one place, ``errors.translate``, into the provider's errors. A ``transcript``
callback sees the session line by line (``C: ...`` / ``S: ...``) with AUTH credentials replaced by ``***`` and the
message content left out, for ``m365mail send-test`` and SMTP logs that Microsoft asks senders to keep.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING

from airflow_provider_m365mail.core.auth.proxies import proxy_for, through_proxy
from airflow_provider_m365mail.core.auth.tls import make_ssl_context
from airflow_provider_m365mail.core.auth.tokens import TokenSource
from airflow_provider_m365mail.core.errors import (
    AuthenticationError,
    ConfigurationError,
    M365MailError,
    PermanentSendError,
    RecipientsRefusedError,
)
from airflow_provider_m365mail.core.message.address_syntax import needs_smtputf8
from airflow_provider_m365mail.core.message.wire import WireRenderer
from airflow_provider_m365mail.core.settings import AuthType, MailSettings, Security, SmtpMode
from airflow_provider_m365mail.core.settings.hve import learn_refused_domains, refuse_external_recipients
from airflow_provider_m365mail.core.transports.base import CheckResult, SendResult, Session, Transcript
from airflow_provider_m365mail.core.transports.proxy import open_tunnel
from airflow_provider_m365mail.core.transports.smtp.errors import Stage, is_temporary, is_translatable, translate
from airflow_provider_m365mail.core.transports.smtp.segments import nagle_on
from airflow_provider_m365mail.core.transports.smtp.transcript import transcribing_client

if TYPE_CHECKING:
    import aiosmtplib

    from airflow_provider_m365mail.core.identity import SenderIdentity
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage

def xoauth2_scope(settings: MailSettings) -> str:
    """Return the scope to request for SMTP XOAUTH2 in the connection's cloud.

    App-only tokens use the resource's ``/.default`` (granting ``SMTP.SendAsApp``); delegated tokens ask for
    ``SMTP.Send`` on the same resource.
    """
    if settings.auth_type is AuthType.OAUTH2_DELEGATED:
        resource = settings.exchange_scope.removesuffix("/.default")
        return f"{resource}/SMTP.Send"
    return settings.exchange_scope


class SmtpTransport(Session):
    """Send messages through one SMTP server; ``async with`` keeps one authenticated connection for a batch.

    Outside ``async with``, each ``send`` opens and closes its own connection. After any failure the connection
    is closed (its state may be out of step with the server); the next ``send`` opens a new one. ``transcript``
    receives every protocol line, credentials redacted.
    """

    name = "smtp"

    def __init__(
        self, settings: MailSettings, tokens: TokenSource | None = None, *, transcript: Transcript | None = None
    ) -> None:
        self._settings = settings
        self._transcript = transcript or _ignore
        if tokens is None and settings.uses_oauth:
            tokens = TokenSource(settings)
        self._tokens = tokens
        self._client: aiosmtplib.SMTP | None = None
        self._banner: str | None = None
        self._ssl_context: ssl.SSLContext | None = None
        self._wire = WireRenderer()  # a mail merge's messages share all but a few header lines

    async def send(self, message: OutgoingMessage, identity: SenderIdentity) -> SendResult:
        """Submit one message in one SMTP transaction; return who was accepted and refused."""
        if not self.in_session:
            async with self:
                return await self.send(message, identity)
        recipients = [a.email for a in message.recipients()]
        refuse_external_recipients(self._settings, recipients)  # before connecting (HVE)
        utf8 = _utf8_addresses(identity.envelope_from, identity.from_address.email, *recipients,
                               *(a.email for a in identity.reply_to))
        message_id, data = self._wire.render(message, identity, utf8=bool(utf8))
        client = await self._connected()
        mail_options = self._smtputf8_options(client, utf8)
        try:
            refused, reply = await client.sendmail(identity.envelope_from, recipients, data, mail_options=mail_options)
        except BaseException as exc:
            self._drop()
            if is_translatable(exc):
                error = translate(exc, "mail")
                if isinstance(error, RecipientsRefusedError):
                    learn_refused_domains(self._settings, error.refused)
                raise error from exc
            raise
        refusals = {addr: (resp.code, resp.message) for addr, resp in refused.items()}
        learn_refused_domains(self._settings, refusals)
        return SendResult(
            message_id=message_id,
            accepted=tuple(r for r in recipients if r not in refusals),
            refused={addr: reply for addr, reply in refusals.items() if not is_temporary(reply[0])},
            reply=reply,
            transport=self.name,
            deferred={addr: reply for addr, reply in refusals.items() if is_temporary(reply[0])},
        )

    async def check_envelope(self, identity: SenderIdentity, recipient: str) -> str:
        """Offer ``identity``'s envelope sender and ``recipient`` (MAIL FROM, RCPT TO), then RSET: nothing is sent.

        Exchange Online checks Send As for the envelope sender at MAIL FROM (550 5.7.60), so this tells cheaply
        whether a grant is live for it. Return the RCPT reply; raise the provider's error for a refusal.
        """
        if not self.in_session:
            async with self:
                return await self.check_envelope(identity, recipient)
        client = await self._connected()
        options = self._smtputf8_options(client, _utf8_addresses(identity.envelope_from, recipient))
        encoding = "utf-8" if options else "ascii"
        stage: Stage = "mail"
        try:
            await client.mail(identity.envelope_from, options=options, encoding=encoding)
            stage = "rcpt"
            reply = await client.rcpt(recipient, encoding=encoding)
            await client.rset()
        except BaseException as exc:
            self._drop()
            if is_translatable(exc):
                raise translate(exc, stage) from exc
            raise
        return f"{reply.code} {reply.message}"

    async def check(self) -> CheckResult:
        """Connect, negotiate TLS, authenticate and send NOOP on a fresh connection; send no mail.

        Over High Volume Email the envelope is offered too (MAIL FROM, RCPT TO the HVE account, RSET): HVE refuses
        an account without a billing policy only when it is about to send.
        """
        steps: list[str] = []
        banner: str | None = None
        features: tuple[str, ...] = ()
        stage: Stage = "mail"
        try:
            client = await self._open(steps)
            banner = self._banner
            features = tuple(sorted(client.esmtp_extensions))
            try:
                noop = await client.noop()
                steps.append(f"NOOP answered {noop.code} {noop.message}")
                if self._settings.smtp_mode is SmtpMode.HVE:
                    account = self._settings.username or self._settings.from_email or ""
                    await client.mail(self._settings.from_email or account)
                    stage = "rcpt"
                    rcpt = await client.rcpt(account)
                    await client.rset()
                    steps.append(f"envelope offered and reset, nothing sent: RCPT answered {rcpt.code} {rcpt.message}")
                await client.quit()
                steps.append("QUIT")
            except BaseException as exc:
                client.close()
                if is_translatable(exc):
                    raise translate(exc, stage) from exc
                raise
        except M365MailError as exc:
            steps.append(f"failed: {exc}")
            return CheckResult(False, tuple(steps), self.name, banner, features, error=exc)
        return CheckResult(True, tuple(steps), self.name, banner, features)

    async def close(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        import aiosmtplib

        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass
        finally:
            client.close()

    def _smtputf8_options(self, client: aiosmtplib.SMTP, utf8: Sequence[str]) -> list[str] | None:
        """Return the MAIL FROM options for a transaction with these UTF-8 addresses; refuse it if SMTPUTF8 is off.

        Only a non-ASCII local part needs SMTPUTF8 (an internationalized domain travels as A-labels), and it has
        no ASCII equivalent: without the extension such a message cannot be sent at all.
        """
        if not utf8:
            return None
        if not client.supports_extension("smtputf8"):
            raise PermanentSendError(
                f"{self._settings.host} does not offer SMTPUTF8, which {', '.join(utf8)} "
                f"{'needs' if len(utf8) == 1 else 'need'}: a non-ASCII part before the @-sign has no ASCII form",
                hint="use an ASCII address for that mailbox, or a server whose EHLO reply lists SMTPUTF8",
            )
        return ["SMTPUTF8"]

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is None or not self._client.is_connected:
            self._client = await self._open()
        return self._client

    async def _open(self, steps: list[str] | None = None) -> aiosmtplib.SMTP:
        """Return a new connected (and, if configured, authenticated) client."""
        s = self._settings
        note = steps.append if steps is not None else _ignore
        token = None
        if s.uses_oauth:
            assert self._tokens is not None
            token = await self._tokens.get_token(xoauth2_scope(s))
            note(f"got an access token for {xoauth2_scope(s)} (expires in {token.expires_in():.0f} s)")
        proxy = proxy_for(s, s.host)
        # Through a proxy the client gets the tunnel's socket; TLS still runs to (and verifies) s.host itself.
        tunnel = await open_tunnel(proxy, s.host, s.port, timeout=s.timeout) if proxy else None
        client = transcribing_client()(
            self._transcript,
            hostname=s.host,
            port=None if tunnel else s.port,
            sock=tunnel,
            use_tls=s.security is Security.SSL,
            start_tls=False,  # done below, so that a failure is told apart from an unreachable server
            tls_context=self._tls_context() if s.security is not Security.NONE else None,
            timeout=s.timeout,
            local_hostname=await _local_hostname(),
        )
        stage: Stage = "connect"
        try:
            response = await client.connect()
            self._transcript(f"S: {response.code} {response.message}")
            self._banner = response.message
            note(
                f"connected to {s.host}:{s.port} ({s.security.value}){through_proxy(proxy)}: "
                f"{response.code} {response.message}"
            )
            if s.security is Security.STARTTLS:
                stage = "starttls"
                await client.ehlo()
                with nagle_on(client):  # EHLO then waits for the handshake's ACK, not 40 ms for its own
                    await client.starttls()
                    stage = "auth"
                    await client.ehlo()
            else:
                stage = "auth"
                await client.ehlo()
            if s.security is not Security.NONE:
                note(f"TLS {client.get_transport_info('ssl_object').version()} established")
            if s.auth_type is AuthType.BASIC:
                assert s.username is not None and s.password is not None
                await client.login(s.username, s.password.reveal())
                note(f"authenticated as {s.username} (basic)")
            elif token is not None:
                if "xoauth2" not in client.server_auth_methods:
                    raise AuthenticationError(
                        f"{s.host} does not offer AUTH XOAUTH2 (offers: "
                        f"{', '.join(client.server_auth_methods) or 'none'})",
                        hint="Exchange Online offers XOAUTH2 on smtp.office365.com:587 after STARTTLS",
                    )
                if not s.username:
                    raise ConfigurationError("login", "XOAUTH2 needs the mailbox to authenticate as in login")
                await client.auth_xoauth2(s.username, token.token)
                note(f"authenticated as {s.username} (XOAUTH2)")
        except BaseException as exc:
            client.close()
            if tunnel is not None:
                tunnel.close()
            if is_translatable(exc):
                raise translate(exc, stage) from exc
            raise
        return client

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = make_ssl_context(self._settings)
        return self._ssl_context


_ehlo_name: list[str] = []  # this host's name for EHLO, looked up once per process


async def _local_hostname() -> str:
    """Return this host's fully qualified name for EHLO, looked up off the loop once per process.

    aiosmtplib otherwise asks ``socket.getfqdn`` (a reverse DNS lookup on many hosts) in a new thread for every
    connection, which a task sending one message pays in full.
    """
    if not _ehlo_name:
        _ehlo_name.append(await asyncio.to_thread(socket.getfqdn))
    return _ehlo_name[0]


def _ignore(_: str) -> None:
    return None


def _utf8_addresses(*addresses: str) -> list[str]:
    """Return the addresses (each once) that need SMTPUTF8, in the envelope or in the headers."""
    return [address for address in dict.fromkeys(addresses) if needs_smtputf8(address)]
