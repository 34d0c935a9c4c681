"""A clock tests move by hand: sleeping on it advances it at once, so retry and pacing waits cost no time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from airflow_provider_m365mail.core.delivery.mailer import Mailer
from airflow_provider_m365mail.core.delivery.pacing import SendingRate
from airflow_provider_m365mail.core.settings import MailSettings


class FakeClock:
    """Monotonic time that only moves when something sleeps on it (or a test calls ``advance``)."""

    def __init__(self, on_sleep: Callable[[float], None] | None = None) -> None:
        self.on_sleep = on_sleep  # called before each sleep: what the test lets happen meanwhile
        self.now = 0.0
        self.slept: list[float] = []
        self._rates: dict[tuple[str, str], SendingRate] = {}

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)

    def rates(self, server: str, mailbox: str, limit: int, window_s: float) -> SendingRate:
        """Stand in for ``sending_rate``: one ``SendingRate`` per server and mailbox, on this clock."""
        key = (server.casefold(), mailbox.casefold())
        if key not in self._rates:
            self._rates[key] = SendingRate(limit, window_s, clock=self, sleep=self.sleep)
        return self._rates[key]

    def mailer(self, settings: MailSettings, **kwargs: Any) -> Mailer:
        """Return a ``Mailer`` whose retries and pacing wait on this clock."""
        return Mailer(settings, clock=self, sleep=self.sleep, rates=self.rates, **kwargs)
