"""Define what every mail transport offers: send a message, check the connection, reuse it for a batch.

Policy (identity, batching, retries) lives above, in ``Mailer``; a transport only talks to one server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.errors import M365MailError
    from airflow_provider_m365mail.core.identity import SenderIdentity
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage


Transcript = Callable[[str], None]
"""Receives each protocol line of a session ("C: EHLO ...", "S: 250 ..."), credentials already redacted."""


@dataclass(frozen=True)
class SendResult:
    """What the server said about one submitted message."""

    message_id: str
    accepted: tuple[str, ...]
    refused: Mapping[str, tuple[int, str]]  # address -> (reply code, reply text), for partly refused messages
    reply: str
    transport: str
    already_sent: bool = False  # found in Sent Items from an earlier try, so not submitted again
    # address -> (reply code, reply text): refused for now (a 4xx at RCPT TO, e.g. 452 4.5.3 too many
    # recipients); unlike ``refused`` these did not get the message yet and are to be sent it again
    deferred: Mapping[str, tuple[int, str]] = field(default_factory=dict)

    def followed_by(self, later: SendResult) -> SendResult:
        """Return this result completed by ``later``, the same message sent again to the deferred recipients."""
        return replace(
            self,
            accepted=(*self.accepted, *later.accepted),
            refused={**self.refused, **later.refused},
            deferred=dict(later.deferred),
            reply=later.reply,
        )


@dataclass(frozen=True)
class CheckResult:
    """The outcome of a connection check: each step that ran, and the error that stopped it, if any."""

    ok: bool
    steps: tuple[str, ...]
    transport: str
    server_banner: str | None = None
    features: tuple[str, ...] = ()
    error: M365MailError | None = field(default=None, compare=False)


class Transport(Protocol):
    """Send messages to one server. ``async with transport:`` keeps one connection open for many sends."""

    name: str

    async def send(self, message: OutgoingMessage, identity: SenderIdentity) -> SendResult:
        """Submit one message; raise an ``M365MailError`` subclass when the server refuses it."""
        ...

    async def check(self) -> CheckResult:
        """Connect and authenticate without sending anything."""
        ...

    async def __aenter__(self) -> Transport: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class SentItemsLookup(Protocol):
    """A transport that can tell whether a message with a given Message-ID was already sent (Graph)."""

    async def find_sent(self, message_id: str, identity: SenderIdentity) -> bool | None:
        """Return True if the sending mailbox's Sent Items hold ``message_id``, None when it cannot tell."""
        ...


@runtime_checkable
class EnvelopeCheck(Protocol):
    """A transport that can ask whether a sender and recipient are accepted without sending anything (SMTP)."""

    async def check_envelope(self, identity: SenderIdentity, recipient: str) -> str:
        """Send MAIL FROM and RCPT TO, then reset; return the server's reply, raise ``M365MailError`` if refused."""
        ...


def log_server_wait(log: logging.Logger, doing: str, wait: float, budget: float, error: M365MailError) -> None:
    """Say what a transport waits for, until when, and within which budget, before it sleeps in place."""
    until = (datetime.now() + timedelta(seconds=wait)).strftime("%H:%M:%S")
    log.warning("%s in %.1f s, at %s, as the server asked (%s); retry budget %.0f s", doing, wait, until, error,
                budget)


_S = TypeVar("_S", bound="Session")


class Session:
    """``async with`` support for transports: the connection stays open until the outermost block ends.

    Blocks may nest (a ``send`` outside any block opens one of its own); leaving the outermost one calls ``close``.
    """

    _depth = 0

    @property
    def in_session(self) -> bool:
        """Tell whether an ``async with`` block is open, so connections are kept for the next message."""
        return self._depth > 0

    async def __aenter__(self: _S) -> _S:
        self._depth += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            await self.close()

    async def close(self) -> None:
        """Close whatever connections the transport holds."""
        raise NotImplementedError
