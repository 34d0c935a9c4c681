"""SMTP through real proxies (tinyproxy for HTTP CONNECT, Dante for SOCKS5), TLS end to end, failures explained.

The proxies open their outgoing connections from 127.0.0.2: the sandbox's EHLO greeting names the client address
it saw, and the proxy's own log counts the tunnels, so each test shows the traffic went through the proxy.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import trustme
from connection_settings import settings_for
from proxy_servers import OUTGOING_ADDRESS, PROXY_PASSWORD, PROXY_USER, ProxyServer

from airflow_provider_m365mail.core.errors import (
    AuthenticationError,
    PermanentSendError,
    ServerUnreachableError,
)
from airflow_provider_m365mail.core.identity import resolve_identity
from airflow_provider_m365mail.core.message.outgoing import OutgoingMessage
from airflow_provider_m365mail.core.transports.proxy import open_tunnel
from airflow_provider_m365mail.core.transports.smtp.transport import SmtpTransport
from airflow_provider_m365mail.sandbox.server import Sandbox

# connection -> (its port in the sandbox's settings, the listener the sandbox records)
MODES = {
    "smtp_basic": ("submission_port", "smtp_submission"),
    "smtp_oauth2": ("submission_port", "smtp_submission"),
    "smtp_ssl": ("ssl_port", "smtp_ssl"),
    "direct_send": ("direct_send_port", "direct_send"),
    "relay": ("relay_port", "relay"),
}


def note() -> OutgoingMessage:
    return OutgoingMessage.create(to="bob@contoso.com", subject="Through the proxy", text="Tunnelled.")


def proxy_url(request: pytest.FixtureRequest, kind: str) -> tuple[ProxyServer, str]:
    if kind == "http":
        server: ProxyServer = request.getfixturevalue("http_proxy")
        return server, server.url()
    server = request.getfixturevalue("socks_proxy")
    return server, server.url(kind)


async def send_through(sandbox: Sandbox, connection: str, proxy: str) -> list[str]:
    lines: list[str] = []
    settings = settings_for(sandbox, connection, proxy=proxy)
    await SmtpTransport(settings, transcript=lines.append).send(note(), resolve_identity(settings))
    return lines


@pytest.mark.sandbox(tenant={"relay_allowed_ips": (OUTGOING_ADDRESS,)})  # the relay accepts the proxy only
@pytest.mark.parametrize("kind", ["http", "socks5", "socks5h"])
@pytest.mark.parametrize("connection", list(MODES))
async def test_every_smtp_mode_goes_through_the_proxy(
    m365_sandbox: Sandbox, request: pytest.FixtureRequest, connection: str, kind: str
) -> None:
    server, url = proxy_url(request, kind)
    port_key, listener = MODES[connection]
    port = m365_sandbox.settings["smtp"][port_key]
    mark = server.mark()
    transcript = await send_through(m365_sandbox, connection, url)
    (stored,) = m365_sandbox.messages()
    assert stored.transport == listener
    assert any(f"Hello [{OUTGOING_ADDRESS}]" in line for line in transcript), transcript[:3]
    assert server.tunnels(mark, port) == 1 == m365_sandbox.state.stats["smtp_sessions"]


@pytest.mark.parametrize("connection", ["smtp_basic", "smtp_ssl"])
async def test_tls_through_the_tunnel_verifies_the_smtp_server_certificate(
    m365_sandbox: Sandbox, open_http_proxy: ProxyServer, tmp_path: Path, connection: str
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(trustme.CA().cert_pem.bytes())
    settings = settings_for(m365_sandbox, connection, proxy=open_http_proxy.url(), ca_bundle=str(other_ca))
    with pytest.raises(PermanentSendError, match="certificate was not accepted"):
        await SmtpTransport(settings).send(note(), resolve_identity(settings))
    assert m365_sandbox.messages() == []


async def test_a_wrong_proxy_password_fails_at_once_with_407_explained(
    m365_sandbox: Sandbox, http_proxy: ProxyServer
) -> None:
    wrong = http_proxy.url(password="not-the-password")
    settings = settings_for(m365_sandbox, "smtp_basic", proxy=wrong)
    mark = http_proxy.mark()
    with pytest.raises(AuthenticationError) as caught:
        await SmtpTransport(settings).send(note(), resolve_identity(settings))
    error = caught.value
    assert error.code == "407"
    assert "credentials" in (error.hint or "")
    assert "not-the-password" not in str(error) and PROXY_PASSWORD not in str(error)
    assert f"the proxy http://127.0.0.1:{http_proxy.port} " in str(error) and PROXY_USER not in str(error)
    assert http_proxy.log_since(mark).count("Request (file descriptor") == 1
    assert m365_sandbox.state.stats["smtp_sessions"] == 0


async def test_a_port_the_proxy_does_not_allow_is_a_refused_connect(
    m365_sandbox: Sandbox, open_http_proxy: ProxyServer, free_port: int
) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", proxy=open_http_proxy.url(), port=free_port)
    with pytest.raises(PermanentSendError) as caught:
        await SmtpTransport(settings).send(note(), resolve_identity(settings))
    assert caught.value.code == "403"
    assert "CONNECT" in (caught.value.hint or "")


async def test_an_unreachable_proxy_is_named_as_such(m365_sandbox: Sandbox, free_port: int) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", proxy=f"http://user:pw-9@127.0.0.1:{free_port}")
    with pytest.raises(ServerUnreachableError) as caught:
        await SmtpTransport(settings).send(note(), resolve_identity(settings))
    assert caught.value.code == "unreachable"
    assert f"the proxy http://127.0.0.1:{free_port} " in str(caught.value)
    assert "user" not in str(caught.value) and "pw-9" not in str(caught.value)


async def test_a_refused_socks_login_fails_at_once(
    m365_sandbox: Sandbox, socks_proxy_with_login: ProxyServer
) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", proxy=socks_proxy_with_login.url("socks5h"))
    with pytest.raises(AuthenticationError) as caught:
        await SmtpTransport(settings).send(note(), resolve_identity(settings))
    assert caught.value.code == "socks-auth"
    assert PROXY_PASSWORD not in str(caught.value)


async def test_a_socks_destination_that_refuses_is_explained(
    m365_sandbox: Sandbox, socks_proxy: ProxyServer, free_port: int
) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", proxy=socks_proxy.url("socks5"), port=free_port)
    with pytest.raises(ServerUnreachableError) as caught:
        await SmtpTransport(settings).send(note(), resolve_identity(settings))
    assert caught.value.code == "socks-0x05"
    assert "refused" in (caught.value.hint or "")


async def test_a_name_the_socks_proxy_cannot_resolve_is_explained(
    m365_sandbox: Sandbox, socks_proxy: ProxyServer
) -> None:
    settings = settings_for(m365_sandbox, "smtp_basic", proxy=socks_proxy.url("socks5h"), host="no-such-host.invalid")
    with pytest.raises(ServerUnreachableError) as caught:
        await SmtpTransport(settings).send(note(), resolve_identity(settings))
    assert caught.value.code in ("socks-0x04", "socks-0x01")


async def test_the_check_says_which_proxy_it_went_through(
    m365_sandbox: Sandbox, http_proxy: ProxyServer
) -> None:
    result = await SmtpTransport(settings_for(m365_sandbox, "smtp_basic", proxy=http_proxy.url())).check()
    assert result.ok, result.steps
    connected = next(step for step in result.steps if step.startswith("connected to"))
    assert f"through proxy http://127.0.0.1:{http_proxy.port}:" in connected
    assert PROXY_PASSWORD not in " ".join(result.steps) and PROXY_USER not in " ".join(result.steps)


async def test_bytes_the_server_sends_right_after_the_connect_answer_are_kept() -> None:
    """An SMTP server speaks first: its greeting can arrive in the same packet as the proxy's 200."""

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n220 mail.contoso.com ready\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        sock = await open_tunnel(f"http://127.0.0.1:{port}", "mail.contoso.com", 587, timeout=5)
        try:
            greeting = await asyncio.get_running_loop().sock_recv(sock, 100)
        finally:
            sock.close()
    assert greeting == b"220 mail.contoso.com ready\r\n"
