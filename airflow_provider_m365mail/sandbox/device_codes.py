"""Hold the device authorization grants in progress: codes handed out, the user who approved each, expiry.

A device code is issued with a short user code; the user enters that code with their credentials on the
verification page; the polling client then gets tokens once. No I/O: the routes in ``oauth_device`` ask and report.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

# Entra's user codes are 8-9 letters and digits without look-alikes.
_USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PollState = Literal["unknown", "expired", "pending"]


@dataclass
class DeviceCode:
    """One device authorization in progress."""

    device_code: str
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    user: str | None = None  # set when a user approved it on the verification page


class DeviceCodes:
    """The device codes issued and not yet redeemed; every method takes the time, so tests move it by hand."""

    def __init__(self) -> None:
        self._by_device_code: dict[str, DeviceCode] = {}

    def start(self, client_id: str, scopes: tuple[str, ...], *, now: float, lifetime_s: float) -> DeviceCode:
        """Issue a device code and its user code for ``client_id`` asking for ``scopes``."""
        user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9))
        code = DeviceCode(secrets.token_urlsafe(48), user_code, client_id, scopes, now + lifetime_s)
        self._by_device_code[code.device_code] = code
        return code

    def pending_user_code(self, user_code: str, *, now: float) -> DeviceCode | None:
        """Return the unexpired, not yet approved authorization with this user code (case and spaces ignored)."""
        wanted = user_code.replace(" ", "").replace("-", "").upper()
        return next((c for c in self._by_device_code.values()
                     if c.user_code == wanted and c.user is None and now < c.expires_at), None)

    def approve(self, code: DeviceCode, user: str) -> None:
        """Record that ``user`` signed in and approved ``code``."""
        code.user = user

    def poll(self, device_code: str, client_id: str, *, now: float) -> DeviceCode | PollState:
        """Return the approved authorization (removing it: tokens are issued once) or why there are no tokens yet."""
        code = self._by_device_code.get(device_code)
        if code is None or code.client_id != client_id:
            return "unknown"
        if now >= code.expires_at:
            del self._by_device_code[device_code]
            return "expired"
        if code.user is None:
            return "pending"
        del self._by_device_code[device_code]
        return code
