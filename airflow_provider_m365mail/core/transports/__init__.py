"""Choose the transport a connection's settings ask for.

Each transport registers a factory in ``TRANSPORTS`` under its ``settings.Transport`` value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from airflow_provider_m365mail.core.settings import MailSettings
from airflow_provider_m365mail.core.settings import Transport as TransportKind
from airflow_provider_m365mail.core.transports.base import CheckResult, SendResult, Transport
from airflow_provider_m365mail.core.transports.graph import GraphTransport
from airflow_provider_m365mail.core.transports.smtp import SmtpTransport

__all__ = ["TRANSPORTS", "CheckResult", "GraphTransport", "SendResult", "SmtpTransport", "Transport", "make_transport"]

TRANSPORTS: Mapping[TransportKind, Callable[[MailSettings], Transport]] = {
    TransportKind.SMTP: SmtpTransport,
    TransportKind.GRAPH: GraphTransport,
}


def make_transport(settings: MailSettings) -> Transport:
    """Return a new transport for ``settings.transport`` (validated by ``MailSettings``)."""
    return TRANSPORTS[settings.transport](settings)
