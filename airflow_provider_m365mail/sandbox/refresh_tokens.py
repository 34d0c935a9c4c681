"""Remember the delegated refresh tokens the sandbox issued, and rotate them as Entra ID does.

Every redemption returns a new refresh token. The one redeemed keeps working for the tenant's
``refresh_token_grace_s`` (a second worker holding the same token is not locked out at once), then stops; every
refresh token stops at ``refresh_token_lifetime_s`` after it was issued. Refresh tokens are opaque to clients and
outlive ``SandboxState.reset()``, as a signed-in user's do outlive a change in the tenant.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Literal

RefreshRefusal = Literal["unknown", "expired", "superseded"]


@dataclass
class _Issued:
    client_id: str
    user: str
    scopes: tuple[str, ...]
    issued_at: float
    superseded_at: float | None = None


@dataclass(frozen=True)
class Redeemed:
    """A refresh token accepted for redemption: whose it is and the scopes it was issued for."""

    user: str
    scopes: tuple[str, ...]


class RefreshTokens:
    """The refresh tokens issued so far; every method takes the time, so tests move it by hand."""

    def __init__(self) -> None:
        self._issued: dict[str, _Issued] = {}

    def issue(self, client_id: str, user: str, scopes: tuple[str, ...] | list[str], now: float) -> str:
        """Return a new opaque refresh token for ``user`` and ``client_id``."""
        token = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        self._issued[token] = _Issued(client_id, user, tuple(scopes), now)
        return token

    def redeem(
        self, token: str, client_id: str, *, now: float, lifetime_s: float, grace_s: float
    ) -> Redeemed | RefreshRefusal:
        """Accept ``token`` once more (starting its grace period on first use) or say why it is refused."""
        issued = self._issued.get(token)
        if issued is None or issued.client_id != client_id:
            return "unknown"
        if now >= issued.issued_at + lifetime_s:
            return "expired"
        if issued.superseded_at is not None and now >= issued.superseded_at + grace_s:
            return "superseded"
        if issued.superseded_at is None:
            issued.superseded_at = now
        return Redeemed(issued.user, issued.scopes)
