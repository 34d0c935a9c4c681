"""The rules of the SMTP endpoints built for volume: High Volume Email (HVE) and Azure Communication Services.

HVE (``smtp.hve.mx.microsoft``) signs in an HVE account by its password, or an app added with
``Add-HVEAppAccess`` by XOAUTH2 with the account as user; it sends only to the tenant's accepted domains and only
while the account is active (a billing policy is assigned). ACS's SMTP endpoint (``smtp.azurecomm.net``) signs in
``<resource>.<app id>.<tenant id>`` with the app's client secret, for an app holding a role on the resource, and
sends from the resource's verified domains to anyone.
"""

from __future__ import annotations

import hmac
from typing import Literal

from . import replies
from .config import TenantConfig
from .smtp_auth import SignIn, exchange_token_claims
from .tokens import TokenIssuer

VolumeListener = Literal["hve", "acs_smtp"]
VOLUME_LISTENERS: frozenset[str] = frozenset({"hve", "acs_smtp"})


def check_volume_basic(listener: VolumeListener, tenant: TenantConfig, login: bytes, password: bytes) -> SignIn | str:
    """Check AUTH PLAIN / LOGIN on the HVE or ACS SMTP listener."""
    try:
        user = login.decode("utf-8")
    except UnicodeDecodeError:
        return replies.AUTH_FAILED
    if listener == "hve":
        account = tenant.hve_account(user)
        if account is None or account.password is None or not hmac.compare_digest(password, account.password.encode()):
            return replies.AUTH_FAILED
        return SignIn(account.address, account.address)
    resource, _, rest = user.partition(".")
    client_id, _, tenant_id = rest.partition(".")
    app = tenant.app(client_id)
    if (
        resource != tenant.acs.name or tenant_id != tenant.tenant_id or app is None or app.client_secret is None
        or client_id not in tenant.acs.role_apps or not hmac.compare_digest(password, app.client_secret.encode())
    ):
        return replies.AUTH_FAILED
    return SignIn(user, client_id)


def check_hve_xoauth2(tenant: TenantConfig, tokens: TokenIssuer, sasl: bytes) -> SignIn | str:
    """Check XOAUTH2 on the HVE listener: an Exchange app-only token of an app added to the named HVE account."""
    verified = exchange_token_claims(tokens, sasl)
    if verified is None:
        return replies.AUTH_FAILED
    user, claims = verified
    account = tenant.hve_account(user)
    client_id = str(claims.get("appid", ""))
    if account is None or claims.get("scp") or client_id not in account.app_access:
        return replies.AUTH_FAILED
    return SignIn(account.address, client_id)


def volume_sender_refusal(listener: VolumeListener, tenant: TenantConfig, account: str, sender: str) -> str | None:
    """Return the reply refusing MAIL FROM on the HVE or ACS SMTP listener, or None."""
    domain = sender.rpartition("@")[2].casefold()
    if listener == "acs_smtp":
        verified = {d.casefold() for d in tenant.acs.sender_domains}
        return None if domain in verified else replies.ACS_SENDER_NOT_VERIFIED
    hve = tenant.hve_account(account)
    if hve is not None and not hve.active:
        return replies.HVE_NOT_ACTIVE
    return None if tenant.is_internal(sender) else replies.SEND_AS_DENIED_ENVELOPE


def volume_recipient_refusal(listener: VolumeListener, tenant: TenantConfig, recipient: str) -> str | None:
    """Return the reply refusing RCPT TO: HVE delivers to the tenant's accepted domains only."""
    if listener == "hve" and not tenant.is_internal(recipient):
        return replies.HVE_EXTERNAL_RECIPIENT
    return None
