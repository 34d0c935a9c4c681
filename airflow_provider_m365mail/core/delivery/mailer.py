"""Send messages with policy on top of a transport: batches, stable Message-IDs, retries, failover and pace.

A message with more recipients than the connection allows per message (Exchange Online: 500) is split into
batches, each a message of its own; ``separately`` sends one message per To recipient instead (mail merge). Every
message gets its Message-ID before the first attempt, so a retry, or a task retried by Airflow, resubmits the same
Message-ID and Exchange's duplicate detection can drop repeats. Where the transport can look a Message-ID up
(Graph, in Sent Items) a retry first asks whether the earlier attempt went through, and does not send it again.

Recipients a server refuses for now (a 4xx at RCPT TO, such as 452 4.5.3 too many recipients) are sent the same
message, headers and Message-ID unchanged, in a further round: never dropped, never counted as refused.

Transient failures (dropped connections, 4xx replies, throttling, an unreachable identity provider) are retried
on a new connection with exponential backoff and jitter, honouring a server's Retry-After, for a bounded number of
attempts within a deadline of four times the connection timeout. Permanent failures are raised at once. A
connection with an alternate server fails over to it while the primary cannot be reached (``failover``). Sends
keep to the mailbox's ``max_messages_per_minute`` (``rate_limit``), and long runs log their progress.
"""

from __future__ import annotations

import logging
import time
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

from airflow_provider_m365mail.core.delivery.pacing import SendingRate, sending_rate
from airflow_provider_m365mail.core.errors import (
    MessageValidationError,
    RecipientsPartlyRefusedError,
    ServerUnreachableError,
    ThrottledError,
    TransientSendError,
    classify_partial_refusal,
)
from airflow_provider_m365mail.core.identity import SenderIdentity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage, make_message_id
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.transports import make_transport
from airflow_provider_m365mail.core.transports.base import CheckResult, SendResult, SentItemsLookup, Transport
from airflow_provider_m365mail.core.transports.failover import DEFAULT_COOL_DOWN_S

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 4
PROGRESS_EVERY_S = 10.0
PROGRESS_EVERY_MESSAGES = 500
_SLOW_DOWN_S = 1.0  # pause after a 421 that names no wait
_exponential = wait_exponential(multiplier=0.5, max=30.0) + wait_random(0, 0.5)


class Mailer:
    """Send ``OutgoingMessage`` objects through the transport the settings choose (or the one given).

    One ``Mailer`` serves one task at a time: ``send`` and ``send_many`` share the transport's connection.
    ``check_sent_items`` makes even the first attempt look for an earlier try's copy (a retried Airflow task);
    ``rate_window_s`` is the span ``max_messages_per_minute`` counts over (shorter only in tests).
    """

    def __init__(
        self,
        settings: MailSettings,
        *,
        transport: Transport | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        check_sent_items: bool = False,
        failover_cool_down_s: float = DEFAULT_COOL_DOWN_S,
        rate_window_s: float = 60.0,
    ) -> None:
        self._settings = settings
        self._transport = transport or make_transport(settings, failover_cool_down_s=failover_cool_down_s)
        self._max_attempts = max_attempts
        self._check_sent_items = check_sent_items
        self._rate_window_s = rate_window_s

    @property
    def transport(self) -> Transport:
        """Return the transport messages go through."""
        return self._transport

    async def send(
        self, message: OutgoingMessage, identity: SenderIdentity, *, separately: bool = False
    ) -> list[SendResult]:
        """Send one message (split into recipient batches, or one per To recipient); one result per message."""
        return await self.send_many([(message, identity)], separately=separately)

    async def send_many(
        self, items: Sequence[tuple[OutgoingMessage, SenderIdentity]], *, separately: bool = False
    ) -> list[SendResult]:
        """Send several messages over one connection; return the results in order, one per message sent."""
        limit = self._settings.max_recipients_per_message
        batches = [
            (batch, identity)
            for message, identity in items
            for batch in (
                split_per_recipient(message, identity) if separately else split_recipients(message, identity, limit)
            )
        ]
        progress = _Progress(len(batches))
        results: list[SendResult] = []
        async with self._transport:
            for batch, identity in batches:
                mailbox = identity.auth_account or identity.envelope_from
                rate = sending_rate(
                    self._settings.host or self._settings.graph_endpoint,
                    mailbox,
                    self._settings.max_messages_per_minute,
                    self._rate_window_s,
                )
                result = await self._send_with_retry(batch, identity, rate)
                result = await self._send_deferred(batch, identity, rate, result)
                rate.count_recipients(len(result.accepted), mailbox)
                if result.refused:
                    _log_refused(result)
                results.append(result)
                progress.advance()
        return results

    async def check(self) -> CheckResult:
        """Check the connection (connect, authenticate) without sending anything."""
        return await self._transport.check()

    async def _send_with_retry(
        self, message: OutgoingMessage, identity: SenderIdentity, rate: SendingRate
    ) -> SendResult:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientSendError),
            stop=stop_after_attempt(self._max_attempts) | stop_before_delay(self._settings.timeout * 4),
            wait=_backoff,
            before_sleep=_log_retry(message),
            reraise=True,
        )
        # Whether an earlier attempt may have gone through although it failed (a timeout, a dropped connection);
        # a server that refused with throttling, or could not be reached, took nothing.
        maybe_sent = self._check_sent_items
        async for attempt in retrying:
            with attempt:
                if maybe_sent:
                    earlier = await self._find_sent(message, identity)
                    if earlier is not None:
                        return earlier
                try:
                    return await self._attempt(message, identity, rate)
                except TransientSendError as exc:
                    maybe_sent = not isinstance(exc, (ThrottledError, ServerUnreachableError))
                    raise
        raise AssertionError("tenacity ends with a result or an exception")

    async def _send_deferred(
        self, message: OutgoingMessage, identity: SenderIdentity, rate: SendingRate, result: SendResult
    ) -> SendResult:
        """Send the same message (headers, Message-ID) again to the recipients the server deferred (4xx at RCPT).

        Each round goes to fewer recipients: one that the server refuses entirely raises, and is retried as any
        transient failure is.
        """
        while result.deferred:
            rest = replace(message, envelope=tuple(a for a in message.recipients() if a.email in result.deferred))
            later = await self._send_with_retry(rest, identity, rate)
            if not later.accepted and later.deferred:
                raise TransientSendError(f"the server deferred {', '.join(later.deferred)} again")
            result = result.followed_by(later)
        return result

    async def _attempt(self, message: OutgoingMessage, identity: SenderIdentity, rate: SendingRate) -> SendResult:
        async with rate.slot():
            try:
                return await self._transport.send(message, identity)
            except TransientSendError as exc:
                if isinstance(exc, ThrottledError) or exc.code == "421":
                    rate.slow_down(exc.retry_after if exc.retry_after is not None else _SLOW_DOWN_S)
                raise

    async def _find_sent(self, message: OutgoingMessage, identity: SenderIdentity) -> SendResult | None:
        """Return a result for a message an earlier try already sent, if the transport can tell."""
        if not isinstance(self._transport, SentItemsLookup) or message.message_id is None:
            return None
        if not await self._transport.find_sent(message.message_id, identity):
            return None
        log.warning("%s is already in Sent Items from an earlier try; not sending it again", message.message_id)
        return SendResult(
            message_id=message.message_id,
            accepted=tuple(a.email for a in message.recipients()),
            refused={},
            reply="found in Sent Items; not sent again",
            transport=self._transport.name,
            already_sent=True,
        )


