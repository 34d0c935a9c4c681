"""Define what every mail transport offers: send a message, check the connection, reuse it for a batch.

Policy (identity, batching, retries) lives above, in ``Mailer``; a transport only talks to one server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.errors import M365MailError
    from airflow_provider_m365mail.core.identity import SenderIdentity
    from airflow_provider_m365mail.core.message import OutgoingMessage


@dataclass(frozen=True)
class SendResult:
    """What the server said about one submitted message."""

    message_id: str
    accepted: tuple[str, ...]
    refused: Mapping[str, tuple[int, str]]  # address -> (reply code, reply text), for partly refused messages
    reply: str
    transport: str
    already_sent: bool = False  # found in Sent Items from an earlier try, so not submitted again


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
