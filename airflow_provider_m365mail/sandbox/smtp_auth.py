"""Check SMTP AUTH credentials as Exchange Online does, apart from the SASL mechanics that carry them.

Each check returns who signed in, or the exact reply Exchange gives when it refuses: 5.7.3 for bad credentials
or a token it does not accept, 5.7.139 when basic authentication or SMTP AUTH is switched off.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from . import replies
from .config import EXCHANGE_AUDIENCE, TenantConfig
from .tokens import InvalidToken, TokenIssuer


@dataclass(frozen=True)
class SignIn:
    """A successful SMTP AUTH."""

    mailbox: str  # the authenticated mailbox: limits and "sending as itself" apply to it
    rights_principal: str  # whose Send As / Send on Behalf grants count: the mailbox, or the app's client id


def check_basic(tenant: TenantConfig, login: bytes, password: bytes) -> SignIn | str:
    """Check AUTH PLAIN / LOGIN credentials against the tenant's mailbox passwords."""
    try:
        address = login.decode("utf-8")
    except UnicodeDecodeError:
        return replies.AUTH_FAILED
    mailbox = tenant.mailbox(address)
    if mailbox is None or mailbox.password is None or not hmac.compare_digest(password, mailbox.password.encode()):
        return replies.AUTH_FAILED
    if not tenant.basic_auth_enabled:
        return replies.BASIC_AUTH_DISABLED
    return _smtp_auth_switches(tenant, SignIn(mailbox.address, mailbox.address))


def check_xoauth2(tenant: TenantConfig, tokens: TokenIssuer, sasl: bytes) -> SignIn | str:
    """Check a decoded XOAUTH2 string: an unexpired sandbox token for Exchange that may open the named mailbox.

    App-only tokens need the ``SMTP.SendAsApp`` role and FullAccess on the mailbox; delegated tokens need the
    ``SMTP.Send`` scope and must belong to the named user.
    """
    verified = exchange_token_claims(tokens, sasl)
    if verified is None:
        return replies.AUTH_FAILED
    user, claims = verified
    sign_in = _token_sign_in(tenant, claims, user)
    return replies.AUTH_FAILED if sign_in is None else _smtp_auth_switches(tenant, sign_in)


def exchange_token_claims(tokens: TokenIssuer, sasl: bytes) -> tuple[str, dict[str, Any]] | None:
    """Return (user, claims) of an XOAUTH2 string carrying a valid Exchange token, or None."""
    parsed = parse_xoauth2(sasl)
    if parsed is None:
        return None
    user, token = parsed
    try:
        return user, tokens.verify(token, EXCHANGE_AUDIENCE)
    except InvalidToken:
        return None


def parse_xoauth2(sasl: bytes) -> tuple[str, str] | None:
    """Return (user, bearer token) from ``user=<u>\\x01auth=Bearer <t>\\x01\\x01``, or None if malformed."""
    try:
        text = sasl.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields = dict(part.partition("=")[::2] for part in text.split("\x01") if part)
    user, auth = fields.get("user", ""), fields.get("auth", "")
    scheme, _, token = auth.partition(" ")
    if not user or scheme.lower() != "bearer" or not token.strip():
        return None
    return user, token.strip()


def _token_sign_in(tenant: TenantConfig, claims: dict[str, Any], user: str) -> SignIn | None:
    mailbox = tenant.mailbox(user)
    if mailbox is None:
        return None
    scopes = str(claims.get("scp", "")).split()
    if scopes:
        upn = str(claims.get("upn", ""))
        ok = "SMTP.Send" in scopes and upn.casefold() == mailbox.address.casefold()
        return SignIn(mailbox.address, mailbox.address) if ok else None
    app = tenant.app(str(claims.get("appid", "")))
    if app is None or "SMTP.SendAsApp" not in (claims.get("roles") or []):
        return None
    if app.full_access is not None and mailbox.address.casefold() not in {a.casefold() for a in app.full_access}:
        return None
    return SignIn(mailbox.address, app.client_id)


def _smtp_auth_switches(tenant: TenantConfig, sign_in: SignIn) -> SignIn | str:
    if not tenant.smtp_auth_enabled:
        return replies.SMTP_AUTH_DISABLED_TENANT
    mailbox = tenant.mailbox(sign_in.mailbox)
    if mailbox is not None and not mailbox.smtp_auth_enabled:
        return replies.SMTP_AUTH_DISABLED_MAILBOX
    return sign_in
