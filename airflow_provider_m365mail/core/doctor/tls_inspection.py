"""Look at a server's TLS the way a send meets it: the negotiated version and the certificate it presents.

SMTP submission and direct send upgrade with STARTTLS after EHLO; implicit-TLS SMTP and HTTPS (Graph, the token
endpoint) speak TLS from the first byte. The handshake here uses the connection's own SSL context, so an
untrusted CA or a name mismatch fails exactly as it would when sending.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Any


async def tls_handshake(
    host: str, port: int, context: ssl.SSLContext, *, starttls: bool, sock: socket.socket | None = None
) -> tuple[str, dict[str, Any]]:
    """Connect and negotiate TLS (after EHLO and STARTTLS, or from the first byte); return version and cert.

    ``sock`` is a tunnel to ``host:port`` through a proxy, used instead of a direct connection. Raises
    ``ssl.SSLError`` (``SSLCertVerificationError`` for an untrusted or mismatched certificate) or
    ``ConnectionError`` when the server does not offer STARTTLS.
    """
    where: dict[str, Any] = {"sock": sock} if sock is not None else {"host": host, "port": port}
    if starttls:
        reader, writer = await asyncio.open_connection(**where)
    else:
        reader, writer = await asyncio.open_connection(**where, ssl=context, server_hostname=host)
    transport: asyncio.BaseTransport = writer.transport
    try:
        if starttls:
            await _smtp_reply(reader, "220")
            writer.write(b"EHLO m365mail-doctor\r\n")
            features = await _smtp_reply(reader, "250")
            if "STARTTLS" not in features.upper():
                raise ConnectionError("the server does not offer STARTTLS after EHLO")
            writer.write(b"STARTTLS\r\n")
            await _smtp_reply(reader, "220")
            upgraded = await asyncio.get_running_loop().start_tls(
                writer.transport, writer.transport.get_protocol(), context, server_hostname=host
            )
            if upgraded is None:
                raise ConnectionError("the TLS handshake did not complete")
            transport = upgraded
        ssl_object = transport.get_extra_info("ssl_object")
        return str(ssl_object.version()), dict(ssl_object.getpeercert() or {})
    finally:
        transport.close()


async def _smtp_reply(reader: asyncio.StreamReader, expected: str) -> str:
    lines = []
    while True:
        line = (await reader.readline()).decode("utf-8", "replace")
        if not line:
            raise ConnectionError("the server closed the connection")
        lines.append(line.strip())
        if len(line) < 4 or line[3] != "-":
            break
    if not lines[-1].startswith(expected):
        raise ConnectionError(f"unexpected reply: {lines[-1]}")
    return "\n".join(lines)


def certificate_summary(cert: Mapping[str, Any]) -> tuple[str, float]:
    """Return "CN=..., issued by ..., valid until ..." and the days left."""
    def name(key: str) -> str:
        parts = dict(item for rdn in cert.get(key, ()) for item in rdn)
        return str(parts.get("commonName") or parts.get("organizationName") or "?")

    not_after = str(cert.get("notAfter", ""))
    days = (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400 if not_after else float("nan")
    return f"certificate CN={name('subject')}, issued by {name('issuer')}, valid until {not_after}", days
