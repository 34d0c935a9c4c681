"""Emulate Exchange Online's SMTP endpoints with aiosmtpd: submission, implicit TLS, direct send and relay.

Each connection gets an ``ExchangeSMTP`` protocol (aiosmtpd's, with Exchange's reply texts and fault hooks) and an
``ExchangeSession`` handler that knows who authenticated and applies the tenant's rules at the stage where Exchange
applies them: credentials and SMTP AUTH switches at AUTH, the envelope Send As check and the concurrency limit at
MAIL FROM, the direct-send recipient rule at RCPT, the header From check and the rate limits after DATA.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import ssl
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from typing import Any, AnyStr, Literal, cast

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session, TLSSetupException, syntax

from . import replies
from .smtp_auth import SignIn, check_basic, check_xoauth2
from .smtp_volume import (
    VOLUME_LISTENERS,
    VolumeListener,
    check_hve_xoauth2,
    check_volume_basic,
    volume_recipient_refusal,
    volume_sender_refusal,
)
from .state import FaultKind, SandboxState, SmtpStage

Listener = Literal["submission", "ssl", "direct_send", "relay", "hve", "acs_smtp"]
LISTENERS: tuple[Listener, ...] = ("submission", "ssl", "direct_send", "relay", "hve", "acs_smtp")
TRANSPORTS: dict[Listener, str] = {
    "submission": "smtp_submission",
    "ssl": "smtp_ssl",
    "direct_send": "direct_send",
    "relay": "relay",
    "hve": "hve",
    "acs_smtp": "acs_smtp",
}
HOSTNAME = "m365mail-sandbox"
_AUTH_LISTENERS: frozenset[Listener] = frozenset({"submission", "ssl", "hve", "acs_smtp"})
_STARTTLS_FIRST: frozenset[Listener] = frozenset({"submission", "hve", "acs_smtp"})
_AUTH_MECHANISMS = ("LOGIN", "PLAIN", "XOAUTH2")
_STAGE_FAULTS: tuple[FaultKind, ...] = ("reply", "timeout")
_DROP_FAULTS: tuple[FaultKind, ...] = ("drop_mid_data",)
_AUTH_LINE_LIMIT = 8192

log = logging.getLogger(__name__)


class _HideLoginDataNotice(logging.Filter):
    """Drop aiosmtpd's notice about its own deprecated ``login_data``, logged at every successful AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Session.login_data is deprecated")


logging.getLogger("mail.log").addFilter(_HideLoginDataNotice())


@dataclass
class SmtpShared:
    """What every SMTP connection of one sandbox shares: the tenant state and TLS contexts."""

    state: SandboxState
    tls: ssl.SSLContext
    relay_tls: ssl.SSLContext  # also asks for a client certificate (connector by certificate)
    connections: set[ExchangeSMTP] = field(default_factory=set)


def protocol_factory(listener: Listener, shared: SmtpShared) -> Callable[[], ExchangeSMTP]:
    """Return the factory ``loop.create_server`` calls for each new connection on ``listener``."""

    def make() -> ExchangeSMTP:
        return ExchangeSMTP(ExchangeSession(listener, shared), listener, shared)

    return make