def split_per_recipient(message: OutgoingMessage, identity: SenderIdentity) -> list[OutgoingMessage]:
    """Split a message into one message per To recipient (mail merge), each with a Message-ID of its own.

    Each Message-ID derives from the message's and the recipient's address, so it is the same on every try
    whatever the order of the list. Cc and Bcc have no meaning here and are refused.
    """
    for name in ("cc", "bcc"):
        if getattr(message, name):
            raise MessageValidationError(
                name,
                "sending separately gives each To recipient a message of their own; there is nobody to copy",
                hint=f"put these addresses in to, or send without send_separately to keep {name}",
            )
    domain = identity.from_address.domain
    base = message.message_id or make_message_id(uuid.uuid4().hex, domain)
    return [
        replace(message, to=(address,), message_id=make_message_id(f"{base}|{address.email.casefold()}", domain))
        for address in message.to
    ]


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


def partial_refusal(results: Sequence[SendResult]) -> RecipientsPartlyRefusedError | None:
    """Return the error naming every recipient the server refused across ``results``, or None if there is none."""
    refused = {address: reply for result in results for address, reply in result.refused.items()}
    if not refused:
        return None
    return classify_partial_refusal(refused, [address for result in results for address in result.accepted])


class _Progress:
    """Log how a long run is going (sent N of M, rate, time left) every few seconds or messages."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._done = 0
        self._started = self._logged_at = time.monotonic()
        self._logged_count = 0

    def advance(self) -> None:
        self._done += 1
        now = time.monotonic()
        due = now - self._logged_at >= PROGRESS_EVERY_S or self._done - self._logged_count >= PROGRESS_EVERY_MESSAGES
        if self._total < 2 or not (due or self._done == self._total):
            return
        self._logged_at, self._logged_count = now, self._done
        per_s = self._done / max(now - self._started, 1e-9)
        log.info(
            "sent %d of %d messages (%.1f per minute, about %.0f s left)",
            self._done,
            self._total,
            per_s * 60,
            (self._total - self._done) / per_s,
        )


def _log_refused(result: SendResult) -> None:
    listing = "; ".join(f"{address}: {code} {reply}" for address, (code, reply) in result.refused.items())
    log.warning(
        "%s reached %d recipient(s) but the server refused %d: %s",
        result.message_id,
        len(result.accepted),
        len(result.refused),
        listing,
    )


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
