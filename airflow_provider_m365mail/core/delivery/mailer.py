"""Send messages with policy on top of a transport: batches, stable Message-IDs, retries, failover and pace.

A message with more recipients than the connection allows per message (Exchange Online: 500) is split into
batches, each a message of its own; ``separately`` sends one message per To recipient instead (mail merge). Every
message gets its Message-ID before the first attempt, so a retry, or a task retried by Airflow, resubmits the same
Message-ID and Exchange's duplicate detection can drop repeats. With a ``DeliveryLedger`` a retried task skips
what an earlier try delivered; where the transport can look a Message-ID up (Graph, in Sent Items) a retry after
an attempt that may have gone through first asks whether it did.

Several messages (a mail merge, recipient batches, ``send_many``) go out over up to ``max_connections``
connections at once, each reused for message after message, all under the mailbox's pacing and the one ledger;
results come back in input order whatever order the server accepted them in.

Recipients a server refuses for now (a 4xx at RCPT TO, such as 452 4.5.3 too many recipients) are sent the same
message, headers and Message-ID unchanged, in a further round: never dropped, never counted as refused.

Transient failures (dropped connections, 4xx replies, throttling, an unreachable identity provider) are retried
on a new connection, with exponential backoff and jitter or after the wait the server asked for, for as long as
the connection's ``retry_budget_s`` allows from a message's first failure, not for a number of attempts. A
message waiting for its retry does not hold the others up: they go on, and it goes out when its wait is over; a
connection that drops is opened again alone, the others go on undisturbed.
Only replies about the whole mailbox (421, Graph 429, the 30-a-minute quota) hold every send for the server's
wait. A wait that would end beyond the budget is not slept: the message is *left over* for the task's next try.
Permanent failures are raised at once. A connection with an alternate server fails over to it while the primary
cannot be reached (``failover``). Sends keep to the mailbox's ``max_messages_per_minute`` (``pacing``), counted in
this process or, with a shared ``rate_limit_storage``, across every worker.

Every send ends with a ``DeliveryAccount`` and one summary log line: delivered now, delivered by an earlier try,
refused, left over. When something is left over the last transient error is raised, so the task is retried.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from airflow_provider_m365mail.core.delivery.account import DeliveryAccount
from airflow_provider_m365mail.core.delivery.batches import split_per_recipient, split_recipients
from airflow_provider_m365mail.core.delivery.ledger import DeliveryLedger, with_generation
from airflow_provider_m365mail.core.delivery.pacing import SendingRate, sending_rate
from airflow_provider_m365mail.core.delivery.work import Batch, Progress, Tries, Work
from airflow_provider_m365mail.core.errors import (
    M365MailError,
    ServerUnreachableError,
    ThrottledError,
    TransientSendError,
)
from airflow_provider_m365mail.core.identity import SenderIdentity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.settings.hve import refuse_external_recipients
from airflow_provider_m365mail.core.transports import make_transport
from airflow_provider_m365mail.core.transports.base import CheckResult, SendResult, SentItemsLookup, Transport
from airflow_provider_m365mail.core.transports.failover import DEFAULT_COOL_DOWN_S

log = logging.getLogger(__name__)

_SLOW_DOWN_S = 1.0  # pause after a 421 that names no wait
_BACKOFF_FIRST_S = 0.5
_BACKOFF_MAX_S = 30.0
_JITTER_S = 0.5

RateFor = Callable[[str, str, int, float, "str | None"], SendingRate]


class Mailer:
    """Send ``OutgoingMessage`` objects through the transport the settings choose (or the one given).

    One ``Mailer`` serves one task at a time: ``send`` and ``send_many`` share the transport's connection, plus up
    to ``max_connections - 1`` more for bulk sends (a ``transport`` given here is the only one).
    ``check_sent_items`` makes even the first attempt look for an earlier try's copy (a retried Airflow task);
    ``ledger`` remembers across tries what was delivered, and ``resend`` starts a new send generation when the
    ledger says an earlier try delivered everything. ``rate_window_s`` is the span ``max_messages_per_minute``
    counts over (shorter only in tests); ``clock``, ``sleep`` and ``rates`` let tests run without waiting.
    """

    def __init__(
        self,
        settings: MailSettings,
        *,
        transport: Transport | None = None,
        check_sent_items: bool = False,
        failover_cool_down_s: float = DEFAULT_COOL_DOWN_S,
        rate_window_s: float = 60.0,
        ledger: DeliveryLedger | None = None,
        resend: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rates: RateFor = sending_rate,
    ) -> None:
        self._settings = settings

        def new_transport() -> Transport:
            return make_transport(settings, failover_cool_down_s=failover_cool_down_s, clock=clock)

        self._transport = transport or new_transport()
        # Further connections for bulk sends: a transport given by the caller is the only one.
        self._new_transport = new_transport if transport is None else None
        self._check_sent_items = check_sent_items
        self._rate_window_s = rate_window_s
        self._ledger = ledger
        self._resend = resend
        self._clock = clock
        self._sleep = sleep
        self._rates = rates

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
        """Send several messages, over several connections if allowed; return the results in input order."""
        return (await self.deliver(items, separately=separately)).results

    async def deliver(
        self, items: Sequence[tuple[OutgoingMessage, SenderIdentity]], *, separately: bool = False
    ) -> DeliveryAccount:
        """Send what is left of several messages and account for every one of them.

        Raise the last transient error when a message is left over after its retry budget (the ledger keeps what
        went out), or a permanent error at once.
        """
        for message, _identity in items:  # High Volume Email: nothing goes out if one recipient is external
            refuse_external_recipients(self._settings, (a.email for a in message.recipients()))
        limit = self._settings.max_recipients_per_message
        batches = [
            (batch, identity)
            for message, identity in items
            for batch in (
                split_per_recipient(message, identity) if separately else split_recipients(message, identity, limit)
            )
        ]
        account = DeliveryAccount()
        if self._ledger is not None:
            batches = await self._resume(batches, account)
        done: dict[int, SendResult] = {}
        pending = []
        for index, (batch, _identity) in enumerate(batches):
            if self._ledger is not None and self._ledger.delivered(_message_id(batch)):
                done[index] = _delivered_earlier(batch, self._transport.name)
            else:
                pending.append(index)
        if done:
            account.skipped.append(
                f"{len(done)} message(s) not sent again: an earlier try delivered them"
                + (" (resend=True sends everything again)" if len(done) == len(batches) else "")
            )
        last_error: TransientSendError | None = None
        try:
            async with self._transport:
                last_error = await self._send_pending(batches, pending, done, account)
        finally:
            if self._ledger is not None:
                await self._ledger.flush()
        account.results = [done[index] for index in sorted(done)]
        if self._ledger is not None:
            account.refused = dict(self._ledger.refused)
            if not account.left_over:
                await self._ledger.finish()
        else:
            account.refused = {a: reply for result in account.results for a, reply in result.refused.items()}
        log.info("%s", account.summary())
        if last_error is not None:
            last_error.delivery_summary = account.summary()
            raise last_error
        return account

    async def check(self) -> CheckResult:
        """Check the connection (connect, authenticate) without sending anything."""
        return await self._transport.check()

    async def _resume(self, batches: list[Batch], account: DeliveryAccount) -> list[Batch]:
        """Read the ledger; start a new send generation when asked to send a finished send again."""
        assert self._ledger is not None
        await self._ledger.load()
        if self._ledger.finished and self._resend:
            await self._ledger.new_generation()
            account.skipped.append(f"sending everything again as asked (resend): generation {self._ledger.generation}")
        generation = account.generation = self._ledger.generation
        return [
            (replace(batch, message_id=with_generation(_message_id(batch), generation, i.from_address.domain)), i)
            for batch, i in batches
        ]

    async def _send_pending(
        self, batches: list[Batch], pending: list[int], done: dict[int, SendResult], account: DeliveryAccount
    ) -> TransientSendError | None:
        """Send each pending message over up to ``max_connections`` connections, each reused for many messages.

        Each connection takes the next message when it is free; a failed message waits for its retry while the
        others go on, and a connection that drops is opened again by the worker that used it, alone. A permanent
        error stops every worker from starting another message; what is in flight finishes and is recorded.
        """
        work = Work(batches, done, account, deque(pending), Progress(len(pending), self._clock))
        work.tries.update({index: Tries() for index in pending})
        transports = [self._transport]
        if self._new_transport is not None:
            extra = min(self._settings.max_connections, len(pending)) - 1
            transports += [self._new_transport() for _ in range(extra)]
        outcomes = await asyncio.gather(
            *(self._work_through(transport, work) for transport in transports),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return work.last_error

    async def _work_through(self, transport: Transport, work: Work) -> None:
        """Send messages from ``work`` over one connection until none is left to start."""
        try:
            async with transport:
                while (index := await self._next(work)) is not None:
                    await self._send_one(transport, index, work)
        except BaseException:
            work.stopped = True
            raise

    async def _next(self, work: Work) -> int | None:
        """Return the next message to send: a retry that is due, else a fresh one, else wait for a retry."""
        if work.stopped:
            return None
        if work.waiting and (not work.fresh or work.waiting[0][0] <= self._clock()):
            ready_at, index = heapq.heappop(work.waiting)
            if ready_at > self._clock():
                await self._before_wait()
                await self._sleep(ready_at - self._clock())
            return index
        return work.fresh.popleft() if work.fresh else None

    async def _send_one(self, transport: Transport, index: int, work: Work) -> None:
        batch, identity = work.batches[index]
        mailbox = identity.auth_account or identity.envelope_from
        rate = self._rates(
            self._settings.host or self._settings.graph_endpoint,
            mailbox,
            self._settings.max_messages_per_minute,
            self._rate_window_s,
            self._settings.rate_limit_storage.reveal() if self._settings.rate_limit_storage else None,
        )
        try:
            result = await self._attempt(transport, batch, identity, rate, work.tries[index])
        except TransientSendError as exc:
            retry_at = self._schedule_retry(batch, exc, work.tries[index], work.account)
            if retry_at is None:
                work.last_error = exc
            else:
                heapq.heappush(work.waiting, (retry_at, index))
            return
        if index in work.earlier_rounds:
            result = work.earlier_rounds.pop(index).followed_by(result)
        if result.deferred:
            # The server deferred some recipients (a 4xx at RCPT TO, e.g. 452 4.5.3): they get the same message,
            # headers and Message-ID unchanged, in a further round. The transport raises when it defers them all,
            # so each round delivers to someone.
            work.earlier_rounds[index] = result
            rest = tuple(a for a in batch.recipients() if a.email in result.deferred)
            work.batches[index] = (replace(batch, envelope=rest), identity)
            work.fresh.appendleft(index)
            return
        work.done[index] = result
        if self._ledger is not None:  # found in Sent Items counts too: the next try need not look again
            await self._ledger.record(result.message_id, result.refused)
        if result.refused:
            _log_refused(result)
        work.progress.advance()

    def _schedule_retry(
        self, message: OutgoingMessage, error: TransientSendError, tries: Tries, account: DeliveryAccount
    ) -> float | None:
        """Return when to retry a message that failed, or None when that would pass its retry budget."""
        now = self._clock()
        tries.failures += 1
        if tries.first_failure_at is None:
            tries.first_failure_at = now
        # A server that refused with throttling, or could not be reached, took nothing.
        tries.maybe_sent = not isinstance(error, (ThrottledError, ServerUnreachableError))
        wait = _backoff(error, tries.failures)
        deadline = tries.first_failure_at + self._settings.retry_budget_s
        message_id = _message_id(message)
        if now + wait > deadline:
            account.left_over[message_id] = f"{type(error).__name__}: {error}"
            log.warning(
                "attempt %d to send %s failed (%s code=%s status=%s: %s); a retry in %.1f s would pass the "
                "connection's retry budget of %.0f s: left over for the task's next try",
                tries.failures, message_id, type(error).__name__, error.code, error.enhanced_status, error, wait,
                self._settings.retry_budget_s,
            )
            return None
        log.warning(
            "attempt %d to send %s failed (%s code=%s status=%s: %s); retrying in %.1f s",
            tries.failures, message_id, type(error).__name__, error.code, error.enhanced_status, error, wait,
        )
        return now + wait

    async def _attempt(
        self, transport: Transport, message: OutgoingMessage, identity: SenderIdentity, rate: SendingRate,
        tries: Tries,
    ) -> SendResult:
        if tries.maybe_sent or (self._check_sent_items and tries.failures == 0):
            earlier = await self._find_sent(transport, message, identity)
            if earlier is not None:
                return earlier
        started = tries.first_failure_at if tries.first_failure_at is not None else self._clock()
        async with (
            rate.recipients(len(message.recipients()), identity.auth_account or identity.envelope_from,
                            self._settings.max_recipients_per_day),
            rate.slot(give_up_at=started + self._settings.retry_budget_s, before_wait=self._before_wait),
        ):
            try:
                return await transport.send(message, identity)
            except TransientSendError as exc:
                if _holds_mailbox(exc):
                    # The whole wait the server asked for: a sender whose budget ends sooner is not made to wait.
                    wait = exc.retry_after if exc.retry_after is not None else _SLOW_DOWN_S
                    rate.slow_down(wait, " ".join(part for part in (exc.code, exc.enhanced_status) if part))
                raise

    async def _before_wait(self) -> None:
        """Write the ledger down before waiting, so a task killed while it waits loses no record."""
        if self._ledger is not None:
            await self._ledger.flush()

    async def _find_sent(
        self, transport: Transport, message: OutgoingMessage, identity: SenderIdentity
    ) -> SendResult | None:
        """Return a result for a message an earlier try already sent, if the transport can tell."""
        if not isinstance(transport, SentItemsLookup) or message.message_id is None:
            return None
        if not await transport.find_sent(message.message_id, identity):
            return None
        log.warning("%s is already in Sent Items from an earlier try; not sending it again", message.message_id)
        return replace(_delivered_earlier(message, transport.name), reply="found in Sent Items; not sent again")


def _message_id(message: OutgoingMessage) -> str:
    assert message.message_id is not None, "split_recipients and split_per_recipient give every batch one"
    return message.message_id


def _delivered_earlier(message: OutgoingMessage, transport: str) -> SendResult:
    return SendResult(
        message_id=_message_id(message),
        accepted=tuple(a.email for a in message.recipients()),
        refused={},
        reply="recorded as delivered by an earlier try; not sent again",
        transport=transport,
        already_sent=True,
    )


def _holds_mailbox(error: M365MailError) -> bool:
    """Tell whether a reply is about the whole mailbox, so every send waits (421, Graph 429, 5.2.2 quota).

    The 4.3.2 concurrency limit and 4.7.5xx IP throttling are answered by retrying that message later; the
    others go on meanwhile.
    """
    if error.code == "421":
        return True
    status = error.enhanced_status or ""
    return isinstance(error, ThrottledError) and not status.startswith(("4.3.2", "4.7."))


def _backoff(error: TransientSendError, failures: int) -> float:
    """Return the wait before the next attempt: the server's, else exponential backoff with jitter."""
    if error.retry_after is not None:
        return max(0.0, error.retry_after)
    return float(min(_BACKOFF_MAX_S, _BACKOFF_FIRST_S * 2 ** (failures - 1))) + random.uniform(0, _JITTER_S)


def _log_refused(result: SendResult) -> None:
    listing = "; ".join(f"{address}: {code} {reply}" for address, (code, reply) in result.refused.items())
    log.warning(
        "%s reached %d recipient(s) but the server refused %d: %s",
        result.message_id,
        len(result.accepted),
        len(result.refused),
        listing,
    )
