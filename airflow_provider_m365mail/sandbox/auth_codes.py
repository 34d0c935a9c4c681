"""Hold the authorization codes the sign-in page handed out, each bound to its client, redirect URI and PKCE challenge.

A code is redeemed once, within ``CODE_LIFETIME_S`` (Entra ID's codes live about ten minutes). No I/O: the routes
in ``oauth_authorize`` ask and report.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

CODE_LIFETIME_S = 600.0
CodeRefusal = Literal["unknown", "expired", "redirect_mismatch", "pkce_mismatch"]


@dataclass(frozen=True)
class AuthorizationCode:
    """What a user approved on the sign-in page, for the client to redeem."""

    client_id: str
    user: str
    scopes: tuple[str, ...]
    redirect_uri: str
    code_challenge: str | None
    expires_at: float
    nonce: str | None = None  # echoed in the ID token, where MSAL checks it


def s256(verifier: str) -> str:
    """Return the PKCE ``S256`` challenge of a code verifier (RFC 7636)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")


class AuthorizationCodes:
    """The codes issued and not yet redeemed; every method takes the time, so tests move it by hand."""

    def __init__(self) -> None:
        self._codes: dict[str, AuthorizationCode] = {}

    def issue(self, approved: AuthorizationCode) -> str:
        """Return a new code standing for ``approved``."""
        code = secrets.token_urlsafe(48)
        self._codes[code] = approved
        return code

    def redeem(self, code: str, client_id: str, redirect_uri: str, verifier: str | None, *,
               now: float) -> AuthorizationCode | CodeRefusal:
        """Return what ``code`` stands for (it cannot be redeemed again), or why it is refused."""
        approved = self._codes.pop(code, None)
        if approved is None or approved.client_id != client_id:
            return "unknown"
        if now >= approved.expires_at:
            return "expired"
        if redirect_uri != approved.redirect_uri:
            return "redirect_mismatch"
        if approved.code_challenge is not None and (
                verifier is None or not hmac.compare_digest(s256(verifier), approved.code_challenge)):
            return "pkce_mismatch"
        return approved
