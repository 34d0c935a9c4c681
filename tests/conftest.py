"""Fixtures shared by the test folders. The sandbox fixtures themselves come from the package's pytest plugin."""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from secret_scan import SecretScan

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


@pytest.fixture(autouse=True)
def _fresh_delivery_state() -> None:
    """Start every test with no messages counted against a mailbox's rate (the sandbox forgets its own too) and no
    server remembered as unreachable."""
    from airflow_provider_m365mail.core.delivery.pacing import forget_sending_rates
    from airflow_provider_m365mail.core.transports.failover import forget_unreachable_servers

    forget_sending_rates()
    forget_unreachable_servers()


# Client-side loggers read at DEBUG by the secret guard: what an operator turning logging up would see.
CLIENT_LOGGERS = ("core", "hooks", "operators", "notifications", "sensors", "triggers", "email_backend", "cli")
# An access token (a JWT) or a base64 XOAUTH2 string ("user=..."), whoever issued it.
TOKEN_PATTERN = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]+|dXNlcj[0-9A-Za-z+/]{16,}")


def _sandbox_secrets() -> set[str]:
    from airflow_provider_m365mail.sandbox.config import default_tenant

    tenant = default_tenant()
    secrets = {m.password for m in tenant.mailboxes} | {a.client_secret for a in tenant.apps}
    return {s for s in secrets if s}


@pytest.fixture
def secret_scan() -> SecretScan:
    """Return this test's secret scan: what it records is checked with its log records."""
    return SecretScan()


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog: pytest.LogCaptureFixture, secret_scan: SecretScan) -> Iterator[None]:
    """Fail a test whose log records, or the outputs it recorded, show a sandbox password or client secret, a
    secret it registered, an access token or an XOAUTH2 string."""
    for name in CLIENT_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=f"airflow_provider_m365mail.{name}")
    yield
    text = "\n".join([*(record.getMessage() for record in caplog.get_records("call")), *secret_scan.outputs])
    secrets = _sandbox_secrets() | secret_scan.secrets
    leaked = sorted(s for s in secrets if s in text) + TOKEN_PATTERN.findall(text)
    assert not leaked, f"secrets reached the log or an output: {[f'{s[:4]}...' for s in leaked]}"
