"""Fixtures shared by the test folders. The sandbox fixtures themselves come from the package's pytest plugin."""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from proxy_servers import PROXY_PASSWORD, PROXY_USER, ProxyServer, missing, start_dante, start_tinyproxy
from real_parts import unavailable
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


@pytest.fixture(scope="session")
def redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run one real Redis for the session; yield its ``redis://`` URL (skipped where redis-server is not installed,
    failed in CI)."""
    from redis_server import REDIS_SERVER, running_redis

    if not Path(REDIS_SERVER).is_file():
        unavailable(f"{REDIS_SERVER} is missing: install the Debian package redis-server (.ci/apt-packages)")
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_url(redis_session: str) -> str:
    """Return the session Redis's URL, emptied for this test."""
    import redis

    with redis.Redis.from_url(redis_session) as client:
        client.flushall()
    return redis_session


@pytest.fixture(autouse=True)
def _fresh_delivery_state() -> None:
    """Start every test with no messages counted against a mailbox's rate (the sandbox forgets its own too) and no
    server remembered as unreachable."""
    from airflow_provider_m365mail.core.delivery.pacing import forget_sending_rates
    from airflow_provider_m365mail.core.delivery.shared_pacing import forget_shared_stores
    from airflow_provider_m365mail.core.transports.failover import forget_unreachable_servers

    forget_sending_rates()
    forget_shared_stores()
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
    """Fail a test whose log records, or the outputs it recorded, show a sandbox password or client secret, the
    test proxies' password, a secret it registered, an access token or an XOAUTH2 string."""
    for name in CLIENT_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=f"airflow_provider_m365mail.{name}")
    yield
    text = "\n".join([*(record.getMessage() for record in caplog.get_records("call")), *secret_scan.outputs])
    secrets = _sandbox_secrets() | secret_scan.secrets | {PROXY_PASSWORD}
    leaked = sorted(s for s in secrets if s in text) + TOKEN_PATTERN.findall(text)
    assert not leaked, f"secrets reached the log or an output: {[f'{s[:4]}...' for s in leaked]}"


def _sandbox_ports(sandbox: Sandbox) -> list[int]:
    smtp = sandbox.settings["smtp"]
    http_port = int(sandbox.settings["http_base"].rpartition(":")[2])
    return [smtp["submission_port"], smtp["ssl_port"], smtp["direct_send_port"], smtp["relay_port"], http_port]


def _running(program: str, start: Callable[[], ProxyServer]) -> Iterator[ProxyServer]:
    reason = missing(program)
    if reason is not None:
        unavailable(reason)  # skipped here, failed in CI (M365MAIL_REAL_PARTS=required)
    server = start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http_proxy(m365_sandbox_session: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """tinyproxy with Basic auth, tunnelling (CONNECT) to the sandbox's ports only."""
    folder = tmp_path_factory.mktemp("tinyproxy-auth")
    yield from _running("tinyproxy", lambda: start_tinyproxy(
        folder, "tinyproxy-auth", credentials=(PROXY_USER, PROXY_PASSWORD),
        allowed_ports=_sandbox_ports(m365_sandbox_session)))


@pytest.fixture(scope="session")
def open_http_proxy(m365_sandbox_session: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """tinyproxy without credentials, tunnelling (CONNECT) to the sandbox's ports only."""
    folder = tmp_path_factory.mktemp("tinyproxy-open")
    yield from _running("tinyproxy", lambda: start_tinyproxy(
        folder, "tinyproxy-open", credentials=None, allowed_ports=_sandbox_ports(m365_sandbox_session)))


@pytest.fixture(scope="session")
def socks_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """Dante as a SOCKS5 proxy without authentication (method none)."""
    folder = tmp_path_factory.mktemp("dante")
    yield from _running("danted", lambda: start_dante(folder, "dante", method="none"))


@pytest.fixture(scope="session")
def socks_proxy_with_login(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """Dante requiring SOCKS5 username authentication, which it checks against the system's users.

    The test account is no system user, so this proxy refuses every login: it shows how a refused SOCKS login
    fails. (A login it accepts would need a system account created for the test.)
    """
    folder = tmp_path_factory.mktemp("dante-login")
    yield from _running("danted", lambda: start_dante(folder, "dante-login", method="username"))
