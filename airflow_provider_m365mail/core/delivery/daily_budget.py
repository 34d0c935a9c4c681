"""Keep a mailbox under its recipients a rolling day (``max_recipients_per_day``): refuse before sending, not after.

Exchange Online allows 10,000; past that it refuses with ``550 5.1.90`` and can block the mailbox for up to a day,
for every sender of it. So a send reserves its recipients before it starts and gives them back if it fails; a send
whose recipients would pass the limit is refused with ``DailyRecipientLimitError`` (the mailbox, the count, when
enough frees up) and nothing is sent. With a shared ``rate_limit_storage`` the count is the mailbox's across every
worker; without one, or while the store cannot be reached, it is this process's own count, kept all along. One
warning per process says when the mailbox passes 80 % of the day.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

from airflow_provider_m365mail.core.delivery.shared_pacing import SharedStore
from airflow_provider_m365mail.core.errors import DailyRecipientLimitError

log = logging.getLogger(__name__)

DAILY_WARNING_SHARE = 0.8  # warn once the mailbox has used this share of its daily recipients
DAY_S = 86_400.0

Verdict = tuple[bool, int, float | None]  # reserved, recipients used (with these when reserved), seconds until they fit


class DailyRecipients:
    """One mailbox's recipients of the rolling day in this process, on ``clock`` (seconds)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._entries: dict[str, tuple[float, int]] = {}  # in the order reserved, so the oldest first
        self._total = 0
        self._warned = False

    @asynccontextmanager
    async def reserve(self, count: int, mailbox: str, limit: int, store: SharedStore | None) -> AsyncIterator[None]:
        """Reserve ``count`` of ``limit`` recipients for one send, or raise ``DailyRecipientLimitError``; give them
        back if it fails.

        ``store`` counts them across every worker when it answers; the process counts them either way.
        """
        member = f"{uuid.uuid4().hex}:{count}"
        shared = None
        if store is not None:
            shared = await asyncio.to_thread(
                store.reserve_recipients, mailbox, count, limit, DAY_S, member
            )
        reserved, used, frees_in = shared or self._reserve_here(member, count, limit, record_anyway=False)
        if shared is not None and reserved:
            self._reserve_here(member, count, limit, record_anyway=True)
        if not reserved:
            raise _refusal(mailbox, count, used, limit, frees_in, across_workers=shared is not None)
        self._warn_near(used, mailbox, limit, across_workers=shared is not None)
        try:
            yield
        except BaseException:
            with self._lock:
                self._total -= self._entries.pop(member, (0.0, 0))[1]
            if shared is not None and store is not None:
                await asyncio.to_thread(store.release_recipients, mailbox, member)
            raise

    def _reserve_here(self, member: str, count: int, limit: int, *, record_anyway: bool) -> Verdict:
        """Reserve in this process's count; ``record_anyway`` records it past the limit (the store has the say)."""
        with self._lock:
            now = self._clock()
            while self._entries:
                oldest = next(iter(self._entries))
                if self._entries[oldest][0] > now - DAY_S:
                    break
                self._total -= self._entries.pop(oldest)[1]
            if self._total + count <= limit or record_anyway:
                self._entries[member] = (now, count)
                self._total += count
                return True, self._total, None
            left = self._total
            for reserved_at, reserved in self._entries.values():
                left -= reserved
                if left + count <= limit:
                    return False, self._total, reserved_at + DAY_S - now
            return False, self._total, None

    def _warn_near(self, used: int, mailbox: str, limit: int, *, across_workers: bool) -> None:
        with self._lock:
            crossed = used >= limit * DAILY_WARNING_SHARE and not self._warned
            self._warned = self._warned or crossed
        if crossed:
            log.warning(
                "%s has sent to %d recipients in the last 24 hours %s; sends past %d a day (max_recipients_per_day) "
                "are refused before they start",
                mailbox,
                used,
                _where(across_workers),
                limit,
            )


def _refusal(
    mailbox: str, count: int, used: int, limit: int, frees_in: float | None, *, across_workers: bool
) -> DailyRecipientLimitError:
    if frees_in is None:
        hint = f"a message to more than {limit} recipients never fits: lower max_recipients_per_message"
    else:
        at = (datetime.now(timezone.utc) + timedelta(seconds=frees_in)).strftime("%Y-%m-%d %H:%M UTC")
        hint = f"enough of the day's budget frees up in {_duration(frees_in)} (at {at}): run the send again then"
    return DailyRecipientLimitError(
        f"{mailbox} has sent to {used} recipients in the last 24 hours {_where(across_workers)}; {count} more would "
        f"pass the mailbox's {limit} a day (max_recipients_per_day; Exchange Online refuses with 550 5.1.90): "
        "not sent",
        mailbox=mailbox,
        used=used,
        frees_in=frees_in,
        hint=hint,
    )


def _where(across_workers: bool) -> str:
    return "across every worker" if across_workers else "from this process"


def _duration(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
