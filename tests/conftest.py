"""Fixtures shared by the test folders. The sandbox fixtures themselves come from the package's pytest plugin."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_m365mail.sandbox.server import Sandbox

SmtpConnect = Callable[..., smtplib.SMTP]


@pytest.fixture
def smtp_connect(m365_sandbox: Sandbox) -> Iterator[SmtpConnect]:
    """Open stdlib smtplib connections to a sandbox listener; every one is closed after the test.

    ``smtp_connect("submission")`` does EHLO, STARTTLS (verifying the sandbox certificate) and EHLO again;
    ``starttls=False`` stops after the first EHLO. ``"ssl"`` connects with implicit TLS.
    """
    opened: list[smtplib.SMTP] = []

    def connect(
        listener: str = "submission", *, starttls: bool = True, context: ssl.SSLContext | None = None
    ) -> smtplib.SMTP:
        smtp = m365_sandbox.settings["smtp"]
        context = context or m365_sandbox.client_context()
        port = smtp[f"{listener}_port"]
        conn: smtplib.SMTP
        if listener == "ssl":
            conn = smtplib.SMTP_SSL(smtp["host"], port, context=context, timeout=10)
        else:
            conn = smtplib.SMTP(smtp["host"], port, timeout=10)
        opened.append(conn)
        conn.ehlo()
        if listener != "ssl" and starttls:
            conn.starttls(context=context)
            conn.ehlo()
        return conn

    yield connect
    for conn in opened:
        conn.close()


@pytest.fixture
def free_port() -> int:
    """Return a loopback TCP port nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
