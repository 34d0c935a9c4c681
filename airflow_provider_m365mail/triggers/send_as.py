"""Wait in the triggerer until an account may send as (or on behalf of) a mailbox, holding no worker slot.

``SendAsPermissionSensor`` probes once on its worker, then defers to ``SendAsPermissionTrigger``, which keeps probing
on the triggerer's event loop. Nothing it does there blocks the loop: the connection is read with
``aget_settings``, tokens are fetched in a worker thread, the client libraries are imported in a worker thread
before the first probe (the core's probe module comes with this module), and each probe opens and closes its own
SMTP or Graph connection, on cancellation too. It yields one event: ``live`` (with the sensor's return value),
``failed`` (waiting cannot help) or ``timeout``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any, Protocol

from airflow.triggers.base import BaseTrigger, TriggerEvent

# Light modules (no MSAL, Graph SDK or SMTP client): importing them here keeps that work off the triggerer's loop.
from airflow_provider_m365mail.core.errors import M365MailError
from airflow_provider_m365mail.core.probe import (
    PROPAGATION_S,
    ProbeMode,
    ProbeOutcome,
    ProbeVerdict,
    not_live_message,
    preload_transport,
    probe_identity,
    probe_send_as,
)
from airflow_provider_m365mail.hooks.m365mail import M365MailHook


class TriggerClock(Protocol):
    """Where the trigger reads the time (epoch seconds) and waits between probes; tests inject their own."""

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The wall clock and the event loop's sleep."""

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def utc_iso(moment: datetime | str) -> str:
    """Return ``moment`` as ISO 8601 in UTC, to the millisecond (what the sensor reports).

    A string is parsed first: Airflow 3.0 hands ``get_first_reschedule_date`` back as the API's raw ISO text.
    """
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))  # Python 3.10 does not read "Z"
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def utc_now_iso() -> str:
    """Return the current time as ISO 8601 in UTC."""
    return utc_iso(datetime.now(timezone.utc))


def waiting_report(outcome: ProbeOutcome, *, probes: int, first_probe_at: str) -> tuple[bool, str]:
    """Return whether to warn, and the line saying why the probe found no live grant (and its likely cause).

    A transient error and the first refusal warn; later refusals are expected while a grant propagates.
    """
    waited = (datetime.now(timezone.utc) - datetime.fromisoformat(first_probe_at)).total_seconds()
    outlasted = outcome.cause is not None and waited >= PROPAGATION_S
    warn = outcome.verdict is ProbeVerdict.TRANSIENT or probes == 1 or outlasted
    return warn, not_live_message(outcome, probes=probes, waited_s=waited)


def next_wait(poke_interval: float, probes: int, *, exponential_backoff: bool, max_wait: float | None) -> float:
    """Return the seconds to wait after ``probes`` probes: the interval, doubled per probe with backoff, capped."""
    wait = poke_interval * 2 ** (probes - 1) if exponential_backoff else poke_interval
    return min(wait, max_wait) if max_wait is not None else wait


def live_report(
    *, mailbox: str, permission: str, transport: str, method: str, probes: int, first_probe_at: str
) -> dict[str, Any]:
    """Return the sensor's XCom value: which grant went live, when it was first seen, after how many probes."""
    return {
        "mailbox": mailbox,
        "permission": permission,
        "transport": transport,
        "method": method,
        "probes": probes,
        "first_probe_at": first_probe_at,
        "live_at": utc_now_iso(),
    }


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


class SendAsPermissionTrigger(BaseTrigger):
    """
    Probe until the connection's account may send as (or on behalf of) ``mailbox``, the deadline passes, or
    probing fails for a reason waiting cannot fix.

    Its arguments hold the connection id, never credentials. See
    :class:`~airflow_provider_m365mail.sensors.send_as.SendAsPermissionSensor` for their meaning.

    :param timeout_at: Epoch second after which the trigger gives up with a ``timeout`` event.
    :param probes: Probes already made (by the sensor before deferring).
    :param first_probe_at: When the first probe ran (ISO 8601, UTC).
    :param clock: Where the time is read and the waits happen (tests); the wall clock by default.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        mailbox: str,
        permission: str,
        probe: str,
        probe_recipient: str | None,
        poke_interval: float,
        exponential_backoff: bool,
        max_wait: float | None,
        timeout_at: float,
        probes: int = 0,
        first_probe_at: str | None = None,
        clock: TriggerClock | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.conn_id = conn_id
        self.mailbox = mailbox
        self.permission = permission
        self.probe = probe
        self.probe_recipient = probe_recipient
        self.poke_interval = poke_interval
        self.exponential_backoff = exponential_backoff
        self.max_wait = max_wait
        self.timeout_at = timeout_at
        self.probes = probes
        self.first_probe_at = first_probe_at
        self.clock: TriggerClock = clock or SystemClock()  # not serialised: the triggerer always uses the wall clock

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the keyword arguments that rebuild this trigger in the triggerer."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "mailbox": self.mailbox,
                "permission": self.permission,
                "probe": self.probe,
                "probe_recipient": self.probe_recipient,
                "poke_interval": self.poke_interval,
                "exponential_backoff": self.exponential_backoff,
                "max_wait": self.max_wait,
                "timeout_at": self.timeout_at,
                "probes": self.probes,
                "first_probe_at": self.first_probe_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Probe every ``poke_interval`` (doubling with backoff) until there is an outcome; yield it as one event."""
        try:
            settings = await M365MailHook(self.conn_id).aget_settings()
            identity = probe_identity(settings, self.mailbox, self.permission)
            await preload_transport(settings)
        except M365MailError as exc:
            yield _event({"status": "failed", "message": str(exc)})
            return
        probes = self.probes
        first_probe_at = self.first_probe_at
        last_answer = "not live at the last probe"
        while True:
            if probes:  # the sensor (or this loop) has just probed: wait first
                remaining = self.timeout_at - self.clock.time()
                if remaining <= 0:
                    yield _event({"status": "timeout", "probes": probes, "message": last_answer})
                    return
                wait = next_wait(self.poke_interval, probes, exponential_backoff=self.exponential_backoff,
                                 max_wait=self.max_wait)
                await self.clock.sleep(min(wait, remaining))
            probes += 1
            first_probe_at = first_probe_at or utc_now_iso()
            outcome = await probe_send_as(
                settings,
                identity,
                mode=ProbeMode(self.probe),
                recipient=self.probe_recipient,
                probe_id=f"{self.conn_id}:{self.mailbox}:{first_probe_at}:{probes}",
            )
            if outcome.verdict is ProbeVerdict.LIVE:
                report = live_report(
                    mailbox=self.mailbox, permission=self.permission, transport=settings.transport.value,
                    method=outcome.method, probes=probes, first_probe_at=first_probe_at,
                )
                self.log.info("%s for %s is live after %d probe(s): %s", self.permission, self.mailbox, probes,
                              outcome.detail)
                yield _event({"status": "live", "report": report})
                return
            if outcome.verdict is ProbeVerdict.FAILED:
                yield _event({"status": "failed", "message": outcome.detail, "probes": probes})
                return
            warn, last_answer = waiting_report(outcome, probes=probes, first_probe_at=first_probe_at)
            (self.log.warning if warn else self.log.info)("%s", last_answer)
