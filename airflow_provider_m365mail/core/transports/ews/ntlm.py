"""Sign in to Exchange Server with NTLM (Windows integrated authentication) on an httpx client.

NTLM takes three legs on one kept-alive connection: our negotiate message, the server's challenge in a 401, our
answer. ``pyspnego`` computes the messages; this module only carries them in the HTTP headers.
"""

from __future__ import annotations

import base64
from collections.abc import Generator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


def ntlm_auth(username: str, password: str) -> httpx.Auth:
    """Return an ``httpx.Auth`` that answers the server's NTLM challenge for ``username``."""
    import httpx

    class NtlmAuth(httpx.Auth):
        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            import spnego

            context = spnego.client(username, password, protocol="ntlm")
            request.headers["Authorization"] = "NTLM " + base64.b64encode(context.step() or b"").decode("ascii")
            response = yield request
            challenge = _challenge(response)
            if response.status_code != 401 or challenge is None:
                return
            request.headers["Authorization"] = "NTLM " + base64.b64encode(context.step(challenge) or b"").decode()
            yield request

    return NtlmAuth()


def _challenge(response: httpx.Response) -> bytes | None:
    for value in response.headers.get_list("WWW-Authenticate"):
        scheme, _, token = value.partition(" ")
        if scheme.casefold() == "ntlm" and token.strip():
            return base64.b64decode(token.strip())
    return None