class ExchangeSMTP(SMTP):
    """aiosmtpd's SMTP protocol speaking Exchange's replies, with the sandbox's injected faults."""

    AuthLoginUsernameChallenge = replies.AUTH_LOGIN_USERNAME
    AuthLoginPasswordChallenge = replies.AUTH_LOGIN_PASSWORD
    # An ``AUTH XOAUTH2`` line carries a whole access token: Entra's run to a few kilobytes.
    line_length_limit = _AUTH_LINE_LIMIT

    def __init__(self, handler: ExchangeSession, listener: Listener, shared: SmtpShared) -> None:
        offers_auth = listener in _AUTH_LISTENERS
        super().__init__(
            handler,
            hostname=HOSTNAME,
            ident=replies.GREETING_IDENT,
            data_size_limit=shared.state.tenant.limits.max_message_size,
            enable_SMTPUTF8=True,
            tls_context=None if listener == "ssl" else shared.relay_tls if listener == "relay" else shared.tls,
            require_starttls=listener in _STARTTLS_FIRST,
            auth_require_tls=listener != "ssl",
            auth_exclude_mechanism=(
                _AUTH_MECHANISMS if not offers_auth else ("XOAUTH2",) if listener == "acs_smtp" else ()
            ),
            authenticator=handler.check_password,
            loop=asyncio.get_running_loop(),
        )
        self.command_size_limits = defaultdict(lambda: self.command_size_limit, {"AUTH": _AUTH_LINE_LIMIT})
        self.handler = handler
        self.listener = listener
        self._shared = shared

    @property
    def tls_active(self) -> bool:
        """Tell whether the connection is encrypted (implicit TLS or after STARTTLS)."""
        return self.listener == "ssl" or self._tls_protocol is not None

    def drop(self) -> None:
        """Cut the connection at once, unread input and all, as a network failure would."""
        self._reader._buffer.clear()  # type: ignore[attr-defined]
        if self.transport is not None:
            cast(asyncio.Transport, self.transport).abort()

    async def push(self, status: AnyStr) -> None:
        """Send a reply in Exchange's words; a 421 closes the connection, as it announces."""
        if isinstance(status, bytes):
            await super().push(status)
            return
        reply = replies.translate(status)
        await super().push(reply)
        if reply.startswith("421") and self.transport is not None:
            self.transport.close()

    async def _handle_client(self) -> None:
        self._shared.connections.add(self)
        self._shared.state.stats["smtp_sessions"] += 1
        refusal = await self.handler.injected("connect")
        if refusal is None:
            await super()._handle_client()
            return
        await self.push(refusal)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        self._shared.connections.discard(self)
        self.handler.release()
        super().connection_lost(error)

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        refusal = await self.handler.injected("auth")
        if refusal is not None:
            await self.push(refusal)
            return
        session = self._session
        if self.tls_active and not session.host_name and self.handler.ehlo_before_tls:
            # Exchange takes AUTH without the EHLO that must follow STARTTLS, then refuses MAIL FROM (5.7.57).
            session.host_name = self.handler.ehlo_before_tls
            session.extended_smtp = True
            self.handler.missed_ehlo_after_tls = True
        await super().smtp_AUTH(arg)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        envelope = cast(Envelope, self.envelope)
        if envelope.rcpt_tos and not arg and self.handler.take_drop_fault():
            await self.push(replies.DATA_GO_AHEAD)
            with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                await self._reader.readuntil(b"\r\n")
            self.drop()
            return
        await super().smtp_DATA(arg)

    @property
    def _session(self) -> Session:
        return cast(Session, self.session)


