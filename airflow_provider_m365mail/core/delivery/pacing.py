"""Keep a process under Exchange Online's per-mailbox sending limits instead of discovering them by refusal.

Exchange counts at most 30 messages in any 60 seconds per mailbox (a sliding window) and 10,000 recipients in a
rolling day. ``SendingRate`` enforces the first in-process: a send waits for a slot until fewer than the limit were
submitted in the last window, counting each submission from the moment it *finished*, so the server (which counts
when it accepted) never sees more than the limit, whatever the network latency. A leaky bucket such as
``aiolimiter`` would not do: it lets a full burst through, then keeps dripping, so any 60 s span can hold nearly
twice the limit. When the server pushes back anyway (4.3.2, 421, 429) ``slow_down`` holds every sender of that
mailbox in the process for the wait the server asked for, never longer than the caller's bound, and says so in the
log (what it waits for, until when). A sender whose own deadline comes before the hold ends is not made to wait: it
gets a ``ThrottledError`` at once (a notifier must not hang for an hour behind a 429 with ``Retry-After: 3600``).

One ``SendingRate`` exists per (server, mailbox) in a process (``sending_rate``), shared by every task and event
loop there: its state is guarded by a thread lock and waiting is a plain ``asyncio.sleep``, bound to no loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from airflow_provider_m365mail.core.errors import ThrottledError

log = logging.getLogger(__name__)

DAILY_RECIPIENT_LIMIT = 10_000
DAILY_WARNING_SHARE = 0.8  # warn once the process has used this share of a mailbox's daily recipients
_DAY_S = 86_400.0
_POLL_S = 0.01  # how often a sender waiting on in-flight sends looks again


class SendingRate:
    """Allow at most ``limit`` submissions in any ``window_s`` seconds, and count recipients per rolling day."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.limit = limit
        self.window_s = window_s
        self._finished: deque[float] = deque()
        self._in_flight = 0
        self._paused_until = 0.0
        self._pause_reason = ""
        self._day: deque[tuple[float, int]] = deque()
        self._day_total = 0  # the sum of the counts in _day, kept as they come and go
        self._warned = False

    def configure(self, limit: int, window_s: float) -> None:
        """Apply the connection's current limit (the latest settings win)."""
        with self._lock:
            self.limit, self.window_s = limit, window_s

    @asynccontextmanager
    async def slot(
        self,
        *,
        give_up_at: float | None = None,
        before_wait: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncIterator[None]:
        """Wait until one more submission fits the limit, hold the slot while it runs, then count it.

        ``give_up_at`` (on this rate's clock) bounds a server's hold: a hold lasting beyond it raises
        ``ThrottledError`` instead of waiting. ``before_wait`` runs once before the first wait of any kind.
        """
        waited = False
        while (wait := self._try_claim(give_up_at)) > 0:
            if not waited and before_wait is not None:
                await before_wait()
            waited = True
            await self._sleep(wait)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._finished.append(self._clock())

    def slow_down(self, seconds: float, reason: str) -> None:
        """Hold every new submission for ``seconds`` (the server said it is overloaded or throttling us).

        Callers bound ``seconds`` by their retry budget; ``reason`` (the server's reply) goes into the log line.
        """
        with self._lock:
            until = self._clock() + seconds
            if until <= self._paused_until:
                return
            self._paused_until, self._pause_reason = until, reason
        log.warning(
            "holding every send from this mailbox for %.1f s, until %s, as the server asked (%s)",
            seconds,
            (datetime.now() + timedelta(seconds=seconds)).strftime("%H:%M:%S"),
            reason,
        )

    def count_recipients(self, count: int, mailbox: str) -> None:
        """Count recipients toward the rolling day; warn when the mailbox nears or passes Exchange's 10,000."""
        now = self._clock()
        with self._lock:
            while self._day and self._day[0][0] <= now - _DAY_S:
                self._day_total -= self._day.popleft()[1]
            self._day.append((now, count))
            self._day_total += count
            used = self._day_total
            crossed = used >= DAILY_RECIPIENT_LIMIT * DAILY_WARNING_SHARE and not self._warned
            self._warned = self._warned or crossed
        if crossed or used > DAILY_RECIPIENT_LIMIT:
            log.warning(
                "%s has sent to %d recipients in the last 24 hours from this process; Exchange Online refuses "
                "more than %d a day (550 5.1.90)",
                mailbox,
                used,
                DAILY_RECIPIENT_LIMIT,
            )

    def _try_claim(self, give_up_at: float | None) -> float:
        """Claim a slot and return 0, or return how long to wait before trying again."""
        with self._lock:
            now = self._clock()
            if now < self._paused_until:
                if give_up_at is not None and self._paused_until > give_up_at:
                    raise ThrottledError(
                        f"the server asked this mailbox to wait {self._paused_until - now:.1f} s more, beyond this "
                        f"send's retry budget ({self._pause_reason})",
                        retry_after=self._paused_until - now,
                    )
                return self._paused_until - now
            while self._finished and self._finished[0] <= now - self.window_s:
                self._finished.popleft()
            if len(self._finished) + self._in_flight < self.limit:
                self._in_flight += 1
                return 0.0
            if len(self._finished) + self._in_flight > self.limit or not self._finished:
                return _POLL_S  # in-flight sends hold the remaining slots
            return max(self._finished[0] + self.window_s - now, _POLL_S)


_rates: dict[tuple[str, str], SendingRate] = {}
_rates_lock = threading.Lock()


def sending_rate(server: str, mailbox: str, limit: int, window_s: float = 60.0) -> SendingRate:
    """Return the process's ``SendingRate`` for one server and mailbox, set to ``limit`` per ``window_s``."""
    key = (server.casefold(), mailbox.casefold())
    with _rates_lock:
        rate = _rates.get(key)
        if rate is None:
            rate = _rates[key] = SendingRate(limit, window_s)
    rate.configure(limit, window_s)
    return rate


def forget_sending_rates() -> None:
    """Forget every mailbox's counts (tests that start from a fresh sandbox)."""
    with _rates_lock:
        _rates.clear()
