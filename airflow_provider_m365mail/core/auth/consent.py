"""Admin consent for an app-only connection: the consent URL, and a check of the roles its tokens really carry.

An app registration's application permissions do nothing until an administrator consents for the tenant. Rather
than trust the portal, the check asks for an app-only token for the connection's resource and reads its ``roles``
claim, then names each role the connection needs and lacks, with the step that adds it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import urlencode

from airflow_provider_m365mail.core.auth.tokens import TokenSource
from airflow_provider_m365mail.core.errors import ConfigurationError
from airflow_provider_m365mail.core.settings import AuthType, MailSettings, TransportKind

_EXCHANGE_API = "Office 365 Exchange Online"


@dataclass(frozen=True)
class NeededRole:
    """An application permission the connection needs, the API that defines it, and what it is needed for."""

    role: str
    api: str
    why: str

    @property
    def fix(self) -> str:
        """Say how an administrator adds it."""
        return (f"Entra admin center > App registrations > your app > API permissions > Add a permission > {self.api} "
                f"> Application permissions > {self.role}, then grant admin consent (`m365mail consent`)")


@dataclass(frozen=True)
class ConsentCheck:
    """The roles the connection's app-only token carries, and the needed ones it lacks."""

    granted: tuple[str, ...]
    missing: tuple[NeededRole, ...]


def needed_roles(settings: MailSettings) -> tuple[NeededRole, ...]:
    """Return the application permissions an app-only connection needs for its transport."""
    _check_app_only(settings)
    if settings.transport is TransportKind.GRAPH:
        return (NeededRole("Mail.Send", "Microsoft Graph", "sendMail as any mailbox in the access policy's scope"),
                NeededRole("Mail.ReadWrite", "Microsoft Graph",
                           "attachments over 3 MB (a draft and an upload session)"))
    if settings.transport is TransportKind.SMTP:
        return (NeededRole("SMTP.SendAsApp", _EXCHANGE_API, "SMTP AUTH with XOAUTH2 as the app"),)
    return ()


def admin_consent_url(settings: MailSettings, redirect_uri: str, state: str) -> str:
    """Return the tenant-wide admin consent URL for the connection's app, in its cloud."""
    _check_app_only(settings)
    query = urlencode({"client_id": settings.client_id, "redirect_uri": redirect_uri, "state": state})
    return f"https://{settings.authority_host}/{settings.tenant_id}/adminconsent?{query}"


async def check_consent(settings: MailSettings) -> ConsentCheck:
    """Get an app-only token for the connection's resource and compare its roles with what the connection needs."""
    scope = settings.graph_scope if settings.transport is TransportKind.GRAPH else settings.exchange_scope
    token = await TokenSource(settings).get_token(scope)
    granted = tuple(sorted(_roles(token.token)))
    return ConsentCheck(granted, tuple(r for r in needed_roles(settings) if r.role not in granted))


def _roles(access_token: str) -> list[str]:
    """Read the ``roles`` claim of a JWT access token (no signature check: the token came straight from Entra)."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return []
    roles = claims.get("roles", []) if isinstance(claims, dict) else []
    return [str(r) for r in roles] if isinstance(roles, list) else []


def _check_app_only(settings: MailSettings) -> None:
    if settings.auth_type is not AuthType.OAUTH2_APP:
        raise ConfigurationError(
            "extra.auth_type", f"admin consent is for app-only connections, not {settings.auth_type.value}",
            hint="delegated connections consent when the mailbox signs in: `m365mail login`",
        )
