"""Send through the connection's alternate server while the primary cannot be reached, then go back to it.

A connection with ``alternate_host`` (and optionally ``alternate_port``) gets a ``FailoverTransport``: it sends
through the primary server; when the primary cannot be reached at all (``ServerUnreachableError``: refused,
timed out, name not resolved, so nothing was sent) it switches to the alternate and sends the same message there.
After ``cool_down_s`` it tries the primary again rather than sticking to the alternate for good. Each switch is
logged. Any other failure is the primary's answer and is passed on as it is.

The process remembers when a primary failed, so the next task's send goes straight to the alternate during the
cool-down instead of waiting for the primary's connection timeout again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from airflow_provider_m365mail.core.errors import ServerUnreachableError
from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.transports.base import CheckResult, EnvelopeCheck, SendResult, Session, Transport

if TYPE_CHECKING:
    from airflow_provider_m365mail.core.identity import SenderIdentity
    from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_COOL_DOWN_S = 300.0

_unreachable_since: dict[str, float] = {}  # primary "host:port" -> when it last could not be reached


def alternate_settings(settings: MailSettings) -> MailSettings | None:
    """Return the settings of the connection's alternate server, or None when it names none."""
    if not settings.alternate_host:
        return None
    return replace(settings, host=settings.alternate_host, port=settings.alternate_port or settings.port)


class FailoverTransport(Session):
    """A transport that sends through the primary server, or the alternate while the primary is out of reach."""

    def __init__(
        self,
        settings: MailSettings,
        make: Callable[[MailSettings], Transport],
        *,
        cool_down_s: float = DEFAULT_COOL_DOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        alternate = alternate_settings(settings)
        if alternate is None:
            raise ValueError("FailoverTransport needs settings with alternate_host")
        self._primary = make(settings)
        self._alternate = make(alternate)
        self._names = {id(self._primary): _where(settings), id(self._alternate): _where(alternate)}
        self.name = self._primary.name
        self._cool_down_s = cool_down_s
        self._clock = clock
        self._primary_key = _where(settings)
        self._entered: list[Transport] = []

    async def close(self) -> None:
        """Close the sessions opened on the primary and the alternate server."""
        while self._entered:
            await self._entered.pop().__aexit__(None, None, None)

    async def send(self, message: OutgoingMessage, identity: SenderIdentity) -> SendResult:
        """Send through the current server; fail over to the alternate if the primary cannot be reached."""
        return await self._with_failover(lambda transport: transport.send(message, identity))

    async def check_envelope(self, identity: SenderIdentity, recipient: str) -> str:
        """Ask the current server whether it takes this sender and recipient, failing over like ``send``."""

        async def check(transport: Transport) -> str:
            if not isinstance(transport, EnvelopeCheck):
                raise TypeError(f"the {transport.name} transport has no SMTP envelope to check")
            return await transport.check_envelope(identity, recipient)

        return await self._with_failover(check)

    async def _with_failover(self, operation: Callable[[Transport], Awaitable[T]]) -> T:
        transport = self._choose()
        await self._leave_unless(transport)
        try:
            return await operation(await self._enter(transport))
        except ServerUnreachableError as exc:
            if transport is not self._primary:
                raise
            _unreachable_since[self._primary_key] = self._clock()
            log.warning(
                "primary server %s cannot be reached (%s); sending through the alternate %s for the next %.0f s",
                self._names[id(self._primary)],
                exc,
                self._names[id(self._alternate)],
                self._cool_down_s,
            )
        await self._leave_unless(self._alternate)
        return await operation(await self._enter(self._alternate))

    async def check(self) -> CheckResult:
        """Check the server the next message would go to."""
        return await self._choose().check()

    def _choose(self) -> Transport:
        failed_at = _unreachable_since.get(self._primary_key)
        if failed_at is None:
            return self._primary
        if self._clock() - failed_at < self._cool_down_s:
            return self._alternate
        _unreachable_since.pop(self._primary_key, None)
        log.info(
            "%.0f s since the primary server failed; trying the primary %s again",
            self._cool_down_s,
            self._names[id(self._primary)],
        )
        return self._primary

    async def _enter(self, transport: Transport) -> Transport:
        """Open a session on ``transport`` when this one is in a session, so it keeps its connection."""
        if self.in_session and transport not in self._entered:
            await transport.__aenter__()
            self._entered.append(transport)
        return transport

    async def _leave_unless(self, keep: Transport) -> None:
        """Close the sessions of the server not in use, so its connection does not linger idle."""
        for transport in [t for t in self._entered if t is not keep]:
            self._entered.remove(transport)
            await transport.__aexit__(None, None, None)


def forget_unreachable_servers() -> None:
    """Forget which primary servers failed (tests that start servers afresh)."""
    _unreachable_since.clear()


def _where(settings: MailSettings) -> str:
    return f"{settings.host}:{settings.port}"
