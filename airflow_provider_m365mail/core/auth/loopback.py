"""Receive the identity provider's redirect on a loopback port, as a native app does after a browser sign-in.

Entra ID lets public clients register ``http://localhost`` and redirect to any port on the loopback address, so the
sign-in listens on an ephemeral port of 127.0.0.1 for the one request that carries ``code``, ``admin_consent`` or
``error``, and answers it with a page saying the window can be closed. Nothing is logged: the query holds the
authorization code.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

_DONE_PAGE = (b"<!doctype html><html><head><meta charset='utf-8'><title>Signed in</title></head><body>"
              b"<p>The sign-in is complete. You may close this window.</p></body></html>")


# An authorization response carries code (or error); an admin consent response admin_consent (or error).
_ANSWER_KEYS = {"code", "error", "admin_consent"}


class _RedirectHandler(BaseHTTPRequestHandler):
    server: LoopbackRedirect

    def do_GET(self) -> None:
        answer = dict(parse_qsl(urlsplit(self.path).query))
        if _ANSWER_KEYS & answer.keys():
            self.server.answer = answer
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(_DONE_PAGE)
        else:  # a favicon or a stray request: not the redirect
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing: the request line carries the authorization code."""


class LoopbackRedirect(HTTPServer):
    """A one-shot listener on ``127.0.0.1`` (ephemeral port) for the authorization response."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RedirectHandler)
        self.answer: dict[str, str] | None = None

    @property
    def redirect_uri(self) -> str:
        """Return the redirect URI to send in the authorization request."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def wait(self, timeout_s: float) -> dict[str, str] | None:
        """Return the redirect's query parameters, or None if none came within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self.answer is None and (left := deadline - time.monotonic()) > 0:
            self.timeout = left
            self.handle_request()
        return self.answer

    def __enter__(self) -> LoopbackRedirect:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server_close()