class ExchangeSession:
    """One connection's view of the tenant: who authenticated, and what they may send."""

    def __init__(self, listener: Listener, shared: SmtpShared) -> None:
        self.listener = listener
        self.state = shared.state
        self.mailbox: str | None = None  # the authenticated mailbox
        self._rights_principal = ""  # whose grants count: the mailbox, or the app for app-only OAuth
        self._claimed = False  # holds one of the mailbox's concurrent connections
        self.ehlo_before_tls: str | None = None
        self.missed_ehlo_after_tls = False

    # -- faults ----------------------------------------------------------------------------------------------

    async def injected(self, stage: SmtpStage) -> str | None:
        """Return the reply of a fault armed for this stage (after its delay, for a timeout), or None."""
        fault = self.state.take_fault("smtp", stage, kinds=_STAGE_FAULTS)
        if fault is None:
            return None
        if fault.kind == "timeout":
            # Counted while held, so a test can tell that a client gave up before the server answered.
            self.state.smtp_replies_held += 1
            try:
                await asyncio.sleep(fault.wait_s())
            finally:
                self.state.smtp_replies_held -= 1
            return replies.TIMED_OUT
        return replies.fault_reply(fault.code, fault.message)

    def take_drop_fault(self) -> bool:
        """Tell whether a "drop_mid_data" fault is armed (consuming one use)."""
        return self.state.take_fault("smtp", kinds=_DROP_FAULTS) is not None

    async def handle_exception(self, error: Exception) -> str:
        """Log a failure inside the sandbox (the server reports it to tests) and answer as Exchange would."""
        if not isinstance(error, (TLSSetupException, ConnectionError, ssl.SSLError)):
            log.error("sandbox SMTP session failed", exc_info=error)
        return replies.SERVER_ERROR

    # -- authentication --------------------------------------------------------------------------------------

    def check_password(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """Check AUTH PLAIN / LOGIN (aiosmtpd's ``authenticator``): basic authentication."""
        credentials = cast(LoginPassword, auth_data)
        if self.listener in VOLUME_LISTENERS:
            return self._sign_in(check_volume_basic(
                cast(VolumeListener, self.listener), self.state.tenant, credentials.login, credentials.password
            ))
        return self._sign_in(check_basic(self.state.tenant, credentials.login, credentials.password))

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """Run ``AUTH XOAUTH2``, with the initial response or after an empty challenge."""
        if len(args) == 1:
            challenged = await server.challenge_auth("", encode_to_b64=False)
            if challenged is MISSING:  # aiosmtpd has answered already
                return AuthResult(success=False, handled=True)
            sasl = challenged
        else:
            try:
                sasl = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return _refused(replies.MALFORMED_AUTH)
        if self.listener == "hve":
            return self._sign_in(check_hve_xoauth2(self.state.tenant, self.state.tokens, sasl))
        return self._sign_in(check_xoauth2(self.state.tenant, self.state.tokens, sasl))

    def _sign_in(self, outcome: SignIn | str) -> AuthResult:
        if isinstance(outcome, str):
            return _refused(outcome)
        self.mailbox, self._rights_principal = outcome.mailbox, outcome.rights_principal
        # HVE and ACS sit outside the mailbox limits (connections, rate, recipients a day)
        self._claimed = self.listener not in VOLUME_LISTENERS and self.state.open_smtp_session(outcome.mailbox)
        return AuthResult(success=True, auth_data=outcome.mailbox)

    def release(self) -> None:
        """Give back the connection slot claimed for the mailbox (on disconnect)."""
        if self._claimed and self.mailbox is not None:
            self.state.close_smtp_session(self.mailbox)
        self._claimed = False

    # -- SMTP hooks ------------------------------------------------------------------------------------------

    async def handle_EHLO(
        self, server: ExchangeSMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        refusal = await self.injected("ehlo")
        if refusal is not None:
            return [refusal]
        session.host_name = hostname
        if server.tls_active:
            self.missed_ehlo_after_tls = False
        else:
            self.ehlo_before_tls = hostname
        peer = cast("tuple[Any, ...] | None", session.peer)
        lines = [f"{server.hostname} Hello [{peer[0] if peer else 'unknown'}]"]
        for line in responses[1:]:
            text = line[4:].strip()
            if text not in {"HELP", "AUTH"}:
                lines.append(text)
        lines.append("ENHANCEDSTATUSCODES")
        return [f"250-{text}" for text in lines[:-1]] + [f"250 {lines[-1]}"]

    async def handle_MAIL(
        self, server: ExchangeSMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = await self.injected("mail") or self._refuse_sender(session, address)
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return replies.SENDER_OK

    async def handle_RCPT(
        self, server: ExchangeSMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = await self.injected("rcpt")
        if refusal is not None:
            return refusal
        if self.listener == "direct_send" and not self.state.tenant.is_internal(address):
            return replies.DIRECT_SEND_EXTERNAL
        if self.listener in VOLUME_LISTENERS:
            refusal = volume_recipient_refusal(cast(VolumeListener, self.listener), self.state.tenant, address)
            if refusal is not None:
                return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return replies.RECIPIENT_OK

    async def handle_DATA(
        self, server: ExchangeSMTP, session: Session, envelope: Envelope
    ) -> str:
        refusal = await self.injected("data")
        if refusal is not None:
            return refusal
        raw = envelope.original_content or b""
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        if self.mailbox is not None and self.listener not in VOLUME_LISTENERS:
            refusal = self._refuse_header_sender(self.mailbox, headers) or self.state.admit_submission(
                self.mailbox, len(envelope.rcpt_tos)
            )
            if refusal is not None:
                return refusal
        if headers.get("Message-ID") is None:  # Exchange stamps one on messages that lack it
            raw = f"Message-ID: <{uuid.uuid4().hex}@{HOSTNAME}>\r\n".encode() + raw
        stored = self.state.store_message(
            raw=raw,
            envelope_from=envelope.mail_from or "",
            envelope_to=envelope.rcpt_tos,
            transport=TRANSPORTS[self.listener],
            principal=self.mailbox,
        )
        self.state.stats["smtp_messages"] += 1
        return replies.QUEUED.format(message_id=stored.message_id, host=HOSTNAME)

    # -- Exchange's rules ------------------------------------------------------------------------------------

    def _refuse_sender(self, session: Session, address: str) -> str | None:
        if self.listener == "relay":
            return None if self._relay_allowed(session) else replies.RELAY_DENIED
        if self.listener == "direct_send":
            return None
        if self.mailbox is None or self.missed_ehlo_after_tls:
            return replies.NOT_AUTHENTICATED
        if self.listener in VOLUME_LISTENERS:
            return volume_sender_refusal(cast(VolumeListener, self.listener), self.state.tenant, self.mailbox, address)
        if not self._claimed:
            self._claimed = self.state.open_smtp_session(self.mailbox)
            if not self._claimed:
                return replies.THREAD_LIMIT
        if self._may_send_as(self.mailbox, address):
            return None
        self.state.refuse_send_as("smtp", address)
        return replies.SEND_AS_DENIED_ENVELOPE

    def _refuse_header_sender(self, mailbox: str, headers: Message) -> str | None:
        author = _first_address(headers.get_all("From"))
        if author is None or self._may_send_as(mailbox, author):
            return None
        sender = _first_address(headers.get_all("Sender"))
        if (
            sender is not None
            and sender.casefold() == mailbox.casefold()
            and self.state.has_right(self._rights_principal, author, "send_on_behalf")
        ):
            return None
        self.state.refuse_send_as("smtp", author)
        return replies.SEND_AS_DENIED_HEADER.format(principal=mailbox, sender=author)

    def _may_send_as(self, mailbox: str, address: str) -> bool:
        return address.casefold() == mailbox.casefold() or self.state.has_right(
            self._rights_principal, address, "send_as"
        )

    def _relay_allowed(self, session: Session) -> bool:
        """Match an inbound connector: by the client's IP, or by a sandbox-CA certificate naming a tenant domain."""
        tenant = self.state.tenant
        peer = cast("tuple[Any, ...] | None", session.peer)
        if peer and peer[0] in tenant.relay_allowed_ips:
            return True
        peercert = (session.ssl or {}).get("peercert") or {}
        names = {value.casefold() for kind, value in peercert.get("subjectAltName", ()) if kind == "DNS"}
        return bool(names & {d.casefold() for d in tenant.accepted_domains})


def _refused(reply: str) -> AuthResult:
    return AuthResult(success=False, handled=False, message=reply)


def _first_address(values: Sequence[str] | None) -> str | None:
    return next((addr for _, addr in getaddresses(list(values or ())) if "@" in addr), None)
