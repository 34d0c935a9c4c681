from __future__ import annotations

import asyncio
import socket

import aiosmtplib

from airflow_provider_m365mail.core.transports.smtp.segments import nagle_on
from airflow_provider_m365mail.sandbox.server import Sandbox


def _nodelay(client: aiosmtplib.SMTP) -> int:
    assert client.transport is not None
    sock = client.transport.get_extra_info("socket")
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


async def test_the_ehlo_after_starttls_waits_for_the_handshake_ack_and_later_commands_do_not(
    m365_sandbox: Sandbox,
) -> None:
    smtp = m365_sandbox.settings["smtp"]
    client = aiosmtplib.SMTP(
        hostname=smtp["host"],
        port=smtp["submission_port"],
        start_tls=False,
        tls_context=m365_sandbox.client_context(),
    )
    await client.connect()
    try:
        await client.ehlo()
        assert _nodelay(client) == 1  # asyncio's default: every write leaves at once
        with nagle_on(client):
            await client.starttls()
            assert _nodelay(client) == 0  # this EHLO leaves only once the server acknowledged our Finished
            reply = await client.ehlo()
        assert reply.code == 250
        assert _nodelay(client) == 1  # MAIL, RCPT and DATA are not held back
        assert (await client.noop()).code == 250
    finally:
        client.close()


async def test_a_connection_dropped_inside_the_block_is_left_alone(m365_sandbox: Sandbox) -> None:
    smtp = m365_sandbox.settings["smtp"]
    client = aiosmtplib.SMTP(hostname=smtp["host"], port=smtp["submission_port"], start_tls=False)
    await client.connect()
    assert client.transport is not None
    sock = client.transport.get_extra_info("socket")
    with nagle_on(client):
        client.close()
        while sock.fileno() != -1:  # let the loop finish closing: the socket is gone when the block ends
            await asyncio.sleep(0)
    assert not client.is_connected
