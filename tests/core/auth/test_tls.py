"""The SMTP TLS context against real TLS servers on 127.0.0.1: 1.2 minimum, verification, client certificate."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trustme

from airflow_provider_m365mail.core.auth.tls import make_ssl_context
from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings import MailSettings


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def settings(ca_file: str | None, **extra: str) -> MailSettings:
    if ca_file:
        extra["ca_bundle"] = ca_file
    return MailSettings.from_connection_fields(host="localhost", port=2525, login=None, password=None, extra=extra)


@asynccontextmanager
async def tls_server(
    ca: trustme.CA, *, maximum: ssl.TLSVersion | None = None, client_ca: trustme.CA | None = None
) -> AsyncIterator[tuple[int, list[str]]]:
    """Serve TLS on an ephemeral port; record the peer certificate's CN of each client that got through."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    if maximum:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = maximum
    if client_ca:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    peers: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cert = writer.get_extra_info("peercert") or {}
        peers.extend(value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName")
        writer.write(b"220 ready\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], peers
    finally:
        server.close()
        await server.wait_closed()


async def greeting(port: int, context: ssl.SSLContext) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
    try:
        return await reader.readline()
    finally:
        writer.close()


def test_context_requires_tls_12_and_verification(ca_file: str) -> None:
    context = make_ssl_context(settings(ca_file))
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


async def test_connects_to_a_server_signed_by_the_configured_ca(ca: trustme.CA, ca_file: str) -> None:
    async with tls_server(ca) as (port, _):
        assert await greeting(port, make_ssl_context(settings(ca_file))) == b"220 ready\r\n"


async def test_refuses_a_server_the_ca_bundle_does_not_vouch_for(ca_file: str) -> None:
    async with tls_server(trustme.CA()) as (port, _):
        with pytest.raises(ssl.SSLCertVerificationError):
            await greeting(port, make_ssl_context(settings(ca_file)))


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
async def test_refuses_tls_below_12(ca: trustme.CA, ca_file: str) -> None:
    old_client = ssl.create_default_context(cafile=ca_file)
    old_client.set_ciphers("DEFAULT:@SECLEVEL=0")
    old_client.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    async with tls_server(ca, maximum=ssl.TLSVersion.TLSv1_1) as (port, _):
        try:
            await greeting(port, old_client)
        except (ssl.SSLError, ConnectionError):
            pytest.skip("this OpenSSL build cannot speak TLS 1.1 at all")
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await greeting(port, make_ssl_context(settings(ca_file)))


async def test_presents_the_relay_client_certificate(ca: trustme.CA, ca_file: str, tmp_path: Path) -> None:
    client_ca = trustme.CA()
    leaf = client_ca.issue_cert("relay.contoso.com", common_name="relay.contoso.com")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    for blob in leaf.cert_chain_pems:
        blob.write_to_path(str(cert), append=True)
    leaf.private_key_pem.write_to_path(str(key))
    context = make_ssl_context(settings(ca_file, client_certificate_path=str(cert), client_key_path=str(key)))
    async with tls_server(ca, client_ca=client_ca) as (port, peers):
        assert await greeting(port, context) == b"220 ready\r\n"
    assert peers == ["relay.contoso.com"]


@pytest.mark.parametrize(
    ("field", "make"),
    [
        ("extra.ca_bundle", lambda tmp: {"ca_bundle": "not-a-pem.txt"}),
        ("extra.client_certificate_path", lambda tmp: {"client_certificate_path": "not-a-pem.txt"}),
    ],
)
def test_unreadable_pem_files_name_the_field(
    tmp_path: Path, field: str, make: Callable[[Path], dict[str, str]]
) -> None:
    junk = tmp_path / "not-a-pem.txt"
    junk.write_text("junk", encoding="utf-8")
    extra = {key: str(tmp_path / value) for key, value in make(tmp_path).items()}
    with pytest.raises(ConfigurationError) as info:
        make_ssl_context(settings(None, **extra))
    assert info.value.field == field


def test_one_context_serves_every_connection_with_the_same_files(ca_file: str) -> None:
    assert make_ssl_context(settings(ca_file)) is make_ssl_context(settings(ca_file))
    assert make_ssl_context(settings(None)) is make_ssl_context(settings(None))
    assert make_ssl_context(settings(ca_file)) is not make_ssl_context(settings(None))


async def test_a_rotated_ca_bundle_is_trusted_without_a_restart(ca: trustme.CA, ca_file: str) -> None:
    before = make_ssl_context(settings(ca_file))
    rotated = trustme.CA()
    rotated.cert_pem.write_to_path(ca_file)  # same path, new contents
    after = make_ssl_context(settings(ca_file))
    assert after is not before
    async with tls_server(rotated) as (port, _):
        assert await greeting(port, after) == b"220 ready\r\n"
        with pytest.raises(ssl.SSLCertVerificationError):
            await greeting(port, before)
