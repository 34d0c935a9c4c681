"""Send the first command after a STARTTLS handshake the way the server expects it: after the handshake's ACK.

asyncio turns Nagle's algorithm off (``TCP_NODELAY``) on every TCP socket, so the EHLO that follows STARTTLS
leaves right behind the client's TLS Finished, before the server's last handshake flight has arrived. A TLS 1.3
server such as Postfix writes that flight (its session tickets) and then, once EHLO is read, the EHLO reply; with
Nagle on at the server, the reply waits until the tickets are acknowledged, and the client, having nothing to send,
delays that acknowledgement (40 ms on Linux). Every new connection paid those 40 ms, four times what the rest of a
one-message session costs on loopback. With Nagle on for that one command, EHLO waits until the server has
acknowledged our Finished, which it does with its tickets, and then carries the acknowledgement of the tickets
itself: the reply comes at once. This is how ``smtplib``, which never sets ``TCP_NODELAY``, behaves.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiosmtplib


@contextlib.contextmanager
def nagle_on(client: aiosmtplib.SMTP) -> Iterator[None]:
    """Keep Nagle's algorithm on for the client's socket inside the block, and off (asyncio's default) after it.

    Sockets that are not TCP (or already closed) are left alone.
    """
    sock = client.transport.get_extra_info("socket") if client.transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        yield
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # the connection may have dropped inside the block
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
