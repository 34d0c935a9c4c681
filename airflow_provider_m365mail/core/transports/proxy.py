"""Open a TCP tunnel to a server through an HTTP CONNECT or SOCKS5 proxy, for protocols without proxy support.

SMTP has no proxy mechanism of its own. The tunnel is opened here and handed over as a connected socket; the
client then speaks its protocol through it end to end, TLS included, so the certificate is checked against the
real server's name exactly as on a direct connection. python-socks speaks SOCKS5 (``socks5://`` resolves the
name here, ``socks5h://`` at the proxy). HTTP CONNECT (``http://``) is done here instead: python-socks reads the
proxy's answer in one chunk and drops whatever follows it, and an SMTP server speaks first, so its greeting,
arriving in the same chunk, was lost and the session hung. Reading the answer up to its blank line keeps it.
Every failure becomes the provider's error through ``classify_proxy_failure``, the proxy's password masked.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from urllib.parse import SplitResult, unquote, urlsplit

from airflow_provider_m365mail.core.errors import M365MailError, classify_proxy_failure
from airflow_provider_m365mail.core.settings.hosts import check_smtp_proxy, shown_proxy

_SOCKS_AUTH_REFUSALS = ("authentication failure", "no acceptable authentication")
_MAX_ANSWER_BYTES = 16384


class _Refused(Exception):
    """The HTTP proxy answered the CONNECT with something other than 200."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


async def open_tunnel(proxy: str, host: str, port: int, *, timeout: float) -> socket.socket:
    """Return a socket connected to ``host:port`` through ``proxy``; raise ``M365MailError`` saying what failed."""
    parts = urlsplit(proxy)
    scheme = parts.scheme.lower()
    check_smtp_proxy(proxy, field="the proxy HTTPS_PROXY / ALL_PROXY names (proxy: env)")
    shown, target = shown_proxy(proxy), f"{host}:{port}"
    if scheme == "http":
        return await _http_tunnel(parts, host, port, timeout=timeout, shown=shown)
    from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
    from python_socks.async_.asyncio import Proxy

    client = Proxy(
        ProxyType.SOCKS5,
        parts.hostname or "",
        parts.port or 0,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        rdns=scheme == "socks5h",
    )
    try:
        return await client.connect(host, port, timeout=timeout)
    except ProxyTimeoutError:
        raise classify_proxy_failure(shown, "unreachable", f"no answer within {timeout:g} s", target=target) from None
    except ProxyConnectionError as exc:
        raise classify_proxy_failure(shown, "unreachable", exc.strerror or str(exc), target=target) from None
    except ProxyError as exc:
        raise _refusal(shown, scheme, exc.error_code, str(exc), target) from None
    except OSError as exc:  # the proxy hung up halfway through the handshake
        raise classify_proxy_failure(shown, "protocol", exc.strerror or str(exc), target=target) from None


async def _http_tunnel(parts: SplitResult, host: str, port: int, *, timeout: float, shown: str) -> socket.socket:
    """Send ``CONNECT host:port`` and read the answer exactly up to its end; return the tunnel's socket."""
    target = f"{host}:{port}"
    authority = f"[{host}]:{port}" if ":" in host else target
    head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
    if parts.username is not None:
        login = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        head += f"Proxy-Authorization: Basic {base64.b64encode(login).decode('ascii')}\r\n"
    try:
        sock = await asyncio.wait_for(_connected(parts.hostname or "", parts.port or 0), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        reason = getattr(exc, "strerror", None) or f"no answer within {timeout:g} s"
        raise classify_proxy_failure(shown, "unreachable", reason, target=target) from None
    try:
        await asyncio.wait_for(_exchange(sock, (head + "\r\n").encode()), timeout)
    except BaseException as exc:
        sock.close()
        if isinstance(exc, _Refused):
            raise _refusal(shown, "http", exc.status, str(exc), target) from None
        if isinstance(exc, (OSError, asyncio.TimeoutError, ValueError)):
            raise classify_proxy_failure(shown, "protocol", str(exc) or "no answer", target=target) from None
        raise
    return sock


async def _connected(host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    error: OSError = OSError("no address")
    for family, kind, proto, _, address in await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error


async def _exchange(sock: socket.socket, request: bytes) -> None:
    """Send the CONNECT and read the proxy's answer; bytes after its blank line stay in the socket."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, request)
    answer = bytearray()
    while not answer.endswith(b"\r\n\r\n"):
        byte = await loop.sock_recv(sock, 1)  # one at a time: the server's first bytes may follow at once
        if not byte or len(answer) > _MAX_ANSWER_BYTES:
            raise ValueError("the proxy closed the connection before answering the CONNECT")
        answer += byte
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP proxy answer: {status_line[:80]!r}")
    if parts[1] != "200":
        raise _Refused(int(parts[1]), status_line.partition(" ")[2])


def _refusal(proxy: str, scheme: str, error_code: int | None, text: str, target: str) -> M365MailError:
    if scheme == "http":
        code = str(error_code) if error_code else "protocol"
    elif error_code:
        code = f"socks-0x{error_code:02x}"
    elif any(words in text.lower() for words in _SOCKS_AUTH_REFUSALS):
        code = "socks-auth"
    else:
        code = "protocol"
    return classify_proxy_failure(proxy, code, text, target=target)
