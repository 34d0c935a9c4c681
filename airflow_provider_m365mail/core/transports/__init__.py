"""Transports: each talks to one kind of server (``smtp/``, ``graph/``, ``ews/``, ``acs/``); ``make_transport`` is the
one way in.

``base`` defines the ``Transport`` protocol and its results; ``failover`` wraps a transport with an alternate
server. Every caller (the ``Mailer``, the Send As probe, the doctor, ``send-test``) builds its transport through
``make_transport``, so each gets the same fail-over and a new transport is registered in ``TRANSPORTS`` only.
May import ``core.message``, ``core.settings``, ``core.auth``, ``core.errors`` and ``core.identity``; never the
doctor or the delivery policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from airflow_provider_m365mail.core.settings import MailSettings, TransportKind
from airflow_provider_m365mail.core.transports.acs.transport import AcsTransport
from airflow_provider_m365mail.core.transports.base import CheckResult, SendResult, Transcript, Transport
from airflow_provider_m365mail.core.transports.ews.transport import EwsTransport
from airflow_provider_m365mail.core.transports.failover import DEFAULT_COOL_DOWN_S, FailoverTransport
from airflow_provider_m365mail.core.transports.graph.transport import GraphTransport
from airflow_provider_m365mail.core.transports.smtp.transport import SmtpTransport

__all__ = ["TRANSPORTS", "CheckResult", "SendResult", "Transport", "make_transport"]

TransportFactory = Callable[[MailSettings, "Transcript | None"], Transport]

TRANSPORTS: Mapping[TransportKind, TransportFactory] = {
    TransportKind.SMTP: lambda settings, transcript: SmtpTransport(settings, transcript=transcript),
    TransportKind.GRAPH: lambda settings, _transcript: GraphTransport(settings),
    TransportKind.EWS: lambda settings, _transcript: EwsTransport(settings),
    TransportKind.ACS: lambda settings, _transcript: AcsTransport(settings),
}


def make_transport(
    settings: MailSettings,
    *,
    transcript: Transcript | None = None,
    failover_cool_down_s: float = DEFAULT_COOL_DOWN_S,
    clock: Callable[[], float] = time.monotonic,
) -> Transport:
    """Return a new transport for ``settings.transport``, failing over to ``alternate_host`` when one is set.

    ``transcript`` receives every protocol line of transports that have one (SMTP), credentials redacted;
    ``clock`` times the fail-over's cool-down.
    """
    factory = TRANSPORTS[settings.transport]
    if settings.alternate_host:
        return FailoverTransport(
            settings, lambda s: factory(s, transcript), cool_down_s=failover_cool_down_s, clock=clock
        )
    return factory(settings, transcript)
