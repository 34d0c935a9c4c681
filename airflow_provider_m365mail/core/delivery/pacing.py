"""Keep a process under Exchange Online's per-mailbox sending limits instead of discovering them by refusal.

Exchange counts at most 30 messages in any 60 seconds per mailbox (a sliding window) and 10,000 recipients in a
rolling day (``daily_budget`` keeps the second). ``SendingRate`` enforces the first in-process: a send waits for a
slot until fewer than the limit were submitted in the last window, counting each submission from the moment it
*finished*, so the server (which counts when it accepted) never sees more than the limit, whatever the network
latency. A leaky bucket such as ``aiolimiter`` would not do: it lets a full burst through, then keeps dripping, so
any 60 s span can hold nearly twice the limit. When the server pushes back anyway (4.3.2, 421, 429) ``slow_down``
holds every sender of that mailbox in the process for the wait the server asked for, never longer than the caller's
bound, and says so in the log (what it waits for, until when). A sender whose own deadline comes before the hold
ends is not made to wait: it gets a ``ThrottledError`` at once (a notifier must not hang for an hour behind a 429
with ``Retry-After: 3600``).

One ``SendingRate`` exists per (server, mailbox) in a process (``sending_rate``), shared by every task and event
loop there: its state is guarded by a thread lock and waiting is a plain ``asyncio.sleep``, bound to no loop. With
a shared ``rate_limit_storage`` a send also claims its slot in that store (``shared_pacing``), so every worker
sending as the mailbox keeps to one limit; the process's own count goes on meanwhile, and governs alone while the
store cannot be reached.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import datetime, timedelta

from airflow_provider_m365mail.core.delivery.daily_budget import DailyRecipients
from airflow_provider_m365mail.core.delivery.shared_pacing import SharedStore, shared_store
from airflow_provider_m365mail.core.errors import ThrottledError

log = logging.getLogger(__name__)

_POLL_S = 0.01  # how often a sender waiting on in-flight sends looks again


class SendingRate:
    """Allow at most ``limit`` submissions in any ``window_s`` seconds, and keep the rolling day's recipients."""

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
        self._day = DailyRecipients(clock)
        self._shared: tuple[SharedStore, str] | None = None

    def configure(self, limit: int, window_s: float, shared: tuple[SharedStore, str] | None = None) -> None:
        """Apply the connection's current limit and store (the latest settings win).

        ``shared`` is the store every worker counts this mailbox's sends in, and the mailbox's key there.
        """
        with self._lock:
            self.limit, self.window_s, self._shared = limit, window_s, shared

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
        waits = _Waits(self._sleep, before_wait)
        while (wait := self._try_claim(give_up_at)) > 0:
            await waits.wait(wait)
        shared, member = self._shared, uuid.uuid4().hex
        claimed: bool | None = False  # None: the store could not be reached, the process counts alone
        try:
            claimed = shared is None or await self._claim_shared(shared, member, give_up_at, waits)
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                if claimed is not False:
                    self._finished.append(self._clock())
            if shared is not None and claimed is True:
                store, key = shared
                await asyncio.to_thread(store.finish, key, self.window_s, member)

    async def _claim_shared(
        self, shared: tuple[SharedStore, str], member: str, give_up_at: float | None, waits: _Waits
    ) -> bool | None:
        """Wait until the shared store grants a slot: True, or None when it cannot be reached (not claimed there)."""
        store, key = shared
        while (answer := await asyncio.to_thread(store.claim, key, self.limit, self.window_s, member)) is not None:
            wait, held = answer
            if wait <= 0:
                return True
            if held and give_up_at is not None and self._clock() + wait > give_up_at:
                raise ThrottledError(
                    f"the server asked this mailbox to wait {wait:.1f} s more (held for every worker), beyond this "
                    "send's retry budget",
                    retry_after=wait,
                )
            await waits.wait(wait)
        return None

    def slow_down(self, seconds: float, reason: str) -> None:
        """Hold every new submission for ``seconds`` (the server said it is overloaded or throttling us).

        Callers bound ``seconds`` by their retry budget; ``reason`` (the server's reply) goes into the log line.
        """
        with self._lock:
            until = self._clock() + seconds
            if until <= self._paused_until:
                return
            self._paused_until, self._pause_reason = until, reason
            shared = self._shared
        if shared is not None:  # every worker holds, not just this process (a blocking call: throttling is rare)
            store, key = shared
            store.hold(key, seconds)
        log.warning(
            "holding every send from this mailbox for %.1f s, until %s, as the server asked (%s)",
            seconds,
            (datetime.now() + timedelta(seconds=seconds)).strftime("%H:%M:%S"),
            reason,
        )

    def recipients(self, count: int, mailbox: str, limit: int | None) -> AbstractAsyncContextManager[None]:
        """Reserve ``count`` of the mailbox's ``limit`` recipients of the rolling day for one send (``daily_budget``).

        Raises ``DailyRecipientLimitError`` before anything is sent when they would pass it; None keeps no count.
        """
        if limit is None:
            return nullcontext()
        return self._day.reserve(count, mailbox, limit, None if self._shared is None else self._shared[0])

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


class _Waits:
    """Sleep for a slot, running ``before_wait`` once before the first wait of any kind."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]], before_wait: Callable[[], Awaitable[None]] | None):
        self._sleep = sleep
        self._before_wait = before_wait

    async def wait(self, seconds: float) -> None:
        if self._before_wait is not None:
            before, self._before_wait = self._before_wait, None
            await before()
        await self._sleep(seconds)


_rates: dict[tuple[str, str], SendingRate] = {}
_rates_lock = threading.Lock()


def sending_rate(
    server: str, mailbox: str, limit: int, window_s: float = 60.0, storage: str | None = None
) -> SendingRate:
    """Return the process's ``SendingRate`` for one server and mailbox, set to ``limit`` per ``window_s``.

    ``storage`` is a shared store's URI (``rate_limit_storage``); None counts in this process only.
    """
    key = (server.casefold(), mailbox.casefold())
    with _rates_lock:
        rate = _rates.get(key)
        if rate is None:
            rate = _rates[key] = SendingRate(limit, window_s)
    rate.configure(limit, window_s, None if storage is None else (shared_store(storage), shared_key(*key)))
    return rate


def shared_key(server: str, mailbox: str) -> str:
    """Return the key one mailbox's window has in a shared store."""
    return f"{server.casefold()}|{mailbox.casefold()}"


def forget_sending_rates() -> None:
    """Forget every mailbox's counts (tests that start from a fresh sandbox)."""
    with _rates_lock:
        _rates.clear()
