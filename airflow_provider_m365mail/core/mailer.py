"""Send messages with policy on top of a transport: recipient batches, stable Message-IDs and retries.

A message with more recipients than the connection allows per message (Exchange Online: 500) is split into
batches, each a message of its own. Every message gets its Message-ID before the first attempt, so a retry, or
a task retried by Airflow, resubmits the same Message-ID and Exchange's duplicate detection can drop repeats.

Transient failures (dropped connections, 4xx replies, throttling, an unreachable identity provider) are retried
with exponential backoff and jitter, honouring a server's Retry-After, for a bounded number of attempts within
a deadline of four times the connection timeout. Permanent failures are raised at once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from airflow_provider_m365mail.core.errors import TransientSendError
from airflow_provider_m365mail.core.identity import SenderIdentity
from airflow_provider_m365mail.core.message import OutgoingMessage, make_message_id
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.transports import make_transport
from airflow_provider_m365mail.core.transports.base import CheckResult, SendResult, Transport

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 4
_exponential = wait_exponential(multiplier=0.5, max=30.0) + wait_random(0, 0.5)


class Mailer:
    """Send ``OutgoingMessage`` objects through the transport the settings choose (or the one given).

    One ``Mailer`` serves one task at a time: ``send`` and ``send_many`` share the transport's connection.
    """

    def __init__(
        self,
        settings: MailSettings,
        *,
        transport: Transport | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self._settings = settings
        self._transport = transport if transport is not None else make_transport(settings)
        self._max_attempts = max_attempts

    @property
    def transport(self) -> Transport:
        """Return the transport messages go through."""
        return self._transport

    async def send(self, message: OutgoingMessage, identity: SenderIdentity) -> list[SendResult]:
        """Send one message, split into recipient batches when needed; return one result per batch."""
        return await self.send_many([(message, identity)])

    async def send_many(self, items: Sequence[tuple[OutgoingMessage, SenderIdentity]]) -> list[SendResult]:
        """Send several messages over one connection; return the results in order, one per batch."""
        batches = [
            (batch, identity)
            for message, identity in items
            for batch in split_recipients(message, identity, self._settings.max_recipients_per_message)
        ]
        results: list[SendResult] = []
        async with self._transport:
            for batch, identity in batches:
                results.append(await self._send_with_retry(batch, identity))
        return results

    async def check(self) -> CheckResult:
        """Check the connection (connect, authenticate) without sending anything."""
        return await self._transport.check()

    async def _send_with_retry(self, message: OutgoingMessage, identity: SenderIdentity) -> SendResult:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientSendError),
            stop=stop_after_attempt(self._max_attempts) | stop_before_delay(self._settings.timeout * 4),
            wait=_backoff,
            before_sleep=_log_retry(message),
            reraise=True,
        )
        result: SendResult = await retrying(self._transport.send, message, identity)
        return result


def split_recipients(message: OutgoingMessage, identity: SenderIdentity, limit: int) -> list[OutgoingMessage]:
    """Split a message into messages of at most ``limit`` recipients (To, then Cc, then Bcc, in order).

    Each part lists only its own recipients. The first part keeps the message's Message-ID; part ``i`` gets
    one derived from it and ``i``, so the split is the same on every attempt. A message without a Message-ID
    gets a new one here.
    """
    domain = identity.from_address.domain
    message_id = message.message_id or make_message_id(uuid.uuid4().hex, domain)
    tagged = [("to", a) for a in message.to] + [("cc", a) for a in message.cc] + [("bcc", a) for a in message.bcc]
    if len(tagged) <= limit:
        return [replace(message, message_id=message_id)]
    parts = []
    for index, start in enumerate(range(0, len(tagged), limit)):
        chunk = tagged[start : start + limit]
        parts.append(
            replace(
                message,
                to=tuple(a for kind, a in chunk if kind == "to"),
                cc=tuple(a for kind, a in chunk if kind == "cc"),
                bcc=tuple(a for kind, a in chunk if kind == "bcc"),
                message_id=message_id if index == 0 else make_message_id(f"{message_id}#{index}", domain),
            )
        )
    return parts


def _backoff(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome is not None else None
    if isinstance(error, TransientSendError) and error.retry_after is not None:
        return max(0.0, error.retry_after)
    return _exponential(state)


def _log_retry(message: OutgoingMessage) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "attempt %d to send %s failed (%s code=%s status=%s: %s); retrying in %.1f s",
            state.attempt_number,
            message.message_id,
            type(error).__name__,
            getattr(error, "code", None),
            getattr(error, "enhanced_status", None),
            error,
            state.upcoming_sleep,
        )

    return before_sleep
