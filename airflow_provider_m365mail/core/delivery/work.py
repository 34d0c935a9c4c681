"""Keep the state of one send in progress: what is left, what waits for a retry, and how far it has got.

The ``Mailer`` makes one ``Work`` per send; every connection of the send takes its next message from it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_m365mail.core.delivery.account import DeliveryAccount
from airflow_provider_m365mail.core.errors import TransientSendError
from airflow_provider_m365mail.core.identity import SenderIdentity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.transports.base import SendResult

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 10.0
PROGRESS_EVERY_MESSAGES = 500

Batch = tuple[OutgoingMessage, SenderIdentity]


@dataclass
class Tries:
    """How one message has fared so far in this try of the send."""

    failures: int = 0
    first_failure_at: float | None = None
    maybe_sent: bool = False  # an earlier attempt may have gone through although it failed


@dataclass
class Work:
    """What is left of one send, shared by the connections that work through it."""

    batches: list[Batch]  # every message of the send; the Work's other fields hold indexes into it
    done: dict[int, SendResult]  # index -> result, delivered now or by an earlier try
    account: DeliveryAccount
    fresh: deque[int]  # not tried yet, or with recipients deferred to a further round
    progress: Progress
    waiting: list[tuple[float, int]] = field(default_factory=list)  # heap of (ready at, index) awaiting a retry
    tries: dict[int, Tries] = field(default_factory=dict)
    earlier_rounds: dict[int, SendResult] = field(default_factory=dict)  # delivered so far, while some are deferred
    last_error: TransientSendError | None = None
    stopped: bool = False  # a worker failed for good: the others start nothing new


class Progress:
    """Log how a long run is going (sent N of M, rate, time left) every few seconds or messages."""

    def __init__(self, total: int, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._total = total
        self._done = 0
        self._started = self._logged_at = clock()
        self._logged_count = 0

    def advance(self) -> None:
        self._done += 1
        now = self._clock()
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
